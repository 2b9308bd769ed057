"""The pytest plugin (entry point `pytest11`, active wherever minicvm is installed).

Fixtures:
- `minicvm` (session): a server on a free port in a temporary dir, sim driver, fast timings. While it
  exists every Tencent Cloud SDK request of the test process goes to it (see `minicvm.testing.redirect`),
  the SDKs and tccli find its credentials and region in the environment, tccli subprocesses find a
  profile pointing every service at it (`TCCLI_PROFILE`), and Node.js subprocesses preload the redirect
  loader (`NODE_OPTIONS`).
- `minicvm_account` (per test): a fresh account, empty, that the environment's credentials point at for
  the duration of the test, so that tests do not see each other's instances.

Settings for the server: the `minicvm_settings` ini option (lines of `name=value`, Settings field names)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from minicvm.testing.server import GUEST_ADDRESS_WARNING, Account, MiniCvm, ignore_guest_address_warning, pointed_at


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("minicvm_settings", "minicvm server settings for the `minicvm` fixture, one name=value a line",
                  type="linelist", default=[])


def pytest_configure(config: pytest.Config) -> None:
    # pytest resets warning filters around every test, so the filter goes where pytest keeps its own.
    config.addinivalue_line("filterwarnings", f"ignore:{GUEST_ADDRESS_WARNING}:UserWarning")


def _settings(config: pytest.Config) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for line in config.getini("minicvm_settings"):
        name, sep, value = line.partition("=")
        if not sep:
            raise pytest.UsageError(f"minicvm_settings: expected name=value, got {line!r}")
        settings[name.strip()] = value.strip()
    return settings


@pytest.fixture(scope="session")
def minicvm(pytestconfig: pytest.Config) -> Iterator[MiniCvm]:
    ignore_guest_address_warning()
    with MiniCvm(**_settings(pytestconfig)) as server, pointed_at(server):
        yield server


@pytest.fixture
def minicvm_account(minicvm: MiniCvm, monkeypatch: pytest.MonkeyPatch) -> Account:
    account = minicvm.create_account()
    for name, value in account.environment().items():
        monkeypatch.setenv(name, value)
    return account
