"""The store's fast path (store/prepared.py and Store's transactions) against the real databases: a prepared
statement reads and writes exactly what the same statement through SQLAlchemy would, and Store.write() is
still all-or-nothing when prepared and Core statements mix."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from minicvm.store.db import Store, migrate
from minicvm.store.prepared import Prepared, each
from minicvm.store.tables import operations, vpcs
from tests.support.server import drop_postgres_database, fresh_postgres_database


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[Store]:
    url = fresh_postgres_database() if backend == "postgres" else f"sqlite:///{tmp_path / 'minicvm.db'}"
    store = Store(url)
    migrate(store.engine)
    try:
        yield store
    finally:
        store.dispose()
        if backend == "postgres":
            drop_postgres_database(url)


INSERT_OP = Prepared(lambda: operations.insert().values(
    {name: sa.bindparam(name) for name in ("id", "request_id", "account_id", "resource_id", "action", "steps", "step",
                                           "params", "state", "created_time", "updated_time")}))
OPS_BY_ID = Prepared(lambda ids: sa.select(operations).where(operations.c.id.in_(each("ids", ids)))
                     .order_by(operations.c.seq), lists=("ids",))
OPERATING_OF = Prepared(lambda: sa.select(operations.c.id).where(
    operations.c.resource_id == sa.bindparam("resource_id"), operations.c.state == "OPERATING"))
FINISH = Prepared(lambda: operations.update().where(operations.c.id == sa.bindparam("id")).values(state="SUCCESS"))
DEFAULT_VPCS = Prepared(lambda: sa.select(vpcs.c.id, vpcs.c.is_default).where(
    vpcs.c.is_default.is_(True)).order_by(vpcs.c.id))

WHEN = datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC)


def add_op(conn: sa.Connection, op_id: str, state: str = "OPERATING") -> None:
    INSERT_OP.run(conn, id=op_id, request_id="req-1", account_id=1, resource_id="ins-00000001", action="StopInstances",
                  steps=["stop:SOFT", "apply"], step=0, params={"StoppedMode": "KEEP_CHARGING", "n": [1, 2]},
                  state=state, created_time=WHEN, updated_time=WHEN)


def utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


def test_rows_read_as_through_sqlalchemy(store: Store) -> None:
    with store.write() as conn:
        for n in range(3):
            add_op(conn, f"op-{n}")
    with store.read() as conn:
        fast = OPS_BY_ID.all(conn, ids=["op-2", "op-0", "missing"])
        core = conn.execute(sa.select(operations).where(operations.c.id.in_(["op-0", "op-2"]))
                            .order_by(operations.c.seq)).all()
    assert [r.id for r in fast] == ["op-0", "op-2"]
    for mine, theirs in zip(fast, core, strict=True):
        assert mine._asdict() == dict(theirs._mapping)
    row = fast[0]
    assert row.steps == ["stop:SOFT", "apply"] and row.params == {"StoppedMode": "KEEP_CHARGING", "n": [1, 2]}
    assert utc(row.created_time) == WHEN


def test_in_lists_of_every_size_and_literal_binds(store: Store) -> None:
    with store.write() as conn:
        for n in range(5):
            add_op(conn, f"op-{n}", state="OPERATING" if n % 2 else "SUCCESS")
    with store.read() as conn:
        for size in range(1, 6):
            wanted = [f"op-{n}" for n in range(size)]
            assert [r.id for r in OPS_BY_ID.all(conn, ids=wanted)] == wanted
        # "OPERATING" is written into the statement: a fixed bind the caller never passes.
        assert sorted(OPERATING_OF.all(conn, resource_id="ins-00000001")) == [("op-1",), ("op-3",)]
        assert OPERATING_OF.first(conn, resource_id="ins-nothing") is None


def test_booleans_come_back_as_booleans(store: Store) -> None:
    with store.write() as conn:
        for vpc_id, default in (("vpc-aaaaaaaa", True), ("vpc-bbbbbbbb", False)):
            conn.execute(vpcs.insert().values(id=vpc_id, account_id=1, region="ap-guangzhou", name=vpc_id,
                                              cidr="10.0.0.0/16", is_default=default, created_time=WHEN))
    with store.read() as conn:
        assert DEFAULT_VPCS.all(conn) == [("vpc-aaaaaaaa", True)]
        assert DEFAULT_VPCS.scalar(conn) == "vpc-aaaaaaaa"


def test_write_is_all_or_nothing_with_prepared_and_core_statements(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as conn:
        add_op(conn, "op-a")
        conn.execute(operations.update().where(operations.c.id == "op-a").values(step=1))
        raise RuntimeError("refused half-way")
    with store.read() as conn:
        assert OPS_BY_ID.all(conn, ids=["op-a"]) == []

    with store.write() as conn:
        add_op(conn, "op-b")
        conn.execute(operations.update().where(operations.c.id == "op-b").values(step=1))
        assert FINISH.run(conn, id="op-b") == 1
        assert FINISH.run(conn, id="op-none") == 0
    with store.read() as conn:
        (row,) = OPS_BY_ID.all(conn, ids=["op-b"])
    assert (row.step, row.state) == (1, "SUCCESS")


def test_a_read_inside_a_write_does_not_share_its_transaction(store: Store) -> None:
    with store.write() as conn:
        add_op(conn, "op-pending")
        with store.read() as other:
            assert other is not conn
            assert OPS_BY_ID.all(other, ids=["op-pending"]) == []  # not committed yet
    with store.read() as conn:
        assert [r.id for r in OPS_BY_ID.all(conn, ids=["op-pending"])] == ["op-pending"]


def test_connections_are_reused_and_bounded(store: Store) -> None:
    with store.read() as first:
        pass
    with store.read() as again:
        assert again is first
    with store.read() as a, store.read() as b, store.read() as c, store.read() as d, store.read() as e:
        assert len({id(x) for x in (a, b, c, d, e)}) == 5
    assert len(store._idle) == 4  # the fifth was closed, not kept
