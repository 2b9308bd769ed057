"""Accounts never see each other's resources; kill -9 mid-batch is finished correctly on restart;
two concurrent calls on one instance: exactly one wins."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.client import Api, SdkError, other_account
from tests.support.server import SECRET_ID, SECRET_KEY

TRANSITIONAL = {"PENDING", "STARTING", "STOPPING", "REBOOTING", "TERMINATING"}


def test_accounts_are_isolated(server, api: Api) -> None:
    mine = api.run(1)
    theirs_api = other_account(server)
    assert theirs_api.cvm("DescribeInstances", InstanceIds=mine)["TotalCount"] == 0
    assert theirs_api.error("cvm", "StopInstances", InstanceIds=mine).code == "InvalidInstanceId.NotFound"
    assert theirs_api.error("cvm", "ResetInstancesType", InstanceIds=mine,
                            InstanceType="S5.LARGE8").code == "InvalidInstanceId.NotFound"
    theirs = theirs_api.run(1)
    assert api.cvm("DescribeInstances", InstanceIds=theirs)["TotalCount"] == 0
    assert theirs_api.cvm("DescribeInstances")["TotalCount"] == 1
    key = theirs_api.cvm("CreateKeyPair", KeyName="theirs", ProjectId=0)["KeyPair"]["KeyId"]
    assert api.cvm("DescribeKeyPairs", KeyIds=[key])["TotalCount"] == 0
    assert api.error("cvm", "DeleteKeyPairs", KeyIds=[key]).code == "InvalidKeyPairId.NotFound"
    assert api.instance(mine[0])["InstanceState"] == "RUNNING"


def test_kill_9_in_the_middle_of_a_batch_is_finished_on_restart(make_server) -> None:
    srv = make_server(boot_seconds=1.5, shutdown_seconds=3, soft_stop_timeout=20)
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    ids = api.run(12)
    url = "http://" + api.instance(ids[0])["GuestAddress"]
    httpx.put(url + "/disk/kept", content=b"yes")
    to_stop, to_start, to_reboot, keep = ids[:5], ids[5:8], ids[8:10], ids[10:]
    api.cvm("StopInstances", InstanceIds=to_start, StopType="HARD")
    api.wait_state(to_start, "STOPPED")
    launching = api.run(3, wait=False)
    api.cvm("StopInstances", InstanceIds=to_stop, StopType="SOFT")
    api.cvm("StartInstances", InstanceIds=to_start)
    api.cvm("RebootInstances", InstanceIds=to_reboot)
    states = {i["InstanceState"] for i in api.instances(ids + launching).values()}
    assert states & TRANSITIONAL, states
    srv.kill()
    srv.start()
    api.wait(lambda: not ({i["InstanceState"] for i in api.instances(ids + launching).values()} & TRANSITIONAL),
             timeout=60)
    final = api.instances(ids + launching)
    for i in to_stop:
        assert final[i]["InstanceState"] == "STOPPED" and final[i]["LatestOperationState"] == "SUCCESS"
    for i in to_start + to_reboot + launching + keep:
        assert final[i]["InstanceState"] == "RUNNING" and final[i]["LatestOperationState"] == "SUCCESS", final[i]
    # RUNNING instances came back after the "host reboot": the guests answer, disks kept.
    api.wait(lambda: _answers("http://" + final[keep[0]]["GuestAddress"]), timeout=30)
    api.cvm("StartInstances", InstanceIds=[ids[0]])
    api.wait_state([ids[0]], "RUNNING")
    assert httpx.get(url + "/disk/kept").content == b"yes"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_concurrent_calls_on_one_instance_exactly_one_wins(api: Api) -> None:
    ids = api.run(1)
    clients = [Api(api.endpoint, api.secret_id, api.secret_key) for _ in range(8)]

    def stop(client: Api) -> str:
        try:
            client.cvm("StopInstances", InstanceIds=ids, StopType="HARD")
            return "ok"
        except SdkError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(stop, clients))
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"UnsupportedOperation.InstanceStateStopping",
                                     "UnsupportedOperation.InstanceStateStopped",
                                     "OperationDenied.InstanceOperationInProgress"}
    api.wait_state(ids, "STOPPED")

    def start_or_stop(args: tuple[Api, str]) -> str:
        client, action = args
        try:
            client.cvm(action, InstanceIds=ids)
            return action
        except SdkError as exc:
            return exc.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(start_or_stop, [(c, "StartInstances") for c in clients]))
    assert results.count("StartInstances") == 1, results
    assert api.wait_state(ids, "RUNNING")
