"""Describe* listings: filters turned into WHERE clauses, and one page of typed rows with the total.
Each service declares which filter reads which column; the loop over filters lives here once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from minicvm.store.rows import R, fetch

Clause = sa.ColumnElement[bool]


def filter_clauses(
    filters: Mapping[str, list[str]],
    columns: Mapping[str, sa.ColumnElement[Any]],
    special: Mapping[str, Callable[[list[str]], Clause]] | None = None,
) -> list[Clause]:
    """A filter on a column matches any of its values; a `special` one builds its own clause. A filter
    the service accepts but minicvm does not model (tags, dedicated clusters, ...) matches nothing."""
    clauses: list[Clause] = []
    for name, values in filters.items():
        if name in columns:
            clauses.append(columns[name].in_(values))
        elif special is not None and name in special:
            clauses.append(special[name](values))
        else:
            clauses.append(sa.false())
    return clauses


def page(conn: sa.Connection, table: sa.Table, row: type[R], where: list[Clause],
         order_by: list[sa.ColumnElement[Any]], offset: int, limit: int) -> tuple[int, list[R]]:
    """(how many rows match, the rows of this page)."""
    total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
    rows = fetch(conn, row, sa.select(table).where(*where).order_by(*order_by).offset(offset).limit(limit))
    return int(total), rows
