"""Accepting instance actions durably: the lifecycle check, the transitional state and the operation
rows are written in one transaction, with compare-and-set on the state so that of two concurrent
callers exactly one wins. The runner (runner.py) carries the operations out afterwards."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from minicvm import ids
from minicvm.domain import lifecycle as lc
from minicvm.domain.steps import Step, encode_steps, transitional_state
from minicvm.errors import ApiError
from minicvm.store.rows import Instance
from minicvm.store.statements import ENTER_OPERATION, INSERT_OPERATION, OWNED_INSTANCES
from minicvm.timefmt import now


@dataclass(frozen=True)
class Accepted:
    request_id: str
    operation_ids: list[str]


def insert_operation(conn: sa.Connection, *, account_id: int, resource_id: str, action: str,
                     steps: list[Step], request_id: str, state: str = lc.OPERATING) -> str:
    """One operation row; its steps are stored in their one tagged JSON form (domain/steps.py)."""
    op_id = "op-" + ids.new_request_id()
    ts = now()
    INSERT_OPERATION.run(conn, id=op_id, request_id=request_id, account_id=account_id, resource_id=resource_id,
                         action=action, steps=encode_steps(steps), step=0, params={}, state=state, created_time=ts,
                         updated_time=ts)
    return op_id


def load_owned(conn: sa.Connection, account_id: int, instance_ids: Sequence[str]) -> dict[str, Instance]:
    rows = OWNED_INSTANCES.all(conn, account_id=account_id, ids=list(dict.fromkeys(instance_ids)))
    found = {r.id: r for r in rows}
    missing = [i for i in instance_ids if i not in found]
    if missing:
        raise ApiError("InvalidInstanceId.NotFound", f"The instance ids {missing} do not exist.")
    return found


Check = Callable[[Instance], "lc.Refusal | None"]


def check_batch(conn: sa.Connection, *, account_id: int, region: str, action: str,
                instance_ids: Sequence[str], forced: bool = False, extra: Check | None = None) -> dict[str, Instance]:
    """The instances, if every one of them may take `action` now; otherwise an error that names each
    refused instance with its reason (the first refusal's code is the error code)."""
    found = load_owned(conn, account_id, instance_ids)
    foreign = [i for i, r in found.items() if r.region != region]
    if foreign:
        raise ApiError("InvalidInstanceId.NotFound", f"The instance ids {foreign} do not exist.")
    refusals = []
    for instance_id in instance_ids:
        row = found[instance_id]
        refused = lc.refusal(action, instance_id, row.state, row.latest_operation_state, forced)
        if refused is None and extra is not None:
            refused = extra(row)
        if refused is not None:
            refusals.append(refused)
    if refusals:
        raise ApiError(refusals[0].code, lc.batch_error_message(action, refusals))
    return found


def accept(
    conn: sa.Connection,
    *,
    account_id: int,
    region: str,
    action: str,
    instance_ids: Sequence[str],
    request_id: str,
    params: lc.Params = None,
    forced: bool = False,
    extra: Check | None = None,
) -> Accepted:
    """All-or-nothing: every instance can take the action, or nothing changes and the error names
    each refused instance with its reason. Call inside Store.write()."""
    found = check_batch(conn, account_id=account_id, region=region, action=action, instance_ids=instance_ids,
                        forced=forced, extra=extra)
    op_ids = []
    for instance_id in instance_ids:
        row = found[instance_id]
        steps = lc.plan(action, row, params)
        if not steps:
            continue  # nothing to carry out on this instance (ModifyInstancesAttribute on a stopped one)
        entered = ENTER_OPERATION.run(conn, instance_id=instance_id, checked_state=row.state,
                                      new_state=transitional_state(steps, row.state), action=action,
                                      request_id=request_id)
        if entered != 1:
            # Another caller changed the instance between our read and this write.
            raise ApiError(
                "OperationDenied.InstanceOperationInProgress",
                f"{action} was not carried out: {instance_id} is being changed by another request.",
            )
        op_ids.append(
            insert_operation(conn, account_id=account_id, resource_id=instance_id, action=action, steps=steps,
                             request_id=request_id)
        )
    return Accepted(request_id, op_ids)
