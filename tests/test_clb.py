"""CLB through the API with real traffic: a health check takes a stopped target out of rotation, without
one its share of requests gets 502, and minicvm's opt-in drain makes a planned stop lose no request."""

from __future__ import annotations

import socket
import time
from collections import Counter

import httpx
import pytest

from tests.support.clb import FAST_CHECK, NO_CHECK, Balancer, clb, failures, load, settled
from tests.support.client import Api
from tests.support.server import SECRET_ID, SECRET_KEY

METRICS_TOKEN = "metrics-test-token"


@pytest.fixture(scope="module")
def clb_server(tmp_path_factory, backend):
    from tests.support.server import ServerProcess

    # Health-check seconds run ten times faster here; the API still takes Tencent's ranges.
    srv = ServerProcess(tmp_path_factory.mktemp(f"clb-{backend}"), backend, clb_time_scale=0.1,
                        shutdown_seconds=0.5, soft_stop_timeout=5, metrics_token=METRICS_TOKEN).start()
    yield srv
    srv.close()
    srv.assert_clean_log()


@pytest.fixture(scope="module")
def capi(clb_server) -> Api:
    return Api(clb_server.endpoint, SECRET_ID, SECRET_KEY)


def test_traffic_spreads_by_weight(capi: Api) -> None:
    ids = capi.run(3)
    lb = Balancer(capi, ids, check=FAST_CHECK, weights=[10, 20, 30])
    lb.wait_health(dict.fromkeys(ids, "Alive"))
    with httpx.Client() as client:
        seen = Counter(lb.get(client) for _ in range(120))
    assert seen[ids[0]] == 20 and seen[ids[1]] == 40 and seen[ids[2]] == 60
    targets = clb(capi, "DescribeTargets", LoadBalancerId=lb.lb)["Listeners"][0]
    assert targets["Targets"] == [] and len(targets["Rules"][0]["Targets"]) == 3
    metrics = httpx.get(f"http://{capi.endpoint}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    assert f'target="{ids[2]}:80"' in metrics and "minicvm_clb_requests_total" in metrics
    # Without the token: totals only, no account's resource ids.
    public = httpx.get(f"http://{capi.endpoint}/metrics").text
    assert "minicvm_clb_requests_total" in public
    assert not any(resource in public for resource in (*ids, lb.lb, "lbl-", "ins-")), public
    lb.delete()


def test_tcp_listener_splices_bytes_and_reports_l4_health_in_one_rule(capi: Api) -> None:
    ids = capi.run(2)
    lb = Balancer(capi, ids, protocol="TCP", check={**FAST_CHECK, "CheckType": "TCP"})
    lb.wait_health(dict.fromkeys(ids, "Alive"))
    # L4 balances connections, not requests: each request on a connection of its own.
    assert {lb.get(httpx.Client()) for _ in range(10)} == set(ids)
    listener = clb(capi, "DescribeListeners", LoadBalancerId=lb.lb)["Listeners"][0]
    assert listener["HealthCheck"]["IntervalTime"] == 3 and listener["Rules"] == []
    capi.cvm("StopInstances", InstanceIds=ids[:1], StopType="HARD")
    capi.wait_state(ids[:1], "STOPPED")
    lb.wait_health({ids[0]: "Dead", ids[1]: "Alive"})
    assert {lb.get(httpx.Client()) for _ in range(10)} == {ids[1]}
    lb.delete()


def test_health_check_takes_a_stopped_backend_out_and_brings_it_back(capi: Api) -> None:
    ids = capi.run(3)
    lb = Balancer(capi, ids, check=FAST_CHECK)
    lb.wait_health(dict.fromkeys(ids, "Alive"))
    url = f"http://{lb.vip}:{lb.port}/"
    with load(url) as outcomes:
        time.sleep(0.3)
        capi.cvm("StopInstances", InstanceIds=ids[:1], StopType="HARD")
        lb.wait_health({ids[0]: "Dead"})
        during = settled(outcomes)
        time.sleep(1.0)
        after = failures(outcomes)
    assert after == during, "once the target is Dead no request fails"
    assert outcomes["ok"] > 0
    health = clb(capi, "DescribeTargetHealth", LoadBalancerIds=[lb.lb])["LoadBalancers"][0]
    dead = next(t for t in health["Listeners"][0]["Rules"][0]["Targets"] if t["TargetId"] == ids[0])
    assert dead["HealthStatus"] is False and dead["HealthStatusDetail"] == "Dead"
    capi.cvm("StartInstances", InstanceIds=ids[:1])
    capi.wait_state(ids[:1], "RUNNING")
    lb.wait_health({ids[0]: "Alive"})
    lb.delete()


def test_without_health_check_a_stopped_backend_gives_502(capi: Api) -> None:
    ids = capi.run(3)
    lb = Balancer(capi, ids, check=NO_CHECK)
    assert set(lb.health().values()) == {"Close"}
    capi.cvm("StopInstances", InstanceIds=ids[:1], StopType="HARD")
    capi.wait_state(ids[:1], "STOPPED")
    with httpx.Client() as client:
        codes = Counter(client.get(f"http://{lb.vip}:{lb.port}/").status_code for _ in range(30))
    assert codes[502] == 10 and codes[200] == 20
    lb.delete()


def test_tcp_without_health_check_closes_the_connection(capi: Api) -> None:
    ids = capi.run(1)
    lb = Balancer(capi, ids, protocol="TCP", check=NO_CHECK)
    capi.cvm("StopInstances", InstanceIds=ids, StopType="HARD")
    capi.wait_state(ids, "STOPPED")
    with socket.create_connection((lb.vip, lb.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100) == b""  # closed without an answer
    lb.delete()


@pytest.mark.parametrize("stop_type", ["SOFT", "HARD"])
@pytest.mark.parametrize("check", [FAST_CHECK, NO_CHECK], ids=["health-check", "no-health-check"])
def test_drain_makes_a_planned_stop_lose_nothing(capi: Api, stop_type: str, check: dict) -> None:
    ids = capi.run(3)
    lb = Balancer(capi, ids, check=check, tags=[{"TagKey": "minicvm:drain-seconds", "TagValue": "5"}])
    if check["HealthSwitch"]:
        lb.wait_health(dict.fromkeys(ids, "Alive"))
    with load(f"http://{lb.vip}:{lb.port}/") as outcomes:
        time.sleep(0.3)
        capi.cvm("StopInstances", InstanceIds=ids[:1], StopType=stop_type)
        capi.wait_state(ids[:1], "STOPPED")
        time.sleep(0.3)
        capi.cvm("StartInstances", InstanceIds=ids[:1])
        capi.wait_state(ids[:1], "RUNNING")
        if check["HealthSwitch"]:
            lb.wait_health({ids[0]: "Alive"})
        time.sleep(0.3)
    assert failures(outcomes) == 0, outcomes
    assert outcomes["ok"] > 50
    with httpx.Client() as client:
        assert ids[0] in {lb.get(client) for _ in range(12)}  # rejoined
    lb.delete()


def test_deregister_and_weight_zero_take_a_target_out(capi: Api) -> None:
    ids = capi.run(3)
    lb = Balancer(capi, ids, check=NO_CHECK)
    clb(capi, "ModifyTargetWeight", Targets=[{"InstanceId": ids[0], "Port": 80}], Weight=0, **lb.where)
    clb(capi, "DeregisterTargets", Targets=[{"InstanceId": ids[1], "Port": 80}], **lb.where)
    with httpx.Client() as client:
        assert {lb.get(client) for _ in range(12)} == {ids[2]}
    described = clb(capi, "DescribeTargets", LoadBalancerId=lb.lb)["Listeners"][0]["Rules"][0]["Targets"]
    assert {(t["InstanceId"], t["Weight"]) for t in described} == {(ids[0], 0), (ids[2], 10)}
    lb.delete()


def test_all_dead_fails_open(capi: Api) -> None:
    # Every target fails its check (only 5xx counts as healthy) but serves "/": fail-open keeps traffic flowing.
    ids = capi.run(2)
    lb = Balancer(capi, ids, check={**FAST_CHECK, "HttpCode": 16})
    lb.wait_health(dict.fromkeys(ids, "Dead"))
    with httpx.Client() as client:
        assert {lb.get(client) for _ in range(10)} == set(ids)
    lb.delete()


def test_deleting_a_load_balancer_releases_its_sockets(capi: Api) -> None:
    ids = capi.run(1)
    lb = Balancer(capi, ids, check=NO_CHECK, port=8100)
    with httpx.Client() as client:
        assert lb.get(client) == ids[0]
    lb.delete()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((lb.vip, 8100))  # free again


def test_sockets_released_when_the_server_stops(make_server) -> None:
    srv = make_server()
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    ids = api.run(1)
    lb = Balancer(api, ids, check=NO_CHECK, port=8200)
    srv.stop()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((lb.vip, 8200))


@pytest.mark.parametrize(("action", "params", "code"), [
    ("CreateListener", {"Ports": [70000], "Protocol": "HTTP"}, "InvalidParameter.PortCheckFailed"),
    ("CreateListener", {"Ports": [81], "Protocol": "SCTP"}, "InvalidParameterValue"),
    ("CreateListener", {"Ports": [82], "Protocol": "HTTP", "HealthCheck": {"HealthSwitch": 1}}, "InvalidParameter"),
    ("CreateListener", {"Ports": [83], "Protocol": "TCP", "HealthCheck": {"TimeOut": 1}}, "InvalidParameterValue.Range"),
    ("CreateListener", {"Ports": [84], "Protocol": "TCP", "HealthCheck": {"IntervalTime": 301}},
     "InvalidParameterValue.Range"),
    ("CreateListener", {"Ports": [85], "Protocol": "TCP", "HealthCheck": {"HealthNum": 11}}, "InvalidParameterValue.Range"),
    ("CreateListener", {"Ports": [86], "Protocol": "TCP", "HealthCheck": {"TimeOut": 5, "IntervalTime": 5}},
     "InvalidParameterValue"),
    ("CreateListener", {"Ports": [87], "Protocol": "TCP", "HealthCheck": {"CheckType": "HTTP"}}, "InvalidParameterValue"),
    ("CreateListener", {"Ports": [88], "Protocol": "TCP", "Scheduler": "RANDOM"}, "InvalidParameterValue"),
])
def test_bad_listener_parameters(capi: Api, action: str, params: dict, code: str) -> None:
    lb = clb(capi, "CreateLoadBalancer", LoadBalancerType="OPEN")["LoadBalancerIds"][0]
    assert capi.error("clb", action, LoadBalancerId=lb, **params).code == code
    assert clb(capi, "DescribeListeners", LoadBalancerId=lb)["TotalCount"] == 0
    clb(capi, "DeleteLoadBalancer", LoadBalancerIds=[lb])


def test_clb_errors_and_tasks(capi: Api) -> None:
    assert capi.error("clb", "DescribeListeners", LoadBalancerId="lb-zzzzzzzz").code == "InvalidParameter.LBIdNotFound"
    assert capi.error("clb", "DescribeListeners", LoadBalancerId="nope").code == "InvalidParameter.FormatError"
    made = capi.client("clb").call_json("CreateLoadBalancer", {"LoadBalancerType": "OPEN"})["Response"]
    status = clb(capi, "DescribeTaskStatus", TaskId=made["RequestId"])
    assert status["Status"] == 0 and status["LoadBalancerIds"] == made["LoadBalancerIds"]
    lb = made["LoadBalancerIds"][0]
    listener = clb(capi, "CreateListener", LoadBalancerId=lb, Ports=[9000], Protocol="HTTP")["ListenerIds"][0]
    assert capi.error("clb", "CreateListener", LoadBalancerId=lb, Ports=[9000],
                      Protocol="TCP").code == "InvalidParameter.PortCheckFailed"
    assert capi.error("clb", "RegisterTargets", LoadBalancerId=lb, ListenerId=listener,
                      Targets=[{"InstanceId": "ins-zzzzzzzz", "Port": 80}], Url="/x").code == "InvalidParameter.LocationNotFound"
    loc = clb(capi, "CreateRule", LoadBalancerId=lb, ListenerId=listener, Rules=[{"Url": "/"}])["LocationIds"][0]
    assert capi.error("clb", "RegisterTargets", LoadBalancerId=lb, ListenerId=listener, LocationId=loc,
                      Targets=[{"InstanceId": "ins-zzzzzzzz", "Port": 80}]).code == "InvalidParameter"
    ids = capi.run(1)
    too_many = [{"InstanceId": ids[0], "Port": p} for p in range(1, 22)]
    assert capi.error("clb", "RegisterTargets", LoadBalancerId=lb, ListenerId=listener, LocationId=loc,
                      Targets=too_many).code == "LimitExceeded"
    clb(capi, "RegisterTargets", LoadBalancerId=lb, ListenerId=listener, LocationId=loc,
        Targets=[{"InstanceId": ids[0], "Port": 80}])
    assert capi.error("clb", "RegisterTargets", LoadBalancerId=lb, ListenerId=listener, LocationId=loc,
                      Targets=[{"InstanceId": ids[0], "Port": 80}]).code == "InvalidParameterValue.Duplicate"
    assert capi.error("clb", "CreateLoadBalancer", LoadBalancerType="OPEN",
                      Tags=[{"TagKey": "minicvm:drain-seconds", "TagValue": "soon"}]).code == "InvalidParameterValue"
    # Terminating an instance takes it out of every load balancer.
    capi.cvm("TerminateInstances", InstanceIds=ids)
    capi.wait_gone(ids)
    capi.wait(lambda: not clb(capi, "DescribeTargets", LoadBalancerId=lb)["Listeners"][0]["Rules"][0]["Targets"])
    clb(capi, "DeleteLoadBalancer", LoadBalancerIds=[lb])


def test_drain_is_per_load_balancer(capi: Api) -> None:
    # Behind two load balancers, only the one tagged for drain drains; the other, without health checks,
    # sends the stopped target its share of requests, which get 502.
    ids = capi.run(2)
    drained = Balancer(capi, ids, check=NO_CHECK, tags=[{"TagKey": "minicvm:drain-seconds", "TagValue": "5"}])
    plain = Balancer(capi, ids, check=NO_CHECK, port=8001)
    with load(f"http://{drained.vip}:{drained.port}/") as on_drained:
        time.sleep(0.2)
        capi.cvm("StopInstances", InstanceIds=ids[:1], StopType="HARD")
        capi.wait_state(ids[:1], "STOPPED")
        time.sleep(0.2)
    assert failures(on_drained) == 0, on_drained
    with httpx.Client() as client:
        codes = Counter(client.get(f"http://{plain.vip}:{plain.port}/").status_code for _ in range(10))
    assert codes[502] == 5 and codes[200] == 5
    drained.delete()
    plain.delete()
