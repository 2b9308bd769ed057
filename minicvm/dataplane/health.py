"""Active health checks: one task per pool member, probing at the configured interval.

Probes open a fresh connection each time (as Tencent's checkers do), never a pooled proxy connection,
so a probe sees exactly what a new client connection would see."""

from __future__ import annotations

import asyncio
import logging
import random

from minicvm.dataplane.balancer import Member, Pool
from minicvm.dataplane.model import HealthCheckConfig, source_address

log = logging.getLogger(__name__)


def status_matches(status: int, mask: int) -> bool:
    """Tencent's HttpCode bitmask: 1=1xx, 2=2xx, 4=3xx, 8=4xx, 16=5xx."""
    klass = status // 100
    return 1 <= klass <= 5 and bool(mask & (1 << (klass - 1)))


async def probe(health: HealthCheckConfig, host: str, port: int, default_domain: str | None,
                source: str = "") -> bool:
    try:
        async with asyncio.timeout(health.timeout):
            reader, writer = await asyncio.open_connection(host, port, local_addr=source_address(source, host))
            try:
                if health.check_type.upper() != "HTTP":
                    return await _stays_open(reader, health.timeout)
                domain = health.http_domain or default_domain or f"{host}:{port}"
                request = (f"{health.http_method} {health.http_path} HTTP/1.1\r\nHost: {domain}\r\n"
                           "User-Agent: minicvm-clb-healthcheck\r\nConnection: close\r\n\r\n")
                writer.write(request.encode("latin-1"))
                line = await reader.readline()
                parts = line.split(None, 2)
                if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
                    return False
                return status_matches(int(parts[1]), health.http_code_mask)
            finally:
                writer.close()
    except (OSError, TimeoutError, ValueError, UnicodeError):
        return False


# A port that accepts and at once resets (a guest whose security groups refuse the checker) is not up: a
# SYN-based check would have seen the reset. This long with neither reset nor close counts as open.
TCP_SETTLE_SECONDS = 0.05


async def _stays_open(reader: asyncio.StreamReader, timeout: float) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(1), min(TCP_SETTLE_SECONDS, timeout / 4))
    except TimeoutError:
        return True
    return bool(data)  # a reset raises (OSError): refused as well


def default_domain(domain: str) -> str | None:
    """An L7 rule's own domain is the natural Host for its checks, unless it is a wildcard."""
    return domain if domain and not domain.startswith(("*", "~")) else None


async def run_checker(pool: Pool, member: Member, domain: str | None) -> None:
    # A small random offset keeps the checks of many members from all firing in the same tick.
    health = pool.health
    if health is None:
        return
    await asyncio.sleep(random.uniform(0, min(health.interval, 0.05)))
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while True:
        health = pool.health
        if health is None or not health.enabled:
            return
        backend = member.backend
        port = health.check_port if health.check_port and health.check_port > 0 else backend.port
        ok = await probe(health, backend.host, port, domain, pool.source)
        try:
            pool.record(member, ok)
        except Exception:  # a failing callback must not stop the checks
            log.exception("health callback failed for %s", backend.key)
        next_at = max(next_at + health.interval, loop.time())
        await asyncio.sleep(next_at - loop.time())


def start_checker(pool: Pool, member: Member, domain: str | None) -> None:
    stop_checker(member)
    if pool.checks_enabled:
        member.checker = asyncio.get_running_loop().create_task(run_checker(pool, member, domain))


def stop_checker(member: Member) -> None:
    if member.checker is not None:
        member.checker.cancel()
        member.checker = None
