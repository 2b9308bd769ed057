"""Finding the caller's own resources by id. Every service asks the same question — these ids, in this
account and region, as typed rows, or the service's NotFound error naming the missing ones — so it is
answered here once; a service only declares its table, row class, code and wording. Another account's
id is simply not found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic

import sqlalchemy as sa

from minicvm.errors import ApiError
from minicvm.store.rows import R, fetch


@dataclass(frozen=True)
class Scope:
    """Whose resources, where: the caller's account and the request's region."""

    account_id: int
    region: str


@dataclass(frozen=True)
class Owned(Generic[R]):
    table: sa.Table
    row: type[R]
    not_found: str  # the service's NotFound code
    singular: str  # "VPC", as in "The VPC vpc-xxxxxxxx does not exist."
    plural: str  # "disks", as in "The disks ['disk-xxxxxxxx'] do not exist."
    # Rows of the table that are not this kind of resource (the plain public IPs among the addresses).
    only: tuple[sa.ColumnElement[bool], ...] = ()

    def _where(self, scope: Scope) -> list[sa.ColumnElement[bool]]:
        c = self.table.c
        where = [c.account_id == scope.account_id, *self.only]
        if "region" in c:
            where.append(c.region == scope.region)
        return where

    def find(self, conn: sa.Connection, scope: Scope, ids: Sequence[str]) -> dict[str, R]:
        """The rows that exist, by id; the absent ones are simply left out."""
        stmt = sa.select(self.table).where(*self._where(scope), self.table.c.id.in_(list(ids)))
        return {r.id: r for r in fetch(conn, self.row, stmt)}  # type: ignore[attr-defined]

    def many(self, conn: sa.Connection, scope: Scope, ids: Sequence[str]) -> dict[str, R]:
        """Every one of `ids`, or the NotFound error naming each missing one."""
        found = self.find(conn, scope, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise ApiError(self.not_found, f"The {self.plural} {missing} do not exist.")
        return found

    def one(self, conn: sa.Connection, scope: Scope, id_: str) -> R:
        found = self.find(conn, scope, [id_]).get(id_)
        if found is None:
            raise ApiError(self.not_found, f"The {self.singular} {id_} does not exist.")
        return found

    def count(self, conn: sa.Connection, scope: Scope, *where: sa.ColumnElement[bool]) -> int:
        stmt = sa.select(sa.func.count()).select_from(self.table).where(*self._where(scope), *where)
        return int(conn.execute(stmt).scalar_one())
