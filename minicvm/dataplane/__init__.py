"""The CLB data plane: real listeners on loopback VIPs, an HTTP/1.1 reverse proxy and a TCP splicer,
active health checks and draining. Driven by the CLB control plane through `DataPlane.apply`."""

from minicvm.dataplane.model import (
    ALIVE,
    CLOSE,
    DEAD,
    FAIL_CLOSED,
    FAIL_OPEN,
    UNKNOWN,
    ApplyError,
    Backend,
    HealthCheckConfig,
    ListenerConfig,
    MetricsSample,
    Route,
)
from minicvm.dataplane.plane import DataPlane

__all__ = ["ALIVE", "CLOSE", "DEAD", "FAIL_CLOSED", "FAIL_OPEN", "UNKNOWN", "ApplyError", "Backend", "DataPlane",
           "HealthCheckConfig", "ListenerConfig", "MetricsSample", "Route"]
