"""What the control plane tells the data plane, and what the data plane reports back.

Plain frozen dataclasses without I/O, so the CLB service can build them from the store and compare
two generations with `==` (an unchanged listener is left alone by `DataPlane.apply`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from minicvm.domain import health_check


class Health(StrEnum):
    """A backend's health as Tencent reports it (DescribeTargetHealth): CLOSE when checks are off."""

    ALIVE = "Alive"
    DEAD = "Dead"
    UNKNOWN = "Unknown"
    CLOSE = "Close"

    @property
    def serving(self) -> bool:
        """Takes traffic: checked and alive, or not checked at all."""
        return self in SERVING


# A tuple, not a set: `in` matches members by identity first, while hashing an enum member runs Python
# code, and reading Health.X off the class is slow too; the balancer asks this for every member often.
SERVING = (Health.ALIVE, Health.CLOSE)


FAIL_OPEN = "fail_open"
FAIL_CLOSED = "fail_closed"


def backend_key(instance_id: str, port: int) -> str:
    """A target's stable name in the data plane: its health history follows this key."""
    return f"{instance_id}:{port}"


def instance_of(key: str) -> str:
    return key.split(":", 1)[0]


# A target of an L4 listener belongs to no rule. The store keeps that as location_id "" (so that it can
# be part of a unique key); the data plane and the wire say None. These two convert, in one place.
def pool_location(stored: str | None) -> str | None:
    return stored or None


def stored_location(location_id: str | None) -> str:
    return location_id or ""


@dataclass(frozen=True)
class HealthCheckConfig:
    """Tencent's HealthCheck structure, reduced to what a probe needs (seconds, not integers, so tests
    can run fast; the CLB service enforces Tencent's integer ranges)."""

    enabled: bool
    check_type: str  # "TCP" | "HTTP"
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    http_path: str = health_check.HTTP_CHECK_PATH
    http_code_mask: int = health_check.HTTP_CODE  # 1=1xx 2=2xx 4=3xx 8=4xx 16=5xx
    http_domain: str | None = None
    http_method: str = health_check.HTTP_CHECK_METHOD
    check_port: int | None = None


@dataclass(frozen=True)
class Backend:
    key: str  # stable id, e.g. "ins-abcd1234:80"; health history follows the key
    instance_id: str
    host: str
    port: int
    weight: int  # 0..100; 0 = no new requests


@dataclass(frozen=True)
class Route:
    """An L7 rule: requests whose Host matches `domain` ("" = any) and whose path starts with `url`."""

    location_id: str
    domain: str
    url: str
    scheduler: str
    health: HealthCheckConfig | None  # None: no check configured (as on L4 listeners)
    backends: tuple[Backend, ...]


@dataclass(frozen=True)
class ListenerConfig:
    listener_id: str
    lb_id: str
    protocol: str  # "HTTP" | "TCP"
    vip: str
    port: int
    scheduler: str  # L4 listeners; L7 routes carry their own
    health: HealthCheckConfig | None  # L4 listeners
    backends: tuple[Backend, ...]  # L4 listeners
    routes: tuple[Route, ...]  # L7 listeners
    all_dead_policy: str = FAIL_OPEN


@dataclass(frozen=True)
class MetricsSample:
    """One row of `DataPlane.metrics()`: a listener (backend_key None) or one backend of one pool
    (L4 listener: location_id None; L7: the rule's location_id).

    requests: HTTP requests received (listener) / forwarded (backend); TCP: connections.
    responses_5xx: 5xx responses sent to clients, the proxy's own 502/503/504 included.
    backend_errors: refused, timed-out or broken backend connections.
    active_connections: open client connections (listener) / requests or TCP connections in flight."""

    listener_id: str
    location_id: str | None
    backend_key: str | None
    instance_id: str | None
    requests: int
    responses_5xx: int
    backend_errors: int
    active_connections: int
    health_transitions: int
    health: Health | None


class ApplyError(Exception):
    """Some listeners could not be bound (address in use, permission denied, bad address).

    Everything else in the desired state was applied; the failed listeners are simply not running
    and the next `apply` tries to bind them again."""

    def __init__(self, failures: dict[str, OSError]) -> None:
        self.failures = failures
        detail = "; ".join(f"{lid}: {exc}" for lid, exc in failures.items())
        super().__init__(f"could not bind {len(failures)} listener(s): {detail}")


def source_address(vip: str, host: str) -> tuple[str, int] | None:
    """Where the data plane's connections to a backend come from: the load balancer's VIP (so the guest
    sees the load balancer, as its security groups expect), when the two are of one address family."""
    if not vip or (":" in vip) != (":" in host):
        return None
    return (vip, 0)

