"""Auto Scaling rules that do not touch the store: health words, size bounds, who goes first on scale-in.

How minicvm reads Tencent's docs where they are silent or disagree:
- An instance shut down from the CVM side (StopInstances, any StopType) is unhealthy at once — it
  answers neither ping nor the CLB — and is moved out of the group and replaced,
  whatever ReplaceMonitorUnhealthy says. Group-created instances are then terminated; hand-attached
  ones are detached and left stopped.
- A RUNNING instance that fails checks is replaced only if ServiceSettings asks: guest unreachable →
  UNHEALTHY (ReplaceMonitorUnhealthy), CLB health Dead after the grace period → CLB_UNHEALTHY
  (ReplaceLoadBalancerUnhealthy); both default to false, as documented.
- StopAutoScalingInstances is not unhealthy: desired capacity drops by the number stopped and the
  instance stays in the group STOPPED; StartAutoScalingInstances brings it back and raises desired.
- Protected instances (SetInstancesProtection) are never replaced or scaled in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from minicvm.domain.states import InstanceState

HEALTHY = "HEALTHY"
UNHEALTHY = "UNHEALTHY"
CLB_UNHEALTHY = "CLB_UNHEALTHY"
BOTH = "UNHEALTHY|CLB_UNHEALTHY"

# LifeCycleState values.
CREATING = "CREATING"
ATTACHING = "ATTACHING"
IN_SERVICE = "IN_SERVICE"
STOPPING = "STOPPING"
STOPPED = "STOPPED"
STARTING = "STARTING"
TERMINATING = "TERMINATING"
DETACHING = "DETACHING"
CREATION_FAILED = "CREATION_FAILED"

# Members that count toward the group's capacity (AS-stopped and leaving ones do not).
COUNTED = frozenset({CREATING, ATTACHING, IN_SERVICE, STARTING})
LEAVING = frozenset({TERMINATING, DETACHING})

# The instance states a member reaches when shut down from the CVM side, whether it was in service or
# still joining (a joining member in one of them can never reach service on its own: it is replaced).
SHUT_DOWN = frozenset({InstanceState.STOPPING, InstanceState.STOPPED, InstanceState.SHUTDOWN})

MAX_GROUP_SIZE = 2000
UNREACHABLE_THRESHOLD = 2  # consecutive failed probes before a running guest is UNHEALTHY


def health_word(unreachable: bool, clb_unhealthy: bool) -> str:
    if unreachable and clb_unhealthy:
        return BOTH
    return UNHEALTHY if unreachable else CLB_UNHEALTHY if clb_unhealthy else HEALTHY


def size_problem(min_size: int, max_size: int, desired: int) -> str | None:
    for name, value in (("MinSize", min_size), ("MaxSize", max_size), ("DesiredCapacity", desired)):
        if not 0 <= value <= MAX_GROUP_SIZE:
            return f"`{name}` must be 0-{MAX_GROUP_SIZE}; got {value}"
    if not min_size <= desired <= max_size:
        return f"MaxSize ({max_size}) >= DesiredCapacity ({desired}) >= MinSize ({min_size}) must hold"
    return None


@dataclass(frozen=True)
class Candidate:
    instance_id: str
    added: datetime
    healthy: bool
    protected: bool


def scale_in_victims(members: Sequence[Candidate], count: int, policy: str, unhealthy_first: bool) -> list[str]:
    """Who leaves on scale-in: never protected ones; OLDEST_INSTANCE (default) or NEWEST_INSTANCE;
    unhealthy ones first if PriorityScaleInUnhealthy."""
    eligible = [m for m in members if not m.protected]
    newest_first = policy == "NEWEST_INSTANCE"
    eligible.sort(key=lambda m: (m.added.timestamp() * (-1 if newest_first else 1)))
    if unhealthy_first:
        eligible.sort(key=lambda m: m.healthy)
    return [m.instance_id for m in eligible[:count]]
