"""Security group rules as values: what one rule says (protocol, ports, source, verdict) and an
instance's compiled ingress policy, which decides a new connection. No I/O: the VPC service checks
rules with it, the engine compiles policies with it and the drivers' guests evaluate them.

Rules are evaluated in order and the first one matching decides; a connection no rule matches is
dropped (a new group therefore refuses everything until rules are added)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum

ANY_IPV4 = ipaddress.IPv4Network("0.0.0.0/0")
PORT_MIN, PORT_MAX = 1, 65535
_PORT = re.compile(r"[0-9]{1,5}")


class Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    ICMP = "ICMP"
    ICMPV6 = "ICMPV6"
    GRE = "GRE"
    ALL = "ALL"

    @property
    def has_ports(self) -> bool:
        return self in (Protocol.TCP, Protocol.UDP)


class Verdict(StrEnum):
    ACCEPT = "ACCEPT"
    DROP = "DROP"


class Direction(StrEnum):
    INGRESS = "Ingress"
    EGRESS = "Egress"


class RuleError(ValueError):
    """A rule field that Tencent would refuse; `field` names it for the error message."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


@dataclass(frozen=True)
class PortRange:
    low: int
    high: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.low <= port <= self.high


def parse_protocol(value: str) -> Protocol:
    try:
        return Protocol(value.upper())
    except ValueError:
        raise RuleError("Protocol", f"`Protocol` {value!r} is not one of {[p.value for p in Protocol]}.") from None


def parse_ports(protocol: Protocol, value: str | None) -> tuple[PortRange, ...] | None:
    """None means every port. TCP and UDP take `80`, `8000-8010`, `80,443` or `ALL`; other protocols
    take no port (or `ALL`)."""
    if value is None or value.upper() == "ALL":
        return None
    if not protocol.has_ports:
        raise RuleError("Port", f"`Port` applies to TCP and UDP only; {protocol.value} takes none (or ALL).")
    ranges = []
    for part in value.split(","):
        low, sep, high = part.strip().partition("-")
        if not _PORT.fullmatch(low) or (sep and not _PORT.fullmatch(high)):
            raise RuleError("Port", f"`Port` {value!r} is not a port, a range like 8000-8010, a list or ALL.")
        lo, hi = int(low), int(high) if sep else int(low)
        if not PORT_MIN <= lo <= hi <= PORT_MAX:
            raise RuleError("Port", f"`Port` {value!r} must lie within {PORT_MIN}-{PORT_MAX}, low end first.")
        ranges.append(PortRange(lo, hi))
    return tuple(ranges)


def parse_cidr(value: str) -> str:
    """The CIDR as stored: any `0.0.0.0/n` means everything and is kept as `0.0.0.0/0`."""
    try:
        net = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise RuleError("CidrBlock", f"`CidrBlock` {value!r} is not an IPv4 address or CIDR block.") from None
    if net.network_address == ANY_IPV4.network_address:
        return str(ANY_IPV4)
    return value


def parse_ipv6_cidr(value: str) -> str:
    try:
        ipaddress.IPv6Network(value, strict=False)
    except ValueError:
        raise RuleError("Ipv6CidrBlock", f"`Ipv6CidrBlock` {value!r} is not an IPv6 CIDR block.") from None
    return value


def parse_verdict(value: str) -> Verdict:
    try:
        return Verdict(value.upper())
    except ValueError:
        raise RuleError("Action", f"`Action` {value!r} must be ACCEPT or DROP.") from None


@dataclass(frozen=True)
class Sources:
    """Whom a compiled rule speaks of, as the host sees connections: every source, or these peer addresses."""

    everyone: bool = False
    peers: frozenset[str] = frozenset()

    def __contains__(self, peer: object) -> bool:
        return self.everyone or peer in self.peers


@dataclass(frozen=True)
class CompiledRule:
    verdict: Verdict
    protocol: Protocol
    ports: tuple[PortRange, ...] | None
    sources: Sources

    def matches(self, peer: str, protocol: Protocol, port: int) -> bool:
        if self.protocol is not Protocol.ALL and self.protocol is not protocol:
            return False
        if self.ports is not None and not any(port in r for r in self.ports):
            return False
        return peer in self.sources


@dataclass(frozen=True)
class IngressPolicy:
    """An instance's inbound rules: its groups' Ingress rules in binding order, then rule order.
    `open` is for an instance bound to no group at all (made before groups existed): nothing is filtered."""

    rules: tuple[CompiledRule, ...] = ()
    open: bool = False

    def admits(self, peer: str, protocol: Protocol, port: int) -> bool:
        if self.open:
            return True
        for rule in self.rules:
            if rule.matches(peer, protocol, port):
                return rule.verdict is Verdict.ACCEPT
        return False


OPEN_POLICY = IngressPolicy(open=True)
