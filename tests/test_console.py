"""The web console in a real browser (Debian's chromium driven by Playwright): sign-in and its guards,
shutting down from a row and in a batch with the refused instances explained in the lifecycle table's
words, badges that change live, the follow-up dialogs, and every page showing real data.

Screenshots of the main screens go to test-artifacts/console/; with MINICVM_UPDATE_DOCS=1 the instances
page also refreshes docs/console-instances.png (embedded in the README) — not on every run, so that a test
run never changes a committed file."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from minicvm.domain import lifecycle as lc
from tests.support.autoscaling import Group
from tests.support.browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    WAIT_MS,
    WIDE,
    missing,
    new_context,
    sign_in,
)
from tests.support.clb import FAST_CHECK, Balancer
from tests.support.client import ZONE, Api, other_account
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # reported by the `playwright` fixture: a failure on CI, a skip elsewhere
    expect = sync_playwright = None

DOCS_SHOT = ROOT / "docs" / "console-instances.png"
NARROW = {"width": 800, "height": 900}


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    if sync_playwright is None:
        missing("the playwright package is not installed")
    if not CHROMIUM.exists():
        missing(f"Debian's chromium is not installed at {CHROMIUM}")
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[ServerProcess]:
    # Slow enough power changes to watch STOPPING and STARTING; fast health checks and scaling.
    srv = ServerProcess(tmp_path_factory.mktemp(f"console-{backend}"), backend, shutdown_seconds=1.5, boot_seconds=2.5,
                        soft_stop_timeout=5, clb_time_scale=0.1, as_interval=0.2).start()
    yield srv
    srv.close()
    srv.assert_clean_log()


@pytest.fixture(scope="module")
def browser(playwright: Any, console_server: ServerProcess) -> Iterator[Any]:
    # Depends on the server so that it closes first: open event streams would hold up the server's stop.
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def capi(console_server: ServerProcess) -> Api:
    return Api(console_server.endpoint, SECRET_ID, SECRET_KEY)


@pytest.fixture(scope="module")
def signed_in(browser: Any, console_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    context = new_context(browser, console_server)
    sign_in(context.new_page())
    path = tmp_path_factory.mktemp("browser") / "state.json"
    context.storage_state(path=str(path))
    context.close()
    return str(path)


@pytest.fixture
def contexts(browser: Any, console_server: ServerProcess) -> Iterator[Any]:
    """new_context for a test, closed when the test ends however it ends; no script error may occur."""
    made: list[Any] = []
    problems: list[str] = []

    def make(**options: Any) -> Any:
        context = new_context(browser, console_server, **options)
        context.on("weberror", lambda error: problems.append(f"uncaught: {error.error}"))
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert not problems, problems


@pytest.fixture
def page(contexts: Any, signed_in: str) -> Any:
    return contexts(storage_state=signed_in).new_page()


def shot(page: Any, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def show_instances(page: Any, name: str, count: int) -> None:
    """The instances page, searched down to the `count` instances called `name`."""
    page.goto("/console/#/instances")
    page.fill("#search-name", name)
    page.press("#search-name", "Enter")
    expect(page.locator("table.instances tbody tr[data-id]")).to_have_count(count)


def row(page: Any, instance_id: str) -> Any:
    return page.locator(f'table.instances tr[data-id="{instance_id}"]')


def state_of(page: Any, instance_id: str) -> Any:
    return row(page, instance_id).locator(".col-state [data-state]")


def open_menu_item(page: Any, instance_id: str, key: str) -> Any:
    row(page, instance_id).locator(f'[data-key="row:{instance_id}:more"]').click()
    item = page.locator(f'[data-key="row:{instance_id}:more:{key}"]')
    expect(item).to_be_visible()
    return item


def press(locator: Any) -> None:
    """Activate with the keyboard, as a keyboard user would (and as aria-disabled buttons allow)."""
    locator.focus()
    locator.press("Enter")


def dialog(page: Any) -> Any:
    return page.locator("dialog[open]")


def stop(api: Api, ids: list[str]) -> None:
    api.cvm("StopInstances", InstanceIds=ids, StopType="HARD")
    api.wait_state(ids, "STOPPED")


# ---- sign-in and its guards ---------------------------------------------------------------------------------


def test_sign_in_and_sign_out(contexts: Any) -> None:
    context = contexts()
    tab = context.new_page()
    tab.goto("/console/")
    expect(tab).to_have_url(re.compile(r"/console/login$"))
    shot(tab, "sign-in")
    sign_in(tab)
    expect(tab.locator(".account")).to_contain_text("default")
    cookie = next(c for c in context.cookies() if c["name"] == "minicvm_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    tab.get_by_role("button", name="Sign out").click()
    expect(tab).to_have_url(re.compile(r"/console/login$"))
    assert tab.request.get("/console/api/me").status == 401
    tab.goto("/console/")
    expect(tab).to_have_url(re.compile(r"/console/login$"))


def test_wrong_credentials_are_refused_and_the_console_password_works(contexts: Any, console_server: ServerProcess) -> None:
    console_server.run_cli("accounts", "set-password", "default", "--password", "Console-pass-1")
    context = contexts()
    tab = context.new_page()
    tab.goto("/console/login")
    tab.fill("#secret-id", SECRET_ID)
    tab.fill("#secret-key", "not-the-key")
    with tab.expect_response(lambda r: r.url.endswith("/console/login") and r.request.method == "POST") as answer:
        tab.click("#key-form button[type=submit]")
    assert answer.value.status == 401
    expect(tab.locator("#login-error")).to_contain_text("Sign-in failed")
    expect(tab.locator("#secret-id")).to_have_value(SECRET_ID)  # kept: only the key needs typing again
    expect(tab.locator("#secret-key")).to_have_value("")
    tab.fill("#account-name", "default")
    tab.fill("#password", "wrong-password")
    tab.click("#password-form button[type=submit]")
    expect(tab.locator("#login-error")).to_contain_text("Sign-in failed")
    expect(tab.locator("#account-name")).to_have_value("default")
    assert not any(c["name"] == "minicvm_session" for c in context.cookies())
    tab.fill("#account-name", "default")
    tab.fill("#password", "Console-pass-1")
    tab.click("#password-form button[type=submit]")
    expect(tab).to_have_url(re.compile(r"/console/#/instances$"))


def test_state_changes_need_the_csrf_token(contexts: Any, page: Any) -> None:
    page.goto("/console/#/instances")
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    stop_call = {"Service": "cvm", "Action": "StopInstances", "Region": "ap-guangzhou",
                 "Params": {"InstanceIds": ["ins-00000000"]}}
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        refused = page.request.post("/console/api/call", data=stop_call, headers=headers)
        assert refused.status == 403 and refused.json()["Error"]["Code"] == "AuthFailure.CsrfTokenInvalid"
    answered = page.request.post("/console/api/call", data=stop_call, headers={"X-CSRF-Token": token})
    assert answered.status == 200 and answered.json()["Response"]["Error"]["Code"] == "InvalidInstanceId.NotFound"
    assert page.request.post("/console/logout", max_redirects=0).status == 403
    assert page.request.get("/console/api/me").status == 200  # still signed in

    # The sign-in form carries its own token (cookie + hidden field); a cross-site post has neither.
    context = contexts()
    tab = context.new_page()
    tab.goto("/console/login")
    for form in ({"SecretId": SECRET_ID, "SecretKey": SECRET_KEY},
                 {"SecretId": SECRET_ID, "SecretKey": SECRET_KEY, "csrf": "forged"}):
        refused = tab.request.post("/console/login", form=form, max_redirects=0)
        assert refused.status == 403 and "expired" in refused.text()
    assert not any(c["name"] == "minicvm_session" for c in context.cookies())


def test_another_accounts_instances_are_invisible(console_server: ServerProcess, page: Any) -> None:
    theirs = other_account(console_server).run(1, wait=False)[0]
    page.goto("/console/#/instances")
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert page.request.get(f"/console/api/instances/{theirs}").status == 404
    listed = page.request.get("/console/api/instances?limit=100").json()["InstanceSet"]
    assert theirs not in {i["InstanceId"] for i in listed}
    answer = page.request.post("/console/api/call", headers={"X-CSRF-Token": token}, data={
        "Service": "cvm", "Action": "StopInstances", "Region": "ap-guangzhou", "Params": {"InstanceIds": [theirs]}})
    assert answer.json()["Response"]["Error"]["Code"] == "InvalidInstanceId.NotFound"


# ---- shutting down ---------------------------------------------------------------------------------------------


def test_single_shutdown_from_the_row(page: Any, capi: Api) -> None:
    [iid] = capi.run(1, InstanceName="solo")
    show_instances(page, "solo", 1)
    expect(state_of(page, iid)).to_have_attribute("data-state", "RUNNING")
    page.evaluate("window.notReloaded = true")
    shutdown = row(page, iid).get_by_role("button", name="Shutdown", exact=True)

    shutdown.click()
    expect(dialog(page).locator('[data-group="eligible"] [data-id]')).to_have_count(1)
    expect(dialog(page).locator('[data-group="refused"]')).to_have_count(0)
    page.keyboard.press("Escape")  # Esc closes, and focus goes back to the button that opened it
    expect(dialog(page)).to_have_count(0)
    expect(shutdown).to_be_focused()
    assert capi.instance(iid)["InstanceState"] == "RUNNING"

    press(shutdown)
    expect(dialog(page).locator("#StopType-SOFT_FIRST")).to_be_checked()
    dialog(page).locator("[data-role=confirm]").click()
    expect(state_of(page, iid)).to_have_attribute("data-state", "STOPPING")
    expect(dialog(page).locator(f'[data-id="{iid}"]')).to_have_attribute("data-result", "running")
    expect(state_of(page, iid)).to_have_attribute("data-state", "STOPPED")
    expect(dialog(page).locator(f'[data-id="{iid}"]')).to_have_attribute("data-result", "done")
    expect(dialog(page).locator("[data-role=summary]")).to_contain_text("Finished: 1 shut down")
    assert page.evaluate("window.notReloaded") is True
    found = capi.instance(iid)
    assert found["InstanceState"] == "STOPPED" and found["LatestOperation"] == "StopInstances"


def test_batch_shutdown_lists_the_refused_with_the_lifecycle_tables_reasons(page: Any, capi: Api) -> None:
    running, starting, stopped = capi.run(3, InstanceName="trio")
    stop(capi, [starting, stopped])
    show_instances(page, "trio", 3)
    for iid in (running, starting, stopped):
        row(page, iid).locator(".col-select input").check()
    expect(page.locator(".selection")).to_have_text("3 selected")
    capi.cvm("StartInstances", InstanceIds=[starting])  # STARTING for the server's boot time
    page.locator('[data-key="batch:more"]').click()
    page.locator('[data-key="batch:more:stop"]').click()

    box = dialog(page)
    expect(box.locator('[data-group="eligible"] [data-id]')).to_have_count(1)
    expect(box.locator(f'[data-group="eligible"] [data-id="{running}"]')).to_be_visible()
    expect(box.locator('[data-group="refused"] [data-id]')).to_have_count(2)
    for iid, state in ((starting, "STARTING"), (stopped, "STOPPED")):
        reason = lc.refusal("StopInstances", iid, state, None).reason
        expect(box.locator(f'[data-group="refused"] [data-id="{iid}"] .reason')).to_have_text(reason)
    expect(box.locator('[data-group="refused"] h3')).to_have_text("Cannot be shut down (2)")
    shot(page, "shutdown-dialog")
    page.set_viewport_size(NARROW)
    shot(page, "shutdown-dialog-narrow")
    page.set_viewport_size(WIDE)

    box.locator("[data-role=confirm]").click()
    expect(state_of(page, running)).to_have_attribute("data-state", "STOPPING")
    expect(state_of(page, running)).to_have_attribute("data-state", "STOPPED")
    expect(box.locator(f'[data-id="{running}"]')).to_have_attribute("data-result", "done")
    expect(state_of(page, starting)).to_have_attribute("data-state", "RUNNING")
    expect(state_of(page, stopped)).to_have_attribute("data-state", "STOPPED")
    found = capi.instances([running, starting, stopped])
    assert found[running]["LatestOperation"] == "StopInstances" and found[running]["InstanceState"] == "STOPPED"
    assert found[starting]["LatestOperation"] == "StartInstances"  # the refused ones were not touched
    assert found[stopped]["LatestOperation"] == "StopInstances" and found[stopped]["InstanceState"] == "STOPPED"


def test_a_forbidden_action_is_disabled_with_its_reason(page: Any, capi: Api) -> None:
    [iid] = capi.run(1, InstanceName="guarded")
    show_instances(page, "guarded", 1)
    start = row(page, iid).get_by_role("button", name="Start", exact=True)
    expect(start).to_have_attribute("aria-disabled", "true")
    start_reason = lc.refusal("StartInstances", iid, "RUNNING", "SUCCESS").reason
    expect(start).to_have_attribute("title", start_reason)
    press(start)  # still focusable: activating it tells why instead of acting
    expect(page.locator(".toast").last).to_contain_text(start_reason)


def test_changes_on_a_running_instance_shut_it_down_first_and_start_it_again(page: Any, capi: Api) -> None:
    [iid] = capi.run(1, InstanceName="reshape")
    show_instances(page, "reshape", 1)
    for key in ("type", "resize", "password", "loadkey"):
        item = open_menu_item(page, iid, key)
        expect(item).not_to_have_attribute("aria-disabled", "true")  # enabled: it can be done, by shutting down first
        page.keyboard.press("Escape")

    press(open_menu_item(page, iid, "type"))
    box = dialog(page)
    note = box.locator("[data-role=force-stop]")
    expect(note).to_contain_text("This instance is running")
    expect(note).to_contain_text("shut down first")
    expect(note).to_contain_text("started again")
    assert "ForceStop" not in box.inner_text() and "STOPPED" not in box.inner_text()  # console words, not the API's
    box.locator("select").select_option("S5.LARGE8")
    box.locator("[data-role=submit]").click()
    expect(box.locator(".form-error")).to_contain_text("tick the box")
    assert capi.instance(iid)["InstanceType"] == "S5.MEDIUM4"

    note.get_by_label("Shut the instance down, make the change and start it again").check()
    box.locator("[data-role=submit]").click()
    expect(dialog(page)).to_have_count(0)
    expect(page.locator(".toast").last).to_contain_text("shutting down to change its type")
    expect(state_of(page, iid)).to_have_attribute("data-state", "STOPPING")
    # The toast that says it is done comes once it is: past tense, after the instance is back.
    expect(page.locator(".toast-ok p").last).to_have_text("reshape is now S5.LARGE8.")
    found = capi.instance(iid)
    assert found["InstanceType"] == "S5.LARGE8" and found["InstanceState"] == "RUNNING"

    press(open_menu_item(page, iid, "resize"))  # disks can also grow while it runs: both ways, in words
    expect(dialog(page).locator("[data-role=force-stop]")).to_contain_text("Now, while the instance keeps running")
    page.keyboard.press("Escape")


def test_shutdown_dialog_says_why_its_default_and_what_auto_scaling_does(page: Any, capi: Api) -> None:
    group = Group(capi, size=1, check=None)
    [member] = group.wait_in_service(1)
    page.goto(f"/console/#/instances/{member}")
    page.locator(".detail-head").get_by_role("button", name="Shutdown", exact=True).click()
    box = dialog(page)
    expect(box.locator("#StopType-SOFT_FIRST")).to_be_checked()
    expect(box.locator("[data-role=stop-default]")).to_contain_text("Soft, then forced is chosen for you")
    expect(box.locator("[data-role=stop-default]")).to_contain_text("the API's default")
    scaling = box.locator("[data-role=auto-scaling]")
    expect(scaling).to_contain_text(group.id)
    expect(scaling).to_contain_text("launches a replacement")
    expect(scaling).to_contain_text("because the group created it, it is then terminated")
    assert "Auto Scaling memberships are kept" not in box.inner_text()
    page.keyboard.press("Escape")


def test_stop_charging_stays_available_for_the_instances_that_can(page: Any, capi: Api) -> None:
    [hourly] = capi.run(1, InstanceName="mixed-hourly")
    [monthly] = capi.run(1, InstanceName="mixed-monthly", InstanceChargeType="PREPAID",
                         InstanceChargePrepaid={"Period": 1, "RenewFlag": "NOTIFY_AND_MANUAL_RENEW"})
    show_instances(page, "mixed", 2)
    for iid in (hourly, monthly):
        row(page, iid).locator(".col-select input").check()
    page.locator('[data-key="batch:more"]').click()
    page.locator('[data-key="batch:more:stop"]').click()
    box = dialog(page)
    expect(box.locator('[data-group="eligible"] [data-id]')).to_have_count(2)
    stop_charging = box.locator("#StoppedMode-STOP_CHARGING")
    expect(stop_charging).to_be_enabled()
    refusal = box.locator("[data-role=stop-charging-refusal]")
    expect(refusal).to_contain_text("Stop charging applies to 1 of 2")
    expect(refusal.locator(f'li[data-id="{monthly}"]')).to_contain_text("mixed-monthly")
    expect(refusal.locator(f'li[data-id="{hourly}"]')).to_have_count(0)
    stop_charging.check()
    box.locator("[data-role=confirm]").click()
    expect(box.locator("[data-role=summary]")).to_contain_text("Finished: 2 shut down")
    found = capi.instances([hourly, monthly])
    assert found[hourly]["StopChargingMode"] == "STOP_CHARGING"
    assert found[monthly]["StopChargingMode"] == "KEEP_CHARGING"
    assert {i["InstanceState"] for i in found.values()} == {"STOPPED"}


def test_the_in_progress_badge_is_not_an_open_arc(page: Any) -> None:
    page.goto("/console/#/instances")
    expect(page.locator("h1")).to_have_text("Instances")
    style = page.evaluate("""() => {
        const el = document.createElement('span');
        el.className = 'shape shape-spin';
        document.body.append(el);
        const s = getComputedStyle(el);
        return [s.borderRightColor, s.borderTopColor, s.backgroundImage];
    }""")
    right, top, image = style
    assert right == top, "a side of the ring is missing: it reads as the letter C"
    assert "conic-gradient" in image


def test_key_pairs_page(page: Any, capi: Api, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    page.goto("/console/#/keys")
    expect(page.locator("h1")).to_have_text("SSH key pairs")
    page.get_by_role("button", name="Create key pair").click()
    dialog(page).get_by_label("Name").fill("console_made")
    dialog(page).locator("[data-role=submit]").click()
    expect(dialog(page).locator("[data-role=private-key-once]")).to_contain_text("only time")
    with page.expect_download() as download:
        dialog(page).locator("[data-role=download]").click()
    assert download.value.suggested_filename == "console_made.pem"
    saved = tmp_path / "key.pem"
    download.value.save_as(saved)
    assert "PRIVATE KEY" in saved.read_text()
    dialog(page).get_by_role("button", name="Close").first.click()
    made = {k["KeyName"]: k for k in capi.cvm("DescribeKeyPairs", Limit=100)["KeyPairSet"]}["console_made"]
    expect(page.locator(f'tr[data-key-id="{made["KeyId"]}"]')).to_contain_text("No instance")

    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    page.get_by_role("button", name="Import public key").click()
    dialog(page).get_by_label("Name").fill("laptop")
    dialog(page).get_by_label("Public key").fill(public)
    dialog(page).locator("[data-role=submit]").click()
    expect(page.locator(".toast-ok").last).to_contain_text("Imported laptop")
    imported = {k["KeyName"]: k for k in capi.cvm("DescribeKeyPairs", Limit=100)["KeyPairSet"]}["laptop"]

    [iid] = capi.run(1, InstanceName="keyed")
    stop(capi, [iid])
    capi.cvm("AssociateInstancesKeyPairs", InstanceIds=[iid], KeyIds=[imported["KeyId"]])
    capi.wait_operation(iid)
    page.reload()
    expect(page.locator(f'tr[data-key-id="{imported["KeyId"]}"] [data-role=used-by]')).to_contain_text(iid)

    page.locator(f'[data-key="key:{made["KeyId"]}:delete"]').click()
    dialog(page).get_by_role("button", name="Delete").click()
    expect(page.locator(f'tr[data-key-id="{made["KeyId"]}"]')).to_have_count(0)
    assert made["KeyId"] not in {k["KeyId"] for k in capi.cvm("DescribeKeyPairs", Limit=100)["KeyPairSet"]}

    # From an instance's Load key dialog, a way to make a key.
    show_instances(page, "keyed", 1)
    press(open_menu_item(page, iid, "loadkey"))
    dialog(page).locator("[data-role=create-key]").click()
    expect(page).to_have_url(re.compile(r"#/keys$"))
    expect(dialog(page)).to_have_count(0)


def test_change_type_while_stopped(page: Any, capi: Api) -> None:
    [iid] = capi.run(1, InstanceName="retyped")
    stop(capi, [iid])
    show_instances(page, "retyped", 1)
    expect(row(page, iid).get_by_role("button", name="Start", exact=True)).not_to_have_attribute("aria-disabled", "true")
    item = open_menu_item(page, iid, "type")
    expect(item).not_to_have_attribute("aria-disabled", "true")
    item.click()
    box = dialog(page)
    expect(box.locator('option[value="S5.MEDIUM4"]')).to_be_disabled()  # the current type
    # Offered as DescribeInstancesModification lists them: another CPU vendor's family is not.
    expect(box.locator('option[value="SA2.MEDIUM4"]')).to_be_disabled()
    expect(box.locator('option[value="SA2.MEDIUM4"]')).to_contain_text("does not support tuning to SA2")
    box.locator("select").select_option("S5.LARGE8")
    box.locator("[data-role=submit]").click()
    expect(dialog(page)).to_have_count(0)
    capi.wait(lambda: (i := capi.instance(iid))["InstanceType"] == "S5.LARGE8" and i["LatestOperationState"] == "SUCCESS")
    found = capi.instance(iid)
    assert (found["CPU"], found["Memory"], found["InstanceState"]) == (4, 8, "STOPPED")
    expect(row(page, iid).locator(".col-type")).to_contain_text("S5.LARGE8")
    expect(row(page, iid).locator(".col-type")).to_contain_text("4 vCPU · 8 GiB")


def test_reset_password_rules_block_a_weak_password(page: Any, capi: Api) -> None:
    [iid] = capi.run(1, InstanceName="pwreset")
    stop(capi, [iid])
    show_instances(page, "pwreset", 1)
    open_menu_item(page, iid, "password").click()
    box = dialog(page)
    box.locator("[data-role=password]").fill("abc")
    box.locator("[data-role=confirm-password]").fill("abc")
    expect(box.locator('[data-rule="length"]')).to_have_attribute("data-met", "false")
    expect(box.locator('[data-rule="classes"]')).to_have_attribute("data-met", "false")
    box.locator("[data-role=submit]").click()
    expect(box.locator(".form-error")).to_contain_text("does not meet the rules")
    expect(box.locator("[data-role=password]")).to_have_attribute("aria-invalid", "true")
    assert capi.instance(iid)["LatestOperation"] == "StopInstances"  # nothing was sent

    box.locator("[data-role=password]").fill("Minicvm-pass1")
    box.locator("[data-role=confirm-password]").fill("Minicvm-pass1")
    for rule in ("length", "slash", "charset", "classes"):
        expect(box.locator(f'[data-rule="{rule}"]')).to_have_attribute("data-met", "true")
    box.locator("[data-role=submit]").click()
    expect(dialog(page)).to_have_count(0)
    capi.wait(lambda: (i := capi.instance(iid))["LatestOperation"] == "ResetInstancesPassword"
              and i["LatestOperationState"] == "SUCCESS")


# ---- the other pages -----------------------------------------------------------------------------------------


def test_instance_detail_page(page: Any, capi: Api) -> None:
    [iid] = capi.run(1, InstanceName="detailed", DataDisks=[{"DiskSize": 100, "DiskType": "CLOUD_PREMIUM"}])
    eip = capi.call("vpc", "AllocateAddresses", AddressCount=1)["AddressSet"][0]
    capi.wait(lambda: capi.call("vpc", "DescribeAddresses", AddressIds=[eip])["AddressSet"][0]["AddressStatus"] == "UNBIND")
    capi.call("vpc", "AssociateAddress", AddressId=eip, InstanceId=iid)
    ip = capi.call("vpc", "DescribeAddresses", AddressIds=[eip])["AddressSet"][0]["AddressIp"]
    lb = Balancer(capi, [iid], check=FAST_CHECK)
    lb.wait_health({iid: "Alive"})

    page.goto(f"/console/#/instances/{iid}")
    expect(page.locator("h1")).to_contain_text("detailed")
    disks = page.locator('[data-section="sec-disks"]')
    expect(disks.locator("tbody tr")).to_have_count(2)
    expect(disks).to_contain_text("50 GiB")
    expect(disks).to_contain_text("100 GiB")
    expect(page.locator('[data-section="sec-network"]')).to_contain_text(ip)
    expect(page.locator('[data-section="sec-network"]')).to_contain_text(eip)
    lbs = page.locator('[data-section="sec-lbs"]')
    expect(lbs).to_contain_text(lb.lb)
    expect(lbs.locator('[data-status="Alive"]')).to_be_visible()
    expect(page.locator('[data-section="sec-as"]')).to_contain_text("Not in an Auto Scaling group")
    expect(page.locator('[data-section="sec-log"]')).to_contain_text("RunInstances")
    expect(page.locator('[data-section="sec-log"]')).to_contain_text("ClbHealthChanged")
    expect(page.locator('.detail-head [data-key$=":stop"]')).not_to_have_attribute("aria-disabled", "true")
    shot(page, "instance-detail", full_page=True)


def test_load_balancers_page_shows_live_health_and_counters(page: Any, capi: Api) -> None:
    ids = capi.run(2, InstanceName="lbtarget")
    lb = Balancer(capi, ids, check=FAST_CHECK)
    lb.wait_health(dict.fromkeys(ids, "Alive"))
    with httpx.Client() as client:
        for _ in range(6):
            lb.get(client)
    page.goto("/console/#/lb")
    section = page.locator(f'section[data-lb="{lb.lb}"]')
    for iid in ids:
        target = section.locator(f'tr[data-target="{iid}"]')
        expect(target.locator('[data-role=health] [data-status="Alive"]')).to_be_visible()
        expect(target.locator("[data-role=requests]")).to_have_text("3")
    expect(section).to_contain_text("HTTP:8000")
    shot(page, "load-balancers", full_page=True)

    capi.cvm("StopInstances", InstanceIds=ids[:1], StopType="HARD")  # the health check sees it go, live
    expect(section.locator(f'tr[data-target="{ids[0]}"] [data-role=health] [data-status="Dead"]')).to_be_visible()

    section.locator(f'tr[data-target="{ids[1]}"]').get_by_role("button", name="Deregister").click()
    dialog(page).get_by_role("button", name="Deregister").click()
    expect(section.locator(f'tr[data-target="{ids[1]}"]')).to_have_count(0)
    targets = capi.call("clb", "DescribeTargets", LoadBalancerId=lb.lb)["Listeners"][0]["Rules"][0]["Targets"]
    assert [t["InstanceId"] for t in targets] == [ids[0]]

    section.get_by_role("button", name="Delete load balancer").click()
    dialog(page).get_by_role("button", name="Delete").click()
    expect(section).to_have_count(0)
    assert lb.lb not in {b["LoadBalancerId"] for b in capi.call("clb", "DescribeLoadBalancers")["LoadBalancerSet"]}


def test_auto_scaling_page_and_desired_capacity(page: Any, capi: Api) -> None:
    group = Group(capi, size=2)
    members = group.wait_in_service(2)
    page.goto("/console/#/as")
    section = page.locator(f'section[data-group="{group.id}"]')
    expect(section.locator("tr[data-instance]")).to_have_count(2)
    expect(section.locator('tr[data-instance] [data-status="IN_SERVICE"]')).to_have_count(2)
    expect(section.locator('tr[data-instance] [data-status="HEALTHY"]')).to_have_count(2)
    expect(section).to_contain_text("Scale out")
    shot(page, "auto-scaling", full_page=True)

    section.get_by_role("button", name="Change desired capacity").click()
    dialog(page).get_by_label("Desired capacity").fill("3")
    dialog(page).locator("[data-role=submit]").click()
    expect(dialog(page)).to_have_count(0)
    assert group.group()["DesiredCapacity"] == 3
    expect(section.locator('[data-size="desired"] dd')).to_have_text("3")
    group.wait_in_service(3)
    expect(section.locator('tr[data-instance] [data-status="IN_SERVICE"]')).to_have_count(3)

    member = sorted(members)[0]
    page.goto(f"/console/#/instances/{member}")
    expect(page.locator('[data-section="sec-as"]')).to_contain_text(group.id)
    expect(page.locator('[data-section="sec-as"] [data-status="IN_SERVICE"]')).to_be_visible()


def test_disks_page_attaches_detaches_and_terminates(page: Any, capi: Api) -> None:
    [iid] = capi.run(1, InstanceName="diskhost")
    disk = capi.call("cbs", "CreateDisks", Placement={"Zone": ZONE}, DiskChargeType="POSTPAID_BY_HOUR",
                     DiskType="CLOUD_PREMIUM", DiskSize=20, DiskName="scratch")["DiskIdSet"][0]

    def disk_state() -> str | None:
        found = capi.call("cbs", "DescribeDisks", DiskIds=[disk])["DiskSet"]
        return found[0]["DiskState"] if found else None

    capi.wait(lambda: disk_state() == "UNATTACHED")
    page.goto("/console/#/disks")
    line = page.locator(f'tr[data-disk="{disk}"]')
    expect(line).to_have_attribute("data-status", "UNATTACHED")
    system_disk = capi.instance(iid)["SystemDisk"]["DiskId"]
    expect(page.locator(f'tr[data-disk="{system_disk}"]')).to_contain_text("Goes with its instance")
    shot(page, "disks", full_page=True)

    line.get_by_role("button", name="Attach").click()
    dialog(page).get_by_label("Instance").select_option(iid)
    dialog(page).locator("[data-role=submit]").click()
    expect(line).to_have_attribute("data-status", "ATTACHED")
    assert capi.call("cbs", "DescribeDisks", DiskIds=[disk])["DiskSet"][0]["InstanceId"] == iid

    line.get_by_role("button", name="Detach").click()
    dialog(page).get_by_role("button", name="Detach").click()
    expect(line).to_have_attribute("data-status", "UNATTACHED")
    line.get_by_role("button", name="Terminate").click()
    dialog(page).get_by_role("button", name="Terminate").click()
    expect(line).to_have_count(0)
    assert disk_state() is None


def test_eips_page_unbinds_and_releases(page: Any, capi: Api) -> None:
    [iid] = capi.run(1, InstanceName="eiphost")
    eip = capi.call("vpc", "AllocateAddresses", AddressCount=1)["AddressSet"][0]

    def status() -> str | None:
        found = capi.call("vpc", "DescribeAddresses", AddressIds=[eip])["AddressSet"]
        return found[0]["AddressStatus"] if found else None

    capi.wait(lambda: status() == "UNBIND")
    capi.call("vpc", "AssociateAddress", AddressId=eip, InstanceId=iid)
    capi.wait(lambda: status() == "BIND")
    page.goto("/console/#/eips")
    line = page.locator(f'tr[data-eip="{eip}"]')
    expect(line).to_have_attribute("data-status", "BIND")
    expect(line).to_contain_text(iid)
    shot(page, "eips", full_page=True)

    line.get_by_role("button", name="Unbind").click()
    dialog(page).get_by_role("button", name="Unbind").click()
    expect(line).to_have_attribute("data-status", "UNBIND")
    assert status() == "UNBIND" and not capi.call("vpc", "DescribeAddresses", AddressIds=[eip])["AddressSet"][0]["InstanceId"]
    line.get_by_role("button", name="Release").click()
    dialog(page).get_by_role("button", name="Release").click()
    expect(line).to_have_count(0)
    capi.wait(lambda: status() is None)


# ---- the picture in the README ------------------------------------------------------------------------------


def test_instances_page_screenshots(contexts: Any, console_server: ServerProcess) -> None:
    """A fresh account with a small, realistic fleet, one instance caught shutting down."""
    out = console_server.run_cli("accounts", "create", "demo").stdout
    secret_id = re.search(r"SecretId:\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    secret_key = re.search(r"SecretKey:\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    demo = Api(console_server.endpoint, secret_id, secret_key)
    public = {"InternetAccessible": {"PublicIpAssigned": True, "InternetMaxBandwidthOut": 10}}
    web = demo.run(2, InstanceName="web", **public)
    [db] = demo.run(1, InstanceName="db", InstanceType="S5.LARGE8", DataDisks=[{"DiskSize": 200, "DiskType": "CLOUD_SSD"}])
    [batch] = demo.run(1, InstanceName="batch", InstanceType="S5.2XLARGE16")
    [cache] = demo.run(1, InstanceName="cache", InstanceType="S5.SMALL2", **public)
    eip = demo.call("vpc", "AllocateAddresses", AddressCount=1)["AddressSet"][0]
    demo.wait(lambda: demo.call("vpc", "DescribeAddresses", AddressIds=[eip])["AddressSet"][0]["AddressStatus"] == "UNBIND")
    demo.call("vpc", "AssociateAddress", AddressId=eip, InstanceId=db)
    stop(demo, [batch])

    tab = contexts().new_page()
    sign_in(tab, secret_id, secret_key)
    expect(tab.locator("table.instances tbody tr[data-id]")).to_have_count(5)
    expect(tab.locator(".tag-eip")).to_have_count(1)
    row(tab, web[0]).locator(".col-select input").check()
    row(tab, cache).get_by_role("button", name="Shutdown", exact=True).click()
    dialog(tab).locator("[data-role=confirm]").click()
    expect(state_of(tab, cache)).to_have_attribute("data-state", "STOPPING")
    dialog(tab).locator(".dialog-footer").get_by_role("button", name="Close").click()
    tab.mouse.move(0, 0)
    shot(tab, "instances")
    if os.environ.get("MINICVM_UPDATE_DOCS") == "1":
        DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "instances.png", DOCS_SHOT)
    tab.set_viewport_size(NARROW)
    shot(tab, "instances-narrow")
    expect(state_of(tab, cache)).to_have_attribute("data-state", "STOPPED")


# ---- layout: every row action within reach ------------------------------------------------------------------


@pytest.mark.parametrize("width", [1366, 1280, 1024, 390])
def test_every_row_action_is_visible_without_horizontal_scroll(contexts: Any, signed_in: str, capi: Api,
                                                               width: int) -> None:
    public = {"InternetAccessible": {"PublicIpAssigned": True, "InternetMaxBandwidthOut": 10}}
    ids = capi.run(2, InstanceName=f"fit-{width}-frontend-web-server", InstanceType="S5.2XLARGE16", **public)
    tab = contexts(storage_state=signed_in, viewport={"width": width, "height": 800}).new_page()
    show_instances(tab, f"fit-{width}", 2)
    # A row is drawn anew when its instance changes state; measure the settled rows, not ones being replaced.
    capi.wait_state(ids, "RUNNING")
    for iid in ids:
        expect(state_of(tab, iid)).to_have_attribute("data-state", "RUNNING")
    overflow = tab.evaluate("""() => {
        const wrap = document.querySelector('.table-wrap');
        return [document.documentElement.scrollWidth - document.documentElement.clientWidth,
                wrap.scrollWidth - wrap.clientWidth];
    }""")
    shot(tab, f"instances-{width}")
    assert overflow == [0, 0], f"horizontal overflow at {width} px (page, table): {overflow}"
    for iid in ids:
        for name in ("Start", "Shutdown", "Restart", "More"):
            button = row(tab, iid).get_by_role("button", name=name, exact=True)
            expect(button).to_be_visible()
            box = button.bounding_box()
            assert box is not None, (width, iid, name)
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, iid, name, box)
