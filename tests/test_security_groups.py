"""Security groups through the official SDK: groups and ordered rules as Tencent defines them, binding from
the CVM side, and rules that really filter: a guest refuses, with a reset and no answer, every connection
its groups do not accept, and a rule change holds for the next connection."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.support.clb import FAST_CHECK, Balancer
from tests.support.client import Api
from tests.support.server import SECRET_ID, SECRET_KEY

ALLOW_ALL = {"Protocol": "ALL", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}


@pytest.fixture(scope="module")
def sg_server(tmp_path_factory, backend):
    from tests.support.server import ServerProcess

    srv = ServerProcess(tmp_path_factory.mktemp(f"sg-{backend}"), backend, clb_time_scale=0.1).start()
    yield srv
    srv.close()
    srv.assert_clean_log()


@pytest.fixture(scope="module")
def sapi(sg_server) -> Api:
    return Api(sg_server.endpoint, SECRET_ID, SECRET_KEY)


def vpc(api: Api, action: str, **params) -> dict:
    return api.call("vpc", action, **params)


def group(api: Api, name: str, ingress: list[dict] | None = None, egress: list[dict] | None = None) -> str:
    policies = {"Ingress": ingress or [], "Egress": egress or []}
    made = vpc(api, "CreateSecurityGroupWithPolicies", GroupName=name, GroupDescription=f"{name} group",
               SecurityGroupPolicySet=policies)
    return made["SecurityGroup"]["SecurityGroupId"]


def policies(api: Api, group_id: str) -> dict:
    return vpc(api, "DescribeSecurityGroupPolicies", SecurityGroupId=group_id)["SecurityGroupPolicySet"]


def ingress(api: Api, group_id: str) -> list[tuple[str, str, str, str]]:
    return [(p["Protocol"], p["Port"], p["CidrBlock"] or p["SecurityGroupId"], p["Action"])
            for p in policies(api, group_id)["Ingress"]]


def answers(address: str, source: str | None = None) -> bool:
    """Whether the guest's web server answers an HTTP request on a new connection from `source` (a
    loopback address of this host; None: the host's own)."""
    host, port = address.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(3)
        if source is not None:
            sock.bind((source, 0))
        try:
            sock.connect((host, int(port)))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: guest\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
        except (ConnectionResetError, BrokenPipeError):
            return False


def guest_host(api: Api, instance_id: str) -> str:
    return api.instance(instance_id)["GuestAddress"].rsplit(":", 1)[0]


def test_default_group_and_run_instances(sapi: Api) -> None:
    listed = vpc(sapi, "DescribeSecurityGroups", Filters=[{"Name": "security-group-name", "Values": ["default"]}])
    default = listed["SecurityGroupSet"][0]
    assert listed["TotalCount"] == 1 and default["IsDefault"] is True and default["ProjectId"] == "0"
    assert default["SecurityGroupDesc"] == "System created security group"
    assert ingress(sapi, default["SecurityGroupId"]) == [("ALL", "ALL", "0.0.0.0/0", "ACCEPT")]
    ids = sapi.run(1)
    assert sapi.instance(ids[0])["SecurityGroupIds"] == [default["SecurityGroupId"]]
    assert sapi.error("vpc", "DeleteSecurityGroup", SecurityGroupId=default["SecurityGroupId"]).code == \
        "UnsupportedOperation"
    assert sapi.error("cvm", "RunInstances", Placement={"Zone": "ap-guangzhou-3"}, ImageId="img-eb30mz89",
                      SecurityGroupIds=["sg-zzzzzzzz"]).code == "InvalidSecurityGroupId.NotFound"
    sapi.cvm("TerminateInstances", InstanceIds=ids)


