"""One lifecycle, three readers: the table the console is served, the API's refusals (through the real
API) and the states the runner actually enters and ends in agree for every CVM instance action × state."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Callable
from typing import Any

import httpx

from minicvm.domain import lifecycle as lc
from minicvm.domain.states import STORED_STATES, ChargeType, InstanceState
from tests.support.client import Api, SdkError
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess

S = InstanceState
IGNORE_ACPI = base64.b64encode(b"minicvm_ignore_power_button: true\n").decode()
PREPAID = {"InstanceChargeType": "PREPAID", "InstanceChargePrepaid": {"Period": 1}}
CVM_ACTIONS = [lc.Action.START, lc.Action.STOP, lc.Action.REBOOT, lc.Action.TERMINATE, lc.Action.RESET_TYPE,
               lc.Action.RESIZE_DISKS, lc.Action.RESET_PASSWORD, lc.Action.BIND_KEYS, lc.Action.UNBIND_KEYS,
               lc.Action.MODIFY_ATTRIBUTE]
FORCE_STOP = {lc.Action.RESET_TYPE, lc.Action.RESIZE_DISKS, lc.Action.RESET_PASSWORD, lc.Action.BIND_KEYS,
              lc.Action.UNBIND_KEYS}


class Console:
    """A signed-in console session over plain HTTP: the served table, and the live event stream."""

    def __init__(self, server: ServerProcess) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30)
        page = self.http.get("/console/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        self.http.post("/console/login", data={"csrf": csrf, "SecretId": SECRET_ID, "SecretKey": SECRET_KEY})
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        threading.Thread(target=self._listen, daemon=True).start()
        assert self._ready.wait(10), "the console's event stream did not open"

    def table(self) -> dict[str, Any]:
        response = self.http.get("/console/api/lifecycle")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def _listen(self) -> None:
        try:
            with self.http.stream("GET", "/console/api/events", timeout=None) as stream:
                self._ready.set()
                for line in stream.iter_lines():
                    if line.startswith("data: "):
                        with self._lock:
                            self.events.append(json.loads(line[6:]))
        except httpx.HTTPError:
            pass  # the test is over and closed the client

    def mark(self) -> int:
        with self._lock:
            return len(self.events)

    def states_of(self, instance_id: str, since: int) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events[since:] if e.get("instance_id") == instance_id]

    def close(self) -> None:
        self.http.close()


class Calls:
    """Each CVM action with valid parameters, so that only the instance's state can refuse it."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.key_id = api.cvm("CreateKeyPair", KeyName="agreement", ProjectId=0)["KeyPair"]["KeyId"]

    def params(self, action: str, instance_id: str, forced: bool, disk_size: int = 100) -> dict[str, Any]:
        ids = {"InstanceIds": [instance_id]}
        extra: dict[str, Any] = {
            lc.Action.RESET_TYPE: {"InstanceType": "S5.LARGE8"},
            lc.Action.RESIZE_DISKS: {"SystemDisk": {"DiskSize": disk_size}},
            lc.Action.RESET_PASSWORD: {"Password": "Agree-Pass-2024"},
            lc.Action.BIND_KEYS: {"KeyIds": [self.key_id]},
            lc.Action.UNBIND_KEYS: {"KeyIds": [self.key_id]},
            lc.Action.MODIFY_ATTRIBUTE: {"InstanceName": "agreement"},
        }.get(action, {})
        if action == lc.Action.RESIZE_DISKS:
            ids = {"InstanceId": instance_id}  # type: ignore[dict-item]
        return {**ids, **extra, **({"ForceStop": True} if forced else {})}

    def refused(self, action: str, instance_id: str) -> SdkError:
        return self.api.error("cvm", action, **self.params(action, instance_id, forced=False))

    def call(self, action: str, instance_id: str, forced: bool) -> str:
        disk = self.api.instance(instance_id)["SystemDisk"]["DiskSize"] + 10
        return self.api.cvm(action, **self.params(action, instance_id, forced, disk))["RequestId"]  # type: ignore[no-any-return]


