"""Shared fixtures: a real server per database backend (SQLite always, PostgreSQL when
MINICVM_TEST_POSTGRES=1, which CI sets), and SDK clients bound to it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.client import Api
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("MINICVM_TEST_POSTGRES") == "1" else [])


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") == "true" and os.environ.get("MINICVM_TEST_POSTGRES") != "1":
        raise pytest.UsageError("CI must run the PostgreSQL pass: set MINICVM_TEST_POSTGRES=1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Real VMs run once, on SQLite: the store is covered on both databases by every other test, and
    # 2 cores do not need the same VMs booted twice.
    deselected = [i for i in items if "postgres-qemu" in i.nodeid]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [i for i in items if "postgres-qemu" not in i.nodeid]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp(f"server-{backend}"), backend).start()
    yield proc
    proc.close()
    proc.assert_clean_log()


@pytest.fixture(scope="session")
def api(server: ServerProcess) -> Api:
    return Api(server.endpoint, SECRET_ID, SECRET_KEY)


_dataplane_nets = itertools.count(1)


@pytest.fixture
def net() -> str:
    """A /24 of loopback addresses for one data plane test: backends .11-.19, VIPs .1-.9."""
    return f"127.88.{next(_dataplane_nets)}"


@pytest.fixture
def make_server(backend: str, tmp_path: Path) -> Iterator:
    """For tests that need their own server (special timings, kill -9, restarts)."""
    started: list[ServerProcess] = []

    def make(**settings: object) -> ServerProcess:
        proc = ServerProcess(tmp_path / f"srv{len(started)}", backend, **settings)
        started.append(proc)
        return proc.start()

    yield make
    for proc in started:
        proc.close()
    for proc in started:
        proc.assert_clean_log()
