"""Statements on the hot path (accepting an action, the runner's steps, polling an instance's state),
written once in SQLAlchemy Core, compiled once per database dialect, and run on the driver's own cursor
inside the caller's SQLAlchemy transaction.

Why: building a Core statement and executing it through `Connection.execute` costs 150–400 µs of CPU here
(construction, cache key, execution context, result metadata); the same SQL on the driver's cursor costs
10–30 µs, and one stop+start of an instance runs about thirty statements. Values still go through each
column type's own bind and result processors for the dialect, so a row reads exactly as through
SQLAlchemy (JSON decoded, SQLite's datetimes and booleans converted)."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

Processor = Callable[[Any], Any] | None
R = TypeVar("R", bound=tuple[Any, ...])


def each(name: str, count: int) -> list[sa.BindParameter[Any]]:
    """Bind parameters for an IN list of `count` values passed as the list `name`."""
    return [sa.bindparam(f"{name}_{i}") for i in range(count)]


def _row_class(keys: list[str]) -> Any:
    """A NamedTuple of the selected columns, for a statement that names no row class of its own."""
    return namedtuple("Row", keys)  # type: ignore[misc]  # noqa: PYI024  # fields known only at run time


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # bind names in order for qmark dialects, None for named ones
    binds: dict[str, Processor]
    fixed: dict[str, Any]  # values written into the statement itself (e.g. a literal in a WHERE)
    row: Any  # the row class (a NamedTuple of the selected columns), None for statements without rows
    results: tuple[Processor, ...]


class Prepared(Generic[R]):
    """`build(**sizes)` returns the statement; `sizes` holds the length of each parameter named in `lists`
    (IN lists, see each()). Compiled forms are cached per dialect and list sizes. A SELECT's rows are
    `row`s (store/rows.py, or a NamedTuple of the statement's own), whose fields must be the selected
    columns in order; checked when the statement is first compiled."""

    def __init__(self, build: Callable[..., Any], lists: tuple[str, ...] = (), row: type[R] | None = None) -> None:
        self.build = build
        self.lists = lists
        self.row = row
        self._compiled: dict[tuple[Any, ...], _Compiled] = {}

    def _compile(self, dialect: sa.Dialect, sizes: dict[str, int]) -> _Compiled:
        key = (dialect.name, *sorted(sizes.items()))
        found = self._compiled.get(key)
        if found is not None:
            return found
        stmt = self.build(**sizes)
        compiled = stmt.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("an IN list in a prepared statement needs each() (or sa.literal() per constant)")
        binds: dict[str, Processor] = {name: dialect.type_descriptor(bind.type).bind_processor(dialect)
                                       for name, bind in compiled.binds.items()}
        row: Any = None
        results: tuple[Processor, ...] = ()
        if isinstance(stmt, sa.Select):
            columns = list(stmt.selected_columns)
            keys = [str(c.key) for c in columns]
            row = self.row if self.row is not None else _row_class(keys)
            if list(row._fields) != keys:
                raise TypeError(f"{row.__name__} has fields {row._fields}, the statement selects {keys}")
            results = tuple(dialect.type_descriptor(c.type).result_processor(dialect, None) for c in columns)
        fixed = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
        positional = tuple(compiled.positiontup or ()) if dialect.positional else None
        found = self._compiled[key] = _Compiled(compiled.string, positional, binds, fixed, row, results)
        return found

    def _execute(self, conn: sa.Connection, params: dict[str, Any]) -> tuple[_Compiled, Any]:
        sizes = {}
        for name in self.lists:
            values = params.pop(name)
            sizes[name] = len(values)
            params.update((f"{name}_{i}", v) for i, v in enumerate(values))
        compiled = self._compile(conn.dialect, sizes)
        params = {**compiled.fixed, **params}
        for name, process in compiled.binds.items():
            if process is not None and name in params:
                params[name] = process(params[name])
        args: Any = params if compiled.positional is None else tuple(params[n] for n in compiled.positional)
        return compiled, conn.connection.driver_connection.execute(compiled.sql, args)  # type: ignore[union-attr]

    def all(self, conn: sa.Connection, **params: Any) -> list[R]:
        compiled, cursor = self._execute(conn, params)
        row, results = compiled.row, compiled.results
        assert row is not None, "all() needs a SELECT"
        if not any(results):
            return [row._make(r) for r in cursor.fetchall()]
        return [row._make(v if p is None else p(v) for p, v in zip(results, r, strict=True)) for r in cursor.fetchall()]

    def first(self, conn: sa.Connection, **params: Any) -> R | None:
        rows = self.all(conn, **params)
        return rows[0] if rows else None

    def scalar(self, conn: sa.Connection, **params: Any) -> Any:
        found = self.first(conn, **params)
        return None if found is None else found[0]

    def run(self, conn: sa.Connection, **params: Any) -> int:
        """INSERT, UPDATE or DELETE; returns the number of rows it touched."""
        _compiled, cursor = self._execute(conn, params)
        return int(cursor.rowcount)
