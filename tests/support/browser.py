"""The console in a real browser (Debian's chromium driven by Playwright): where the browser is, how a
test opens a context and signs in, and how a missing browser is reported."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess

try:
    from playwright.sync_api import expect
except ImportError:  # reported by the tests' `playwright` fixtures: a failure on CI, a skip elsewhere
    expect = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "console"
WAIT_MS = 30_000  # generous: a slow machine is slow, not broken
WIDE = {"width": 1280, "height": 800}


def missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}; CI must run the browser tests (make test installs it)", pytrace=False)
    pytest.skip(why)


def new_context(browser: Any, server: ServerProcess, **options: Any) -> Any:
    context = browser.new_context(base_url=server.url, viewport=options.pop("viewport", WIDE), **options)
    context.set_default_timeout(WAIT_MS)
    return context


def sign_in(page: Any, secret_id: str = SECRET_ID, secret_key: str = SECRET_KEY) -> None:
    page.goto("/console/login")
    page.fill("#secret-id", secret_id)
    page.fill("#secret-key", secret_key)
    page.click("#key-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/#/instances$"))
    expect(page.locator("#live")).to_have_attribute("data-live", "on")
