"""The console's "Log in" window in headless Chromium: DescribeInstanceVncUrl names its socket, the
instance page links to it while the instance runs, the sim guest's console asks for its login user and
password and then runs its shell; the socket refuses anyone without the console session.

The screenshot goes to test-artifacts/console/; with MINICVM_UPDATE_DOCS=1 also to docs/console-login.png
(embedded in the README)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
import websockets

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, WAIT_MS, missing, new_context, sign_in
from tests.support.client import Api
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    expect = sync_playwright = None

PASSWORD = "Passw0rd!console"
DOCS_SHOT = ROOT / "docs" / "console-login.png"


@pytest.fixture(scope="module")
def term_server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp(f"terminal-{backend}"), backend).start()
    yield srv
    srv.close()
    srv.assert_clean_log()


def test_vnc_url_and_socket_guard(term_server: ServerProcess) -> None:
    api = Api(term_server.endpoint, SECRET_ID, SECRET_KEY)
    (instance_id,) = api.run(1)
    url = unquote(api.cvm("DescribeInstanceVncUrl", InstanceId=instance_id)["InstanceVncUrl"])
    assert url.endswith(f"/console/instances/{instance_id}/terminal/ws") and url.startswith("ws://")

    async def without_session() -> int | None:
        async with websockets.connect(f"ws://{term_server.endpoint}/console/instances/{instance_id}/terminal/ws") as ws:
            try:
                await ws.recv()
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
        return None

    assert asyncio.run(without_session()) == 4401
    api.cvm("StopInstances", InstanceIds=[instance_id], StopType="HARD")
    api.wait_state([instance_id], "STOPPED")
    assert api.error("cvm", "DescribeInstanceVncUrl",
                     InstanceId=instance_id).code == "UnsupportedOperation.InstanceStateStopped"


def test_login_window_shows_a_shell(term_server: ServerProcess) -> None:
    if sync_playwright is None:
        missing("the playwright package is not installed")
    if not CHROMIUM.exists():
        missing(f"Debian's chromium is not installed at {CHROMIUM}")
    api = Api(term_server.endpoint, SECRET_ID, SECRET_KEY)
    (instance_id,) = api.run(1, LoginSettings={"Password": PASSWORD})
    host_name = api.instance(instance_id)["HostName"]
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = new_context(browser, term_server)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(page)
            page.goto(f"/console/#/instances/{instance_id}")
            link = page.locator("[data-key='detail:login']")
            expect(link).to_have_attribute("href", f"/console/instances/{instance_id}/terminal")
            page.goto(f"/console/instances/{instance_id}/terminal")
            rows = page.locator(".xterm-rows")
            expect(rows).to_contain_text("login:")
            page.locator(".xterm-helper-textarea").focus()
            page.keyboard.type("root\r")
            expect(rows).to_contain_text("Password:")
            page.keyboard.type(PASSWORD + "\r")
            expect(rows).to_contain_text(f"root@{host_name}:~#")
            page.keyboard.type("echo hello from the console > /disk/c && cat /disk/c\r")
            expect(rows).to_contain_text("hello from the console", timeout=WAIT_MS)
            assert PASSWORD not in rows.inner_text()  # never echoed
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "login-window.png"))
            if os.environ.get("MINICVM_UPDATE_DOCS") == "1":
                shutil.copy(ARTIFACTS / "login-window.png", DOCS_SHOT)
            assert not errors, errors
            context.close()
        finally:
            browser.close()
