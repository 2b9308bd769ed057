"""One declaration per setting: README's synopsis, `minicvm serve --help` and the MINICVM_* variables
name the same options with the same defaults, and each reaches the server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from minicvm import config
from minicvm.config import Settings
from tests.support.client import ZONE, Api
from tests.support.server import SECRET_ID, SECRET_KEY

README = (Path(__file__).parent.parent / "README.md").read_text()
OPTIONS = config.options()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A wide terminal keeps rich from wrapping a flag's help across lines.
    full_env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb", **(env or {})}
    return subprocess.run([sys.executable, "-m", "minicvm", *args], capture_output=True, text=True, timeout=60,
                          env=full_env)


def _readme_synopsis() -> dict[str, str | None]:
    """`[--flag VALUE]` / `[--switch]` of README's `minicvm serve` synopsis → {flag: VALUE or None}."""
    match = re.search(r"^minicvm serve (.*?)^minicvm ", README, re.S | re.M)
    assert match, "README has no `minicvm serve [...]` synopsis"
    found = re.findall(r"\[(--[a-z0-9-]+)(?: ([^\]]+))?\]", match.group(1))
    return {flag: value or None for flag, value in found}


def _synopsis_text() -> str:
    """The synopsis README should show, wrapped as it is there: pasted into README when a setting changes."""
    lines, line = [], "minicvm serve"
    for o in OPTIONS:
        item = f"[{o.flag}]" if o.kind is bool else f"[{o.flag} {o.metavar or o.shown_default}]"
        if len(line) + 1 + len(item) > 112:
            lines.append(line)
            line = " " * 14 + item
        else:
            line += " " + item
    return "\n".join([*lines, line])


def test_readme_synopsis_lists_every_setting_with_its_default() -> None:
    synopsis = _readme_synopsis()
    expected = [o.flag for o in OPTIONS]
    missing, unknown = [f for f in expected if f not in synopsis], [f for f in synopsis if f not in expected]
    assert not missing and not unknown and list(synopsis) == expected, (
        f"README's `minicvm serve` synopsis lacks {missing} and lists {unknown} (or another order): every Settings "
        f"field is a flag. Paste this into README's 'Running it':\n{_synopsis_text()}")
    for o in OPTIONS:
        shown = synopsis[o.flag]
        if o.kind is bool:
            assert shown is None, f"{o.flag} is a switch: README shows it without a value"
        elif o.metavar:
            assert shown == o.metavar, f"{o.flag}: README should show {o.metavar}"
        else:
            assert shown == o.shown_default, (f"{o.flag}: README says {shown}, the default is {o.shown_default}. "
                                              f"README's synopsis should read:\n{_synopsis_text()}")


def test_serve_help_lists_every_setting_with_its_default() -> None:
    out = _cli("serve", "--help")
    assert out.returncode == 0, out.stderr
    flags = re.findall(r"(?<![\w-])(--[a-z0-9-]+)", out.stdout)
    expected = [o.flag for o in OPTIONS]
    assert [f for f in flags if f in expected or not f.startswith("--no-")] == [*expected, "--help"]
    for o in OPTIONS:
        line = next(line for line in out.stdout.splitlines() if re.search(rf"{o.flag}(?![\w-])", line))
        assert f"[default: ({o.shown_default})]" in line, line


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.env)
def test_each_setting_has_its_environment_variable(option: config.Option) -> None:
    samples: dict[type, tuple[str, object]] = {str: ("10.0.0.1", "10.0.0.1"), int: ("7", 7), float: ("2.5", 2.5),
                                               bool: ("1", True), Path: ("/tmp/x", Path("/tmp/x"))}
    raw, value = (option.choices[-1], option.kind(option.choices[-1])) if option.choices else samples[option.kind]
    assert option.env == "MINICVM_" + option.name.upper()
    loaded = Settings.load(environ={option.env: raw})
    assert getattr(loaded, option.name) == value and getattr(loaded, option.name) != option.default
    assert type(getattr(loaded, option.name)) is type(option.default)
    # A flag wins over the variable; neither: the default.
    flag_value = option.default if option.kind is not bool else False
    assert getattr(Settings.load(environ={option.env: raw}, **{option.name: flag_value}), option.name) == flag_value
    assert getattr(Settings.load(environ={}), option.name) == option.default


def test_a_variable_that_does_not_parse_is_refused_by_name() -> None:
    with pytest.raises(config.SettingError, match="MINICVM_PORT: expected int; got 'http'"):
        Settings.load(environ={"MINICVM_PORT": "http"})
    with pytest.raises(config.SettingError, match="MINICVM_DRIVER: expected one of sim, qemu"):
        Settings.load(environ={"MINICVM_DRIVER": "xen"})
    with pytest.raises(config.SettingError, match="MINICVM_CBS_RESIZE_REQUIRES_STOP"):
        Settings.load(environ={"MINICVM_CBS_RESIZE_REQUIRES_STOP": "maybe"})
    out = _cli("serve", env={"MINICVM_BOOT_SECONDS": "soon"})
    assert out.returncode == 2 and "MINICVM_BOOT_SECONDS: expected float; got 'soon'" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_version() -> None:
    from importlib.metadata import version

    out = _cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"minicvm {version('minicvm')}"


def test_serve_says_where_the_console_is_and_how_to_point_clients_at_it(server) -> None:
    log = server.log_path.read_text()
    assert f"console:   {server.url}/console/" in log
    assert f"--endpoint {server.url}" in log  # tccli
    for hint in (f'HttpProfile(protocol="http", endpoint="{server.endpoint}")', 'protocol: "http://"',
                 'Scheme = "HTTP"', "setProtocol(HttpProfile.REQ_HTTP)"):
        assert hint in log


def test_the_cbs_resize_switch_reaches_the_server(make_server) -> None:
    api = Api(make_server(cbs_resize_requires_stop=True).endpoint, SECRET_ID, SECRET_KEY)
    ids = api.run(1)
    disk_id = api.call("cbs", "CreateDisks", Placement={"Zone": ZONE}, DiskChargeType="POSTPAID_BY_HOUR",
                       DiskType="CLOUD_PREMIUM", DiskSize=20)["DiskIdSet"][0]
    api.call("cbs", "AttachDisks", InstanceId=ids[0], DiskIds=[disk_id])
    api.wait(lambda: api.call("cbs", "DescribeDisks", DiskIds=[disk_id])["DiskSet"][0]["DiskState"] == "ATTACHED")
    assert api.error("cbs", "ResizeDisk", DiskId=disk_id, DiskSize=30).code == "UnsupportedOperation.InstanceNotStopped"
