"""A HARD stop is visible: the instance shows STOPPING for --hard-stop-seconds before it is STOPPED, as
automation that waits for the transitional state expects; 0 makes it instant (what the benchmarks use)."""

from __future__ import annotations

import time

from tests.support.client import Api
from tests.support.server import SECRET_ID, SECRET_KEY


def _states_after_hard_stop(api: Api, instance_id: str) -> tuple[str, float]:
    """The state seen by the first poll after StopInstances(HARD), and how long until STOPPED."""
    began = time.monotonic()
    api.cvm("StopInstances", InstanceIds=[instance_id], StopType="HARD")
    first = api.cvm("DescribeInstancesStatus", InstanceIds=[instance_id])["InstanceStatusSet"][0]["InstanceState"]
    api.wait_state([instance_id], "STOPPED")
    return first, time.monotonic() - began


def test_hard_stop_shows_stopping_for_its_setting(make_server) -> None:
    server = make_server(hard_stop_seconds=0.6)
    api = Api(server.endpoint, SECRET_ID, SECRET_KEY)
    instance = api.run(1)[0]
    first, took = _states_after_hard_stop(api, instance)
    assert first == "STOPPING" and took >= 0.6
    assert api.instance(instance)["LatestOperationState"] == "SUCCESS"


def test_zero_makes_a_hard_stop_instant(make_server) -> None:
    server = make_server(hard_stop_seconds=0, shutdown_seconds=0, boot_seconds=0)
    api = Api(server.endpoint, SECRET_ID, SECRET_KEY)
    instance = api.run(1)[0]
    first, _ = _states_after_hard_stop(api, instance)
    assert first == "STOPPED"