def _state(api: Api, instance_id: str) -> str | None:
    found = api.instances([instance_id])
    return found[instance_id]["InstanceState"] if found else None


def _launch_failed(api: Api) -> str:
    """An instance whose guest cannot listen on its address (something else holds it) fails to launch."""
    (first,) = api.run(1)
    host, port = api.instance(first)["GuestAddress"].rsplit(":", 1)
    parts = host.split(".")
    blocker = socket.socket()
    blocker.bind((".".join(parts[:3] + [str(int(parts[3]) + 1)]), int(port)))  # the next instance's address
    blocker.listen(1)
    try:
        (failed,) = api.run(1, wait=False)
        api.wait_state([failed], S.LAUNCH_FAILED)
    finally:
        blocker.close()
    return failed


def _check_refusals(calls: Calls, table: dict[str, Any], state: str, instance_id: str,
                    enter: Callable[[], None] | None = None) -> None:
    if enter is not None:
        enter()
    assert _state(calls.api, instance_id) == state
    for action in CVM_ACTIONS:
        entry = table["Actions"][action]["ByState"][state]
        if entry["Allowed"]:
            continue
        err = calls.refused(action, instance_id)
        assert err.code == entry["Code"], (action, state, err.message)
        assert f"{instance_id}: {entry['Reason']}" in err.message, (action, state, err.message)
    # Every call above met the instance in this state.
    assert _state(calls.api, instance_id) == state, f"{state} ended before the refusals were all asked"


def test_console_table_api_refusals_and_runner_agree(make_server) -> None:
    srv: ServerProcess = make_server(boot_seconds=2.5, shutdown_seconds=2.5, soft_stop_timeout=8)
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    console = Console(srv)
    try:
        table = console.table()
        # The console is served the domain's table, not a copy of it.
        assert table == json.loads(json.dumps(lc.table()))
        assert set(table["States"]) == set(STORED_STATES)
        calls = Calls(api)

        # ---- refusals: an instance in each state, every action the table refuses there ----------------
        launch_failed = _launch_failed(api)
        running, to_start, to_terminate = api.run(3)
        hung_stop, hung_reboot = api.run(2, UserData=IGNORE_ACPI)  # SOFT stops keep them going for a while
        (prepaid,) = api.run(1, **PREPAID)
        api.cvm("StopInstances", InstanceIds=[to_start], StopType="HARD")
        api.cvm("TerminateInstances", InstanceIds=[prepaid])
        api.wait_state([to_start], S.STOPPED)
        api.wait_state([prepaid], S.SHUTDOWN)
        _check_refusals(calls, table, S.RUNNING, running)
        _check_refusals(calls, table, S.STOPPED, to_start)
        _check_refusals(calls, table, S.SHUTDOWN, prepaid)
        _check_refusals(calls, table, S.LAUNCH_FAILED, launch_failed)
        (pending,) = api.run(1, wait=False)
        _check_refusals(calls, table, S.PENDING, pending)
        _check_refusals(calls, table, S.STARTING, to_start,
                        enter=lambda: api.cvm("StartInstances", InstanceIds=[to_start]))
        _check_refusals(calls, table, S.STOPPING, hung_stop,
                        enter=lambda: api.cvm("StopInstances", InstanceIds=[hung_stop], StopType="SOFT"))
        _check_refusals(calls, table, S.REBOOTING, hung_reboot,
                        enter=lambda: api.cvm("RebootInstances", InstanceIds=[hung_reboot], StopType="SOFT"))
        _check_refusals(calls, table, S.TERMINATING, to_terminate,
                        enter=lambda: api.cvm("TerminateInstances", InstanceIds=[to_terminate]))

        # ---- accepted: the state entered at once and the state ended in, as the runner reports them ----
        cases: list[tuple[str, str, str, bool]] = []  # action, state, charge, ForceStop
        for action in CVM_ACTIONS:
            for state in STORED_STATES:
                entry = table["Actions"][action]["ByState"][state]
                if not (entry["Allowed"] or entry["ForceStopAllowed"]):
                    continue
                charges = [ChargeType.POSTPAID_BY_HOUR]
                if action == lc.Action.TERMINATE:
                    charges = {S.SHUTDOWN: [ChargeType.PREPAID], S.LAUNCH_FAILED: [ChargeType.POSTPAID_BY_HOUR]}.get(
                        state, list(ChargeType))
                cases += [(action, state, charge, not entry["Allowed"]) for charge in charges]
        seen = {(a, s) for a, s, _, _ in cases}
        assert seen == {(a, s) for a in CVM_ACTIONS for s in STORED_STATES
                        if lc.refusal(a, "", s, None, forced=True) is None}
        instances = _instances_in(api, cases, launch_failed)
        requests, marks = {}, {}
        for case, instance_id in zip(cases, instances, strict=True):
            action, _, _, forced = case
            marks[instance_id] = console.mark()
            requests[instance_id] = calls.call(action, instance_id, forced)
        for case, instance_id in zip(cases, instances, strict=True):
            action, state, charge, _ = case
            outcome = table["Actions"][action]["ByState"][state]["Outcomes"][charge]
            final = api.wait(lambda i=instance_id: _settled(api, i, requests[i]), timeout=60)
            assert final == outcome["Final"], (case, final, outcome)
            if outcome["Steps"]:
                # The store says done; the event saying so may still be on its way.
                events = api.wait(lambda c=case, i=instance_id: _events_of_operation(console, c[0], i, marks[i]))
                assert events[0]["state"] == outcome["Transitional"], (case, events)
                # The last step reports the state it ends in; an Apply keeps the state it found.
                done = [e["state"] for e in events if e.get("operation_state") == "SUCCESS"]
                assert done == ["" if outcome["Steps"][-1] == "Apply" else outcome["Final"]], (case, events)
            else:
                # Nothing to carry out (a new name): the instance does not move.
                assert outcome["Transitional"] == outcome["Final"] == state
    finally:
        console.close()


