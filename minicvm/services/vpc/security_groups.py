"""Security group state for one caller in one region: groups, their ordered rules and which instances are
bound to them. Handlers (sg_handlers.py) give it checked rules; after every change that can alter what
a guest admits, the engine's firewall recompiles the account's policies before the answer goes out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain.firewall import Direction
from minicvm.engine.firewall import ensure_default_group
from minicvm.errors import ApiError
from minicvm.services import common, listing
from minicvm.services.context import Context
from minicvm.services.owned import Owned, Scope
from minicvm.store.rows import SecurityGroup
from minicvm.store.tables import instances, security_groups
from minicvm.timefmt import beijing, now

GROUP_QUOTA = 50  # per account and region
RULE_QUOTA = 100  # per group, both directions together
GROUPS_PER_INSTANCE = 5

GROUPS = Owned(security_groups, SecurityGroup, "ResourceNotFound", "security group", "security groups")
_g = security_groups.c
GROUP_FILTERS = {"security-group-id": _g.id, "security-group-name": _g.name}
GROUP_SPECIAL = {"project-id": lambda values: _g.project_id.in_([int(v) for v in values
                                                                  if re.fullmatch(r"[0-9]{1,9}", v)])}
# What makes two rules the same rule (for duplicates and for deleting by content).
RULE_IDENTITY = ("Protocol", "Port", "CidrBlock", "Ipv6CidrBlock", "SecurityGroupId", "Action")


class UpdateType(StrEnum):
    POLICY = "Policy"
    PRIORITY = "Priority"
    BOTH = "Both"


def column_of(direction: Direction) -> str:
    return "ingress" if direction is Direction.INGRESS else "egress"


def identity(rule: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(rule.get(k) or "").upper() for k in RULE_IDENTITY)


@dataclass(frozen=True)
class Association:
    group_id: str
    instances: int
    referencing_groups: int


class SecurityGroupBackend:
    def __init__(self, ctx: Context) -> None:
        self.cloud = ctx.cloud
        self.scope = Scope(ctx.account.id, ctx.region)

    # ---- groups -------------------------------------------------------------------------------

    def create(self, name: str, description: str, project_id: int, tags: list[dict[str, str]],
               ingress: list[dict[str, Any]], egress: list[dict[str, Any]]) -> SecurityGroup:
        with self.cloud.store.write() as conn:
            ensure_default_group(conn, self.scope.account_id, self.scope.region)
            if GROUPS.count(conn, self.scope) >= GROUP_QUOTA:
                raise ApiError("LimitExceeded", f"At most {GROUP_QUOTA} security groups per region.")
            group_id = idmod.new_id("sg")
            ts = now()
            stamp = beijing(ts)
            ingress = [{**r, "ModifyTime": stamp} for r in ingress]
            egress = [{**r, "ModifyTime": stamp} for r in egress]
            self._check_rules(conn, group_id, ingress, egress)
            conn.execute(security_groups.insert().values(
                id=group_id, account_id=self.scope.account_id, region=self.scope.region, project_id=project_id,
                name=name, description=description, is_default=False, version=1 if ingress or egress else 0,
                ingress=ingress, egress=egress, tags=tags, created_time=ts, updated_time=ts))
            return GROUPS.one(conn, self.scope, group_id)

    def describe(self, ids: list[str], filters: dict[str, list[str]], offset: int, limit: int,
                 order_field: str | None, descending: bool) -> tuple[int, list[SecurityGroup]]:
        where: list[listing.Clause] = [_g.account_id == self.scope.account_id, _g.region == self.scope.region]
        if ids:
            where.append(_g.id.in_(ids))
        tagged, filters = common.tag_filters(filters)
        where += listing.filter_clauses(filters, GROUP_FILTERS, GROUP_SPECIAL)
        column = {"CreatedTime": _g.created_time, "UpdateTime": _g.updated_time}.get(order_field or "", _g.seq)
        order = [column.desc() if descending else column.asc(), _g.seq]
        with self.cloud.store.write() as conn:
            ensure_default_group(conn, self.scope.account_id, self.scope.region)
            if ids:
                GROUPS.many(conn, self.scope, ids)
            if tagged:
                where.append(common.tag_filtered_ids(conn, security_groups, where, tagged))
            return listing.page(conn, security_groups, SecurityGroup, where, order, offset, limit)

    def one(self, group_id: str) -> SecurityGroup:
        with self.cloud.store.write() as conn:
            ensure_default_group(conn, self.scope.account_id, self.scope.region)
            return GROUPS.one(conn, self.scope, group_id)

    def modify_attribute(self, group_id: str, name: str | None, description: str | None) -> None:
        values: dict[str, Any] = {"updated_time": now()}
        if name is not None:
            values["name"] = name
        if description is not None:
            values["description"] = description
        with self.cloud.store.write() as conn:
            GROUPS.one(conn, self.scope, group_id)
            conn.execute(security_groups.update().where(_g.id == group_id).values(**values))

    def delete(self, group_id: str) -> None:
        with self.cloud.store.write() as conn:
            group = GROUPS.one(conn, self.scope, group_id)
            if group.is_default:
                raise ApiError("UnsupportedOperation", f"{group_id} is the default security group; it cannot be deleted.")
            users = [i for i, bound in self._bindings(conn) if group_id in bound]
            if users:
                raise ApiError("ResourceInUse", f"The security group {group_id} is bound to instances {users[:10]}; "
                                                "unbind it first.")
            referrers = self._referrers(conn, [group_id]).get(group_id, [])
            if referrers:
                raise ApiError("ResourceInUse", f"The rules of {referrers} name {group_id}; change those rules first.")
            conn.execute(security_groups.delete().where(_g.id == group_id))

    def statistics(self, group_ids: list[str]) -> list[Association]:
        with self.cloud.store.write() as conn:
            ensure_default_group(conn, self.scope.account_id, self.scope.region)
            GROUPS.many(conn, self.scope, group_ids)
            bindings = self._bindings(conn)
            referrers = self._referrers(conn, group_ids)
        return [Association(g, sum(1 for _, bound in bindings if g in bound), len(referrers.get(g, [])))
                for g in group_ids]

    def _bindings(self, conn: sa.Connection) -> list[tuple[str, list[str]]]:
        i = instances.c
        return [(r.id, list(r.security_group_ids or ())) for r in conn.execute(sa.select(i.id, i.security_group_ids).where(
            i.account_id == self.scope.account_id, i.region == self.scope.region))]

    def _referrers(self, conn: sa.Connection, group_ids: Sequence[str]) -> dict[str, list[str]]:
        """For each group, the other groups whose rules name it."""
        found: dict[str, list[str]] = {}
        rows = conn.execute(sa.select(_g.id, _g.ingress, _g.egress).where(
            _g.account_id == self.scope.account_id, _g.region == self.scope.region))
        for row in rows:
            named = {r.get("SecurityGroupId") for r in [*row.ingress, *row.egress]}
            for g in group_ids:
                if g in named and row.id != g:
                    found.setdefault(g, []).append(row.id)
        return found

    # ---- rules --------------------------------------------------------------------------------

    def _check_rules(self, conn: sa.Connection, group_id: str, ingress: list[dict[str, Any]],
                     egress: list[dict[str, Any]]) -> None:
        if len(ingress) + len(egress) > RULE_QUOTA:
            raise ApiError("LimitExceeded.SecurityGroupPolicySet",
                           f"A security group holds at most {RULE_QUOTA} rules; this would make {len(ingress) + len(egress)}.")
        for rules in (ingress, egress):
            seen = set()
            for rule in rules:
                key = identity(rule)
                if key in seen:
                    raise ApiError("UnsupportedOperation.DuplicatePolicy",
                                   f"The rule {rule['Protocol']} {rule['Port']} {rule['Action']} appears twice.")
                seen.add(key)
        named = {r["SecurityGroupId"] for r in [*ingress, *egress] if r.get("SecurityGroupId")} - {group_id}
        if named:
            GROUPS.many(conn, self.scope, sorted(named))

    def _change_rules(self, group_id: str, version: str | None, change: Any) -> None:
        """Apply `change(ingress, egress) -> (ingress, egress)` to the group's rules, checking the version
        the caller saw; the version goes up by one and the guests get the new rules."""
        with self.cloud.store.write() as conn:
            group = GROUPS.one(conn, self.scope, group_id)
            if version is not None and version != str(group.version):
                raise ApiError("UnsupportedOperation.VersionMismatch",
                               f"The rules of {group_id} are at version {group.version}, not {version}.")
            ingress, egress = change(list(group.ingress), list(group.egress))
            self._check_rules(conn, group_id, ingress, egress)
            conn.execute(security_groups.update().where(_g.id == group_id).values(
                ingress=ingress, egress=egress, version=group.version + 1, updated_time=now()))
        self.cloud.firewall.push(self.scope.account_id)

    def add_rules(self, group_id: str, direction: Direction, rules: list[dict[str, Any]], index: int | None,
                  version: str | None) -> None:
        stamped = [{**r, "ModifyTime": beijing(now())} for r in rules]

        def change(ingress: list[dict[str, Any]], egress: list[dict[str, Any]]) -> tuple[list, list]:
            current = ingress if direction is Direction.INGRESS else egress
            at = len(current) if index is None else index
            if not 0 <= at <= len(current):
                raise ApiError("InvalidParameterValue.Range",
                               f"`PolicyIndex` {index} is past the end of the {direction.value} rules ({len(current)}).")
            current[at:at] = stamped
            return ingress, egress

        self._change_rules(group_id, version, change)

    def delete_rules(self, group_id: str, direction: Direction, indexes: list[int] | None,
                     contents: list[dict[str, Any]] | None, version: str | None) -> None:
        def change(ingress: list[dict[str, Any]], egress: list[dict[str, Any]]) -> tuple[list, list]:
            current = ingress if direction is Direction.INGRESS else egress
            if indexes is not None:
                bad = [i for i in indexes if not 0 <= i < len(current)]
                if bad:
                    raise ApiError("InvalidParameterValue.Range",
                                   f"No {direction.value} rules at `PolicyIndex` {bad}; there are {len(current)}.")
                drop = set(indexes)
            else:
                keys = [identity(r) for r in current]
                drop = set()
                for wanted in contents or []:
                    if identity(wanted) not in keys:
                        raise ApiError("ResourceNotFound", f"No {direction.value} rule matches {wanted}.")
                    drop.add(keys.index(identity(wanted)))
            kept = [r for i, r in enumerate(current) if i not in drop]
            return (kept, egress) if direction is Direction.INGRESS else (ingress, kept)

        self._change_rules(group_id, version, change)

    def replace_rules(self, group_id: str, direction: Direction, rules: list[tuple[int, dict[str, Any]]],
                      version: str | None) -> None:
        stamp = beijing(now())

        def change(ingress: list[dict[str, Any]], egress: list[dict[str, Any]]) -> tuple[list, list]:
            current = ingress if direction is Direction.INGRESS else egress
            for index, rule in rules:
                if not 0 <= index < len(current):
                    raise ApiError("InvalidParameterValue.Range",
                                   f"No {direction.value} rule at `PolicyIndex` {index}; there are {len(current)}.")
                current[index] = {**rule, "ModifyTime": stamp}
            return ingress, egress

        self._change_rules(group_id, version, change)

    def reset_rules(self, group_id: str, ingress: list[dict[str, Any]], egress: list[dict[str, Any]]) -> None:
        stamp = beijing(now())
        self._change_rules(group_id, None, lambda _i, _e: ([{**r, "ModifyTime": stamp} for r in ingress],
                                                           [{**r, "ModifyTime": stamp} for r in egress]))


def check_groups_exist(conn: sa.Connection, scope: Scope, group_ids: list[str]) -> None:
    """For the CVM side, with CVM's spelling of the error."""
    found = GROUPS.find(conn, scope, group_ids)
    missing = [g for g in group_ids if g not in found]
    if missing:
        raise ApiError("InvalidSecurityGroupId.NotFound", f"The security groups {missing} do not exist.")
