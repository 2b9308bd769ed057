"""Engine creation and migrations. SQLite (WAL) under the data dir by default, PostgreSQL by URL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
IDLE_CONNECTIONS = 4


def normalise_url(url: str) -> str:
    # Users write postgresql://…; we speak psycopg 3, not psycopg2.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


# JSON columns are decoded for every row a listing returns: orjson is several times faster than json.
JSON_CODEC = {"json_serializer": _dumps, "json_deserializer": orjson.loads}


def make_engine(url: str) -> sa.Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **JSON_CODEC)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        # The standard library driver opens transactions lazily and commits on its own terms;
        # take control so BEGIN IMMEDIATE makes read-then-write transactions safe across processes.
        @sa.event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # type: ignore[no-untyped-def]
            # Straight to the driver: through exec_driver_sql this cost more than the query it precedes.
            # Inside Store.write() the transaction is already open on the driver: nothing to begin.
            driver = conn.connection.driver_connection
            if not driver.in_transaction:
                driver.execute("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **JSON_CODEC)


def migrate(engine: sa.Engine) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()


class Store:
    """Short transactions only: never hold one across an await on the network or a driver call."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._writes = 0
        self._idle: list[sa.Connection] = []
        # SQLite's data_version, read on one connection of its own, changes whenever any other
        # connection — of this process or another — commits: a cheap "has anything changed?".
        self._probe = sqlite3.connect(self.engine.url.database or ":memory:", check_same_thread=False) if self.is_sqlite else None

    def generation(self) -> tuple[int, int] | None:
        """A value that changes whenever the database may have changed, or None where minicvm cannot
        tell cheaply (PostgreSQL, where other processes may write): then nothing may be cached."""
        if self._probe is None:
            return None
        return self._writes, self._probe.execute("PRAGMA data_version").fetchone()[0]

    # Checking a connection out of the pool and wrapping it anew cost more CPU than a prepared statement,
    # so finished connections wait in `_idle` for the next short transaction. One in use is off the list:
    # a read() nested in a write() gets a connection of its own, never a share of the write's.

    def _take(self) -> sa.Connection:
        try:
            return self._idle.pop()
        except IndexError:
            return self.engine.connect()

    def _end(self, conn: sa.Connection) -> None:
        """Roll back whatever is still open, then keep the connection for the next caller; one that
        cannot even roll back is closed instead."""
        try:
            if conn.in_transaction():
                conn.rollback()
            else:  # prepared statements run on the driver: end what they may have begun there
                conn.connection.driver_connection.rollback()  # type: ignore[union-attr]
        except Exception:
            conn.close()
            raise
        if conn.invalidated or len(self._idle) >= IDLE_CONNECTIONS:
            conn.close()
        else:
            self._idle.append(conn)

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        conn = self._take()
        try:
            yield conn
        finally:
            self._end(conn)

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A transaction that commits on success; on SQLite it takes the write lock up front so a
        read-check-write sequence cannot interleave with another process's. The transaction is opened and
        ended on the driver itself (SQLAlchemy's Transaction objects cost as much as the statements of a
        stop); where Core statements inside it made SQLAlchemy open its own view, SQLAlchemy ends it."""
        conn = self._take()
        driver: Any = conn.connection.driver_connection
        conn.info["write"] = True
        try:
            if self.is_sqlite:
                driver.execute("BEGIN IMMEDIATE")
            yield conn
            if conn.in_transaction():
                conn.commit()
            else:
                driver.commit()
        except BaseException:
            if conn.in_transaction():
                conn.rollback()
            else:
                driver.rollback()
            raise
        finally:
            conn.info["write"] = False
            self._writes += 1
            self._end(conn)

    def dispose(self) -> None:
        while self._idle:
            self._idle.pop().close()
        self.engine.dispose()
        if self._probe is not None:
            self._probe.close()