def test_rules_are_ordered_and_versioned(sapi: Api) -> None:
    made = vpc(sapi, "CreateSecurityGroup", GroupName="ordered", GroupDescription="rules in order")["SecurityGroup"]
    gid = made["SecurityGroupId"]
    assert made["IsDefault"] is False and policies(sapi, gid)["Version"] == "0"
    add = {"SecurityGroupId": gid}
    vpc(sapi, "CreateSecurityGroupPolicies", **add, SecurityGroupPolicySet={"Ingress": [
        {"Protocol": "TCP", "Port": "80", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"},
        {"Protocol": "udp", "Port": "8000-8010", "CidrBlock": "0.0.0.0/16", "Action": "drop"}]})
    # PolicyIndex 0 inserts at the top; the version goes up by one per change.
    vpc(sapi, "CreateSecurityGroupPolicies", **add, SecurityGroupPolicySet={"Version": "1", "Ingress": [
        {"PolicyIndex": 0, "Protocol": "TCP", "Port": "22,443", "SecurityGroupId": gid, "Action": "ACCEPT",
         "PolicyDescription": "from itself"}]})
    listed = policies(sapi, gid)
    assert listed["Version"] == "2" and [p["PolicyIndex"] for p in listed["Ingress"]] == [0, 1, 2]
    assert ingress(sapi, gid) == [("TCP", "22,443", gid, "ACCEPT"), ("TCP", "80", "10.0.0.0/8", "ACCEPT"),
                                  ("UDP", "8000-8010", "0.0.0.0/0", "DROP")]
    assert listed["PolicyStatistics"]["IngressIPv4TotalCount"] == 3
    assert sapi.error("vpc", "CreateSecurityGroupPolicies", **add, SecurityGroupPolicySet={"Version": "1", "Ingress": [
        {"Protocol": "ICMP", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}]}).code == "UnsupportedOperation.VersionMismatch"
    assert sapi.error("vpc", "CreateSecurityGroupPolicies", **add, SecurityGroupPolicySet={"Ingress": [
        {"Protocol": "TCP", "Port": "80", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"}]}).code == \
        "UnsupportedOperation.DuplicatePolicy"
    filtered = vpc(sapi, "DescribeSecurityGroupPolicies", SecurityGroupId=gid,
                   Filters=[{"Name": "poly", "Values": ["DROP"]}])["SecurityGroupPolicySet"]
    assert [p["PolicyIndex"] for p in filtered["Ingress"]] == [2]
    # Delete by index, then by content; replace in place.
    vpc(sapi, "DeleteSecurityGroupPolicies", **add, SecurityGroupPolicySet={"Ingress": [{"PolicyIndex": 0}]})
    vpc(sapi, "DeleteSecurityGroupPolicies", **add, SecurityGroupPolicySet={"Ingress": [
        {"Protocol": "UDP", "Port": "8000-8010", "CidrBlock": "0.0.0.0/0", "Action": "DROP"}]})
    vpc(sapi, "ReplaceSecurityGroupPolicies", **add, SecurityGroupPolicySet={"Ingress": [
        {"PolicyIndex": 0, "Protocol": "TCP", "Port": "8080", "CidrBlock": "10.1.0.0/16", "Action": "DROP"}]})
    assert ingress(sapi, gid) == [("TCP", "8080", "10.1.0.0/16", "DROP")]
    vpc(sapi, "ModifySecurityGroupPolicies", **add, SecurityGroupPolicySet={
        "Ingress": [ALLOW_ALL], "Egress": [ALLOW_ALL]})
    assert ingress(sapi, gid) == [("ALL", "ALL", "0.0.0.0/0", "ACCEPT")] and policies(sapi, gid)["Version"] == "6"
    vpc(sapi, "ModifySecurityGroupPolicies", **add, SecurityGroupPolicySet={"Version": "0"})
    assert policies(sapi, gid)["Ingress"] == [] and policies(sapi, gid)["Egress"] == []
    vpc(sapi, "ModifySecurityGroupAttribute", SecurityGroupId=gid, GroupName="renamed")
    assert vpc(sapi, "DescribeSecurityGroups", SecurityGroupIds=[gid])["SecurityGroupSet"][0]["SecurityGroupName"] == \
        "renamed"
    vpc(sapi, "DeleteSecurityGroup", SecurityGroupId=gid)
    assert sapi.error("vpc", "DescribeSecurityGroups", SecurityGroupIds=[gid]).code == "ResourceNotFound"


@pytest.mark.parametrize("rule, code", [
    ({"Protocol": "TCP", "Port": "70000", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}, "InvalidParameterValue.Malformed"),
    ({"Protocol": "TCP", "Port": "90-80", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}, "InvalidParameterValue.Malformed"),
    ({"Protocol": "ICMP", "Port": "80", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}, "InvalidParameterValue.Malformed"),
    ({"Protocol": "SCTP", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}, "InvalidParameterValue.Malformed"),
    ({"Protocol": "TCP", "CidrBlock": "10.0.0.300/8", "Action": "ACCEPT"}, "InvalidParameterValue.Malformed"),
    ({"Protocol": "TCP", "CidrBlock": "0.0.0.0/0", "Action": "ALLOW"}, "InvalidParameterValue.Malformed"),
    ({"Protocol": "TCP", "CidrBlock": "0.0.0.0/0", "SecurityGroupId": "sg-aaaaaaaa", "Action": "ACCEPT"},
     "InvalidParameter.Coexist"),
    ({"Protocol": "TCP", "Action": "ACCEPT"}, "MissingParameter"),
    ({"Protocol": "TCP", "SecurityGroupId": "sg-zzzzzzzz", "Action": "ACCEPT"}, "ResourceNotFound"),
])
def test_bad_rules_change_nothing(sapi: Api, rule: dict, code: str) -> None:
    gid = group(sapi, "strict")
    try:
        assert sapi.error("vpc", "CreateSecurityGroupPolicies", SecurityGroupId=gid,
                          SecurityGroupPolicySet={"Ingress": [rule]}).code == code
        assert policies(sapi, gid)["Ingress"] == [] and policies(sapi, gid)["Version"] == "0"
    finally:
        vpc(sapi, "DeleteSecurityGroup", SecurityGroupId=gid)


def test_binding_from_the_cvm_side_and_groups_in_use(sapi: Api) -> None:
    web = group(sapi, "web-bind", [ALLOW_ALL])
    app = group(sapi, "app-bind", [{"Protocol": "TCP", "Port": "80", "SecurityGroupId": web, "Action": "ACCEPT"}])
    ids = sapi.run(2, SecurityGroupIds=[web])
    assert sapi.instance(ids[0])["SecurityGroupIds"] == [web]
    sapi.cvm("AssociateSecurityGroups", SecurityGroupIds=[app], InstanceIds=ids)
    assert sapi.instance(ids[1])["SecurityGroupIds"] == [web, app]
    found = sapi.cvm("DescribeInstances", Filters=[{"Name": "security-group-id", "Values": [app]}])
    assert found["TotalCount"] == 2
    stats = vpc(sapi, "DescribeSecurityGroupAssociationStatistics", SecurityGroupIds=[web, app])
    by_id = {s["SecurityGroupId"]: s for s in stats["SecurityGroupAssociationStatisticsSet"]}
    assert by_id[web]["CVM"] == 2 and by_id[web]["SG"] == 1 and by_id[app]["SG"] == 0
    # In use: bound to instances, or named by another group's rule.
    assert sapi.error("vpc", "DeleteSecurityGroup", SecurityGroupId=app).code == "ResourceInUse"
    sapi.cvm("DisassociateSecurityGroups", SecurityGroupIds=[app], InstanceIds=ids)
    vpc(sapi, "DeleteSecurityGroup", SecurityGroupId=app)
    sapi.cvm("ModifyInstancesAttribute", InstanceIds=ids[:1], SecurityGroups=[web])
    assert sapi.error("cvm", "ModifyInstancesAttribute", InstanceIds=ids[:1],
                      SecurityGroups=["sg-zzzzzzzz"]).code == "InvalidSecurityGroupId.NotFound"
    assert sapi.error("cvm", "DisassociateSecurityGroups", SecurityGroupIds=[web],
                      InstanceIds=ids[:1]).code == "FailedOperation.SecurityGroupActionFailed"
    assert sapi.error("cvm", "AssociateSecurityGroups", SecurityGroupIds=["sg-bad"],
                      InstanceIds=ids[:1]).code == "InvalidSgId.Malformed"
    sapi.cvm("TerminateInstances", InstanceIds=ids)
    sapi.wait_gone(ids)
    vpc(sapi, "DeleteSecurityGroup", SecurityGroupId=web)


def test_a_group_reference_admits_its_members_and_nobody_else(sapi: Api) -> None:
    web = group(sapi, "sg-web", [ALLOW_ALL])
    db = group(sapi, "db-only-web", [{"Protocol": "TCP", "Port": "80", "SecurityGroupId": web, "Action": "ACCEPT"}])
    member, other = sapi.run(1, SecurityGroupIds=[web])[0], sapi.run(1)[0]
    target = sapi.run(1, SecurityGroupIds=[db])[0]
    address = sapi.instance(target)["GuestAddress"]
    assert answers(address, source=guest_host(sapi, member))
    assert not answers(address)  # the host: the public internet
    assert not answers(address, source=guest_host(sapi, other))  # an instance outside sg-web
    # Joining sg-web lets the other instance in on its next connection; a 0.0.0.0/0 rule lets everyone in.
    sapi.cvm("AssociateSecurityGroups", SecurityGroupIds=[web], InstanceIds=[other])
    assert answers(address, source=guest_host(sapi, other))
    vpc(sapi, "CreateSecurityGroupPolicies", SecurityGroupId=db, SecurityGroupPolicySet={"Ingress": [
        {"Protocol": "TCP", "Port": "80", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}]})
    assert answers(address)
    # Rules match in order: a DROP on top wins over the ACCEPTs below it, port by port.
    vpc(sapi, "CreateSecurityGroupPolicies", SecurityGroupId=db, SecurityGroupPolicySet={"Ingress": [
        {"PolicyIndex": 0, "Protocol": "TCP", "Port": "1-79,81-65535", "CidrBlock": "0.0.0.0/0", "Action": "DROP"}]})
    assert answers(address)
    vpc(sapi, "CreateSecurityGroupPolicies", SecurityGroupId=db, SecurityGroupPolicySet={"Ingress": [
        {"PolicyIndex": 0, "Protocol": "TCP", "Port": "80", "CidrBlock": "0.0.0.0/0", "Action": "DROP"}]})
    assert not answers(address) and not answers(address, source=guest_host(sapi, member))
    # The policy outlives a stop and start.
    sapi.cvm("StopInstances", InstanceIds=[target])
    sapi.wait_state([target], "STOPPED")
    sapi.cvm("StartInstances", InstanceIds=[target])
    sapi.wait_state([target], "RUNNING")
    assert not answers(address)
    sapi.cvm("TerminateInstances", InstanceIds=[member, other, target])


def test_removing_the_http_rule_kills_clb_health(sapi: Api) -> None:
    web = group(sapi, "clb-backends", [{"Protocol": "TCP", "Port": "80", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}])
    ids = sapi.run(2, SecurityGroupIds=[web])
    lb = Balancer(sapi, ids, check=FAST_CHECK)
    lb.wait_health(dict.fromkeys(ids, "Alive"))
    started = time.monotonic()
    vpc(sapi, "DeleteSecurityGroupPolicies", SecurityGroupId=web, SecurityGroupPolicySet={"Ingress": [{"PolicyIndex": 0}]})
    assert not answers(sapi.instance(ids[0])["GuestAddress"])
    lb.wait_health(dict.fromkeys(ids, "Dead"))
    assert time.monotonic() - started < 10
    vpc(sapi, "CreateSecurityGroupPolicies", SecurityGroupId=web, SecurityGroupPolicySet={"Ingress": [
        {"Protocol": "TCP", "Port": "80", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}]})
    lb.wait_health(dict.fromkeys(ids, "Alive"))
    lb.delete()
    sapi.cvm("TerminateInstances", InstanceIds=ids)


def ssh_banner(host: str) -> bytes:
    with socket.socket() as sock:
        sock.settimeout(5)
        try:
            sock.connect((host, 22))
            return sock.recv(64)
        except ConnectionResetError:
            return b""


def test_ssh_is_tcp_22(sapi: Api) -> None:
    web = group(sapi, "web-only", [{"Protocol": "TCP", "Port": "80", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}])
    (instance_id,) = sapi.run(1, SecurityGroupIds=[web])
    host = guest_host(sapi, instance_id)
    assert answers(sapi.instance(instance_id)["GuestAddress"]) and ssh_banner(host) == b""
    vpc(sapi, "CreateSecurityGroupPolicies", SecurityGroupId=web, SecurityGroupPolicySet={"Ingress": [
        {"Protocol": "TCP", "Port": "22", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}]})
    assert ssh_banner(host).startswith(b"SSH-2.0-")
    sapi.cvm("TerminateInstances", InstanceIds=[instance_id])


def test_a_load_balancer_counts_as_its_vip(sapi: Api) -> None:
    behind = group(sapi, "behind-lb")  # nothing allowed yet
    (instance_id,) = sapi.run(1, SecurityGroupIds=[behind])
    lb = Balancer(sapi, [instance_id], check=FAST_CHECK)
    lb.wait_health({instance_id: "Dead"})
    vpc(sapi, "CreateSecurityGroupPolicies", SecurityGroupId=behind, SecurityGroupPolicySet={"Ingress": [
        {"Protocol": "TCP", "Port": "80", "CidrBlock": f"{lb.vip}/32", "Action": "ACCEPT"}]})
    lb.wait_health({instance_id: "Alive"})
    with httpx.Client() as client:
        assert lb.get(client) == instance_id  # the load balancer's traffic comes from its VIP too
    assert not answers(sapi.instance(instance_id)["GuestAddress"])  # the host is still the internet
    lb.delete()
    sapi.cvm("TerminateInstances", InstanceIds=[instance_id])


def test_a_tcp_health_check_sees_the_reset(sapi: Api) -> None:
    rule = {"Protocol": "TCP", "Port": "80", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}
    web = group(sapi, "tcp-backends", [rule])
    (instance_id,) = sapi.run(1, SecurityGroupIds=[web])
    lb = Balancer(sapi, [instance_id], protocol="TCP", check={**FAST_CHECK, "CheckType": "TCP"})
    lb.wait_health({instance_id: "Alive"})
    vpc(sapi, "DeleteSecurityGroupPolicies", SecurityGroupId=web, SecurityGroupPolicySet={"Ingress": [rule]})
    lb.wait_health({instance_id: "Dead"})
    lb.delete()
    sapi.cvm("TerminateInstances", InstanceIds=[instance_id])
