"""What can carry tags, and where each keeps them. Every taggable resource keeps its tags in its own row, so
the Tag service and the product's own Describe*/filters read and write one place, and a resource's tags go
when the resource does. Rows store them in their product's own shape ({Key, Value} for CVM, CBS, VPC and AS,
{TagKey, TagValue} for CLB); here they are plain {key: value} in binding order."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from minicvm.errors import ApiError
from minicvm.services.clb.loadbalancers import check_drain_tag
from minicvm.store.tables import addresses, disks, instances, load_balancers, scaling_groups

TagSet = dict[str, str]
AS_GROUP = "auto-scaling-group"


def _from_key_value(items: Iterable[dict[str, str]]) -> TagSet:
    return {t["Key"]: t["Value"] for t in items}


def _to_key_value(tags: TagSet) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _read_column(row: Any) -> TagSet:
    return _from_key_value(row.tags)


def _write_column(row: Any, tags: TagSet) -> dict[str, Any]:
    return {"tags": _to_key_value(tags)}


def _read_lb(row: Any) -> TagSet:
    return {t["TagKey"]: t["TagValue"] for t in row.tags}


def _write_lb(row: Any, tags: TagSet) -> dict[str, Any]:
    check_drain_tag(tags)  # the drain tag's rule lives with the CLB
    return {"tags": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]}


def _read_group(row: Any) -> TagSet:
    return _from_key_value(row.settings.get("Tags", []))


def _write_group(row: Any, tags: TagSet) -> dict[str, Any]:
    tagged = [{"Key": k, "Value": v, "ResourceType": AS_GROUP} for k, v in tags.items()]
    return {"settings": {**row.settings, "Tags": tagged}}


@dataclass(frozen=True)
class Taggable:
    """One kind of resource in six-segment names: `qcs::<service>:<region>:uin/<uin>:<prefix>/<id>`."""

    service_types: tuple[str, ...]  # accepted in names; the first is the one reported
    prefix: str
    id_prefix: str
    table: sa.Table
    tag_column: str
    read: Callable[[Any], TagSet]
    write: Callable[[Any, TagSet], dict[str, Any]]
    where: tuple[Any, ...] = field(default=())

    @property
    def service_type(self) -> str:
        return self.service_types[0]


TAGGABLES: tuple[Taggable, ...] = (
    Taggable(("cvm",), "instance", "ins", instances, "tags", _read_column, _write_column),
    Taggable(("cvm",), "volume", "disk", disks, "tags", _read_column, _write_column),
    # The Tag service names EIPs under `vpc`, CAM under `cvm`: both are accepted.
    Taggable(("vpc", "cvm"), "eip", "eip", addresses, "tags", _read_column, _write_column,
             (addresses.c.address_type == "EIP",)),
    Taggable(("clb",), "clb", "lb", load_balancers, "tags", _read_lb, _write_lb),
    Taggable(("as",), AS_GROUP, "asg", scaling_groups, "settings", _read_group, _write_group),
)
SERVICE_TYPES = frozenset(s for t in TAGGABLES for s in t.service_types)


def find(service_type: str, prefix: str) -> Taggable | None:
    return next((t for t in TAGGABLES if service_type in t.service_types and t.prefix == prefix), None)


@dataclass(frozen=True)
class Tagged:
    taggable: Taggable
    region: str
    resource_id: str
    tags: TagSet


def _select(taggable: Taggable, account_id: int) -> sa.Select[Any]:
    t = taggable.table
    return (sa.select(t.c.id, t.c.region, t.c[taggable.tag_column].label(taggable.tag_column))
            .where(t.c.account_id == account_id, *taggable.where))


def load(conn: sa.Connection, account_id: int, taggable: Taggable, ids: list[str] | None = None,
         region: str | None = None, *, for_update: bool = False) -> dict[str, Tagged]:
    """The account's resources of one kind (those named, or all), with their tags."""
    query = _select(taggable, account_id)
    if ids is not None:
        query = query.where(taggable.table.c.id.in_(ids))
    if region is not None:
        query = query.where(taggable.table.c.region == region)
    if for_update:
        query = query.with_for_update()
    query = query.order_by(taggable.table.c.seq)
    return {r.id: Tagged(taggable, r.region, r.id, taggable.read(r)) for r in conn.execute(query)}


def load_all(conn: sa.Connection, account_id: int) -> list[Tagged]:
    """Every resource of the account that carries at least one tag, kind by kind in creation order."""
    return [tagged for taggable in TAGGABLES for tagged in load(conn, account_id, taggable).values() if tagged.tags]


def save(conn: sa.Connection, account_id: int, tagged: Tagged, tags: TagSet) -> None:
    taggable = tagged.taggable
    t = taggable.table
    row = conn.execute(sa.select(t).where(t.c.id == tagged.resource_id, t.c.account_id == account_id)).first()
    if row is None:  # gone since it was read: the caller's transaction will be answered as not found
        raise ApiError("InvalidParameterValue.ResourceIdInvalid", f"The resource {tagged.resource_id} does not exist.")
    conn.execute(t.update().where(t.c.id == tagged.resource_id).values(**taggable.write(row, tags)))