def _instances_in(api: Api, cases: list[tuple[str, str, str, bool]], launch_failed: str) -> list[str]:
    """One instance per case, in the case's state and of its charge type."""
    wanted = {(s, c) for _, s, c, _ in cases}
    made: dict[tuple[str, str], list[str]] = {}
    for state, charge in wanted:
        count = sum(1 for _, s, c, _ in cases if (s, c) == (state, charge))
        if state == S.LAUNCH_FAILED:
            made[(state, charge)] = [launch_failed] + [_launch_failed(api) for _ in range(count - 1)]
            continue
        made[(state, charge)] = api.run(count, **(PREPAID if charge == ChargeType.PREPAID else {}))
    for (state, _), ids in made.items():
        if state == S.STOPPED:
            api.cvm("StopInstances", InstanceIds=ids, StopType="HARD")
        elif state == S.SHUTDOWN:
            api.cvm("TerminateInstances", InstanceIds=ids)
    for (state, _), ids in made.items():
        api.wait_state(ids, state)
    return [made[(s, c)].pop() for _, s, c, _ in cases]


def _events_of_operation(console: Console, action: str, instance_id: str, since: int) -> list[dict[str, Any]] | None:
    """The events of the operation `action` started on the instance after `since`, once it finished: from its
    first (the state it was accepted into; an earlier event is the preparation's, delivered late)."""
    events = console.states_of(instance_id, since)
    start = next((n for n, e in enumerate(events)
                  if e.get("action") == action and e.get("operation_state") == "OPERATING"), None)
    if start is None or not any(e.get("operation_state") == "SUCCESS" for e in events[start:]):
        return None
    return events[start:]


def _settled(api: Api, instance_id: str, request_id: str) -> str | None:
    found = api.instances([instance_id])
    if not found:
        return S.TERMINATED
    inst = found[instance_id]
    if inst["LatestOperationRequestId"] != request_id or inst["LatestOperationState"] == "OPERATING":
        return None
    assert inst["LatestOperationState"] == "SUCCESS", inst
    return inst["InstanceState"]  # type: ignore[no-any-return]
