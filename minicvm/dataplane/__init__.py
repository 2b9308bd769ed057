"""The CLB data plane: real listeners on loopback VIPs, an HTTP/1.1 reverse proxy and a TCP splicer,
active health checks and draining. Driven by the CLB control plane through `DataPlane.apply`."""

from minicvm.dataplane.model import (
    FAIL_CLOSED,
    FAIL_OPEN,
    ApplyError,
    Backend,
    Health,
    HealthCheckConfig,
    ListenerConfig,
    MetricsSample,
    Route,
)
from minicvm.dataplane.plane import DataPlane

__all__ = ["FAIL_CLOSED", "FAIL_OPEN", "ApplyError", "Backend", "DataPlane", "Health", "HealthCheckConfig",
           "ListenerConfig", "MetricsSample", "Route"]
