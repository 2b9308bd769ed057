"""Every prepared statement (store/prepared.py) in one place, each with the row class its SELECT hands
out: a whole-table row from store/rows.py, or a NamedTuple of exactly the columns it selects. These are the
statements on hot paths — accepting an action, the runner's steps, polling instance states, the checks
before a power-off — so callers share one compiled form per dialect."""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa

from minicvm.domain.states import OperationState
from minicvm.store import rows
from minicvm.store.prepared import Prepared, each
from minicvm.store.tables import (
    disks,
    instances,
    lb_targets,
    load_balancers,
    operations,
    scaling_groups,
    security_groups,
)

_i, _op = instances.c, operations.c


class InstanceStatus(NamedTuple):
    id: str
    state: str


class Count(NamedTuple):
    n: int


class GuestDisk(NamedTuple):
    id: str
    size: int
    usage: str


class GroupIngress(NamedTuple):
    id: str
    ingress: list[dict[str, Any]]


class BalancerTags(NamedTuple):
    id: str
    tags: list[dict[str, str]]


# Operations: written when an action is accepted, read and advanced by the runner.
INSERT_OPERATION: Prepared[Any] = Prepared(lambda: operations.insert().values(
    {name: sa.bindparam(name) for name in ("id", "request_id", "account_id", "resource_id", "action", "steps", "step",
                                           "params", "state", "created_time", "updated_time")}))
OPERATION = Prepared(lambda: sa.select(operations).where(_op.id == sa.bindparam("id")), row=rows.Operation)
OPERATION_PROGRESS: Prepared[Any] = Prepared(lambda: operations.update().where(_op.id == sa.bindparam("id")).values(
    step=sa.bindparam("step"), state=sa.bindparam("state"), updated_time=sa.bindparam("updated_time")))

# Instances.
INSTANCE = Prepared(lambda: sa.select(instances).where(_i.id == sa.bindparam("id")), row=rows.Instance)
OWNED_INSTANCES = Prepared(lambda ids: sa.select(instances).where(
    _i.account_id == sa.bindparam("account_id"), _i.id.in_(each("ids", ids))), lists=("ids",), row=rows.Instance)
# Compare-and-set: the instance is still in the state we checked, and no operation took it meanwhile.
ENTER_OPERATION: Prepared[Any] = Prepared(lambda: instances.update().where(
    _i.id == sa.bindparam("instance_id"),
    _i.state == sa.bindparam("checked_state"),
    sa.or_(_i.latest_operation_state.is_(None), _i.latest_operation_state != OperationState.OPERATING),
).values(state=sa.bindparam("new_state"), latest_operation=sa.bindparam("action"),
         latest_operation_state=OperationState.OPERATING, latest_operation_request_id=sa.bindparam("request_id"),
         latest_operation_error=None))
# The instance's LatestOperation is this operation's only while no later request took it over.
OPERATION_SUCCEEDED: Prepared[Any] = Prepared(lambda: instances.update().where(
    _i.id == sa.bindparam("id"), _i.latest_operation_request_id == sa.bindparam("request_id"),
).values(latest_operation_state=OperationState.SUCCESS))
_SET_INSTANCE: dict[tuple[str, ...], Prepared[Any]] = {}


def set_instance(conn: sa.Connection, instance_id: str, values: dict[str, Any]) -> None:
    """UPDATE one instance's columns; one prepared statement per set of columns."""
    names = tuple(sorted(values))
    prepared = _SET_INSTANCE.get(names)
    if prepared is None:
        prepared = _SET_INSTANCE[names] = Prepared(lambda: instances.update().where(
            _i.id == sa.bindparam("instance_id")).values({n: sa.bindparam(n) for n in names}))
    prepared.run(conn, instance_id=instance_id, **values)


# Automation polls DescribeInstancesStatus while it waits for a state.
def _owned_here() -> list[sa.ColumnElement[bool]]:
    return [_i.account_id == sa.bindparam("account_id"), _i.region == sa.bindparam("region")]


STATUS_OF = Prepared(lambda ids: sa.select(_i.id, _i.state).where(*_owned_here(), _i.id.in_(each("ids", ids)))
                     .order_by(_i.seq), lists=("ids",), row=InstanceStatus)
STATUS_COUNT = Prepared(lambda: sa.select(sa.func.count().label("n")).select_from(instances).where(*_owned_here()),
                        row=Count)
STATUS_PAGE = Prepared(lambda: sa.select(_i.id, _i.state).where(*_owned_here()).order_by(_i.seq)
                       .offset(sa.bindparam("offset")).limit(sa.bindparam("limit")), row=InstanceStatus)

# A guest's disks, read before every boot.
GUEST_DISKS = Prepared(lambda: sa.select(disks.c.id, disks.c.size, disks.c.usage)
                       .where(disks.c.instance_id == sa.bindparam("id"),
                              disks.c.state.in_([sa.literal(s) for s in ("ATTACHED", "EXPANDING", "DETACHING")]))
                       .order_by(disks.c.usage.desc(), disks.c.seq), row=GuestDisk)

# The load balancers an instance is a target of, asked before every planned power-off.
BALANCERS_OF = Prepared(lambda: sa.select(load_balancers.c.id, load_balancers.c.tags).where(load_balancers.c.id.in_(
    sa.select(lb_targets.c.lb_id).where(lb_targets.c.instance_id == sa.bindparam("instance_id")))), row=BalancerTags)

# Every scaling group, read after every instance event.
ALL_GROUPS = Prepared(lambda: sa.select(scaling_groups).order_by(scaling_groups.c.seq), row=rows.ScalingGroup)

# Security groups: every boot compiles the guest's ingress policy from its region's groups.
REGION_GROUP_INGRESS = Prepared(lambda: sa.select(security_groups.c.id, security_groups.c.ingress).where(
    security_groups.c.account_id == sa.bindparam("account_id"), security_groups.c.region == sa.bindparam("region")),
    row=GroupIngress)
