"""Auto Scaling: a group notices a shut-down member, marks it unhealthy, moves it out and launches a
replacement that joins the load balancer — with traffic flowing the whole time."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.autoscaling import Group, asc
from tests.support.clb import load
from tests.support.client import Api
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess

FAST = {"as_interval": 0.2, "clb_time_scale": 0.1, "shutdown_seconds": 0.3}


@pytest.fixture(scope="module")
def as_server(tmp_path_factory, backend):
    srv = ServerProcess(tmp_path_factory.mktemp(f"as-{backend}"), backend, **FAST).start()
    yield srv
    srv.close()
    srv.assert_clean_log()


@pytest.fixture(scope="module")
def aapi(as_server) -> Api:
    return Api(as_server.endpoint, SECRET_ID, SECRET_KEY)


def test_group_launches_to_desired_and_registers_with_the_load_balancer(aapi: Api) -> None:
    g = Group(aapi, size=3)
    members = g.wait_in_service(3)
    assert {m["CreationType"] for m in members.values()} == {"AUTO_CREATION"}
    assert {m["HealthStatus"] for m in members.values()} == {"HEALTHY"}
    health = g.health()
    assert set(health) == set(members) and set(health.values()) == {"Alive"}  # Alive before counted in service
    group = g.group()
    assert group["InServiceInstanceCount"] == 3 and group["DesiredCapacity"] == 3
    scale_out = [a for a in g.activities() if a["ActivityType"] == "SCALE_OUT"]
    assert scale_out and "desired capacity" in scale_out[-1]["Cause"]
    instances = aapi.instances(list(members))
    assert {i["InstanceType"] for i in instances.values()} == {"S5.SMALL1"}
    assert {i["VirtualPrivateCloud"]["SubnetId"] for i in instances.values()} == {g.subnet}
    with httpx.Client() as client:
        assert {client.get(g.url()).json()["InstanceId"] for _ in range(9)} == set(members)


def test_a_shut_down_member_is_replaced_and_traffic_never_fails(aapi: Api) -> None:
    g = Group(aapi, size=3, drain=True)
    members = g.wait_in_service(3)
    victim = sorted(members)[0]
    with load(g.url()) as outcomes:
        time.sleep(0.3)
        aapi.cvm("StopInstances", InstanceIds=[victim], StopType="SOFT")
        aapi.wait(lambda: victim not in g.members() or g.members()[victim]["HealthStatus"] != "HEALTHY", timeout=20)
        after = g.wait_in_service(3)
        assert victim not in after
        g.api.wait(lambda: set(g.health()) == set(after) and set(g.health().values()) == {"Alive"})
        time.sleep(0.5)
    assert sum(n for k, n in outcomes.items() if k != "ok") == 0, outcomes
    assert outcomes["ok"] > 50
    replace = next(a for a in g.activities() if a["ActivityType"] == "REPLACE_UNHEALTHY_INSTANCE")
    assert victim in replace["Cause"] and "shut down" in replace["Cause"] and "UNHEALTHY" in replace["Cause"]
    assert replace["StatusCode"] == "SUCCESSFUL"
    aapi.wait_gone([victim])  # the group made it, so it is terminated (its disks with it)
    assert g.group()["DesiredCapacity"] == 3


def test_a_hand_attached_member_is_detached_and_left_stopped(aapi: Api) -> None:
    g = Group(aapi, size=1, drain=False)
    g.wait_in_service(1)
    mine = aapi.run(1, VirtualPrivateCloud={"VpcId": g.vpc, "SubnetId": g.subnet})[0]
    asc(aapi, "AttachInstances", AutoScalingGroupId=g.id, InstanceIds=[mine])
    members = g.wait_in_service(2)
    assert members[mine]["CreationType"] == "MANUAL_ATTACHING"
    assert g.group()["DesiredCapacity"] == 2
    aapi.cvm("StopInstances", InstanceIds=[mine], StopType="HARD")
    aapi.wait(lambda: mine not in g.members())
    after = g.wait_in_service(2)
    assert mine not in after
    inst = aapi.wait_state([mine], "STOPPED")[mine]
    assert inst["InstanceState"] == "STOPPED"  # left stopped, not terminated
    assert any(a["ActivityType"] == "REPLACE_UNHEALTHY_INSTANCE" and mine in a["Cause"] for a in g.activities())


def test_stopping_through_auto_scaling_is_not_unhealthy(aapi: Api) -> None:
    g = Group(aapi, size=3, drain=False)
    members = g.wait_in_service(3)
    sleeper = sorted(members)[0]
    activity = asc(aapi, "StopAutoScalingInstances", AutoScalingGroupId=g.id, InstanceIds=[sleeper])["ActivityId"]
    aapi.wait(lambda: g.members()[sleeper]["LifeCycleState"] == "STOPPED")
    assert g.members()[sleeper]["HealthStatus"] == "HEALTHY"
    assert g.group()["DesiredCapacity"] == 2
    time.sleep(1.0)
    assert len(g.members()) == 3  # not replaced
    assert aapi.instance(sleeper)["InstanceState"] == "STOPPED"
    done = asc(aapi, "DescribeAutoScalingActivities", ActivityIds=[activity])["ActivitySet"][0]
    assert done["ActivityType"] == "STOP_INSTANCES" and done["StatusCode"] == "SUCCESSFUL"
    assert sleeper not in g.health()  # out of the load balancer while asleep
    asc(aapi, "StartAutoScalingInstances", AutoScalingGroupId=g.id, InstanceIds=[sleeper])
    g.wait_in_service(3)
    assert g.group()["DesiredCapacity"] == 3
    g.api.wait(lambda: g.health().get(sleeper) == "Alive")
    assert aapi.error("as", "StartAutoScalingInstances", AutoScalingGroupId=g.id,
                      InstanceIds=[sleeper]).code == "ResourceUnavailable.InstanceInOperation"


def test_a_member_stopped_while_still_joining_is_replaced(aapi: Api) -> None:
    """Stopped as soon as it runs, before its health check made it Alive: it can never join, so the group
    fails its launch, replaces it and gets back to its desired capacity."""
    g = Group(aapi, size=1, drain=False)
    first = aapi.wait(lambda: list(g.members()))[0]
    aapi.wait(lambda: aapi.instance(first)["InstanceState"] == "RUNNING", interval=0.02)
    aapi.cvm("StopInstances", InstanceIds=[first], StopType="HARD")
    assert g.members()[first]["LifeCycleState"] == "CREATING"  # still joining when it was stopped
    after = g.wait_in_service(1, timeout=30)
    assert first not in after
    aapi.wait_gone([first])
    assert g.group()["InServiceInstanceCount"] == 1
    by_type = {a["ActivityType"]: a for a in g.activities()}
    assert by_type["SCALE_OUT"]["StatusCode"] == "FAILED" and first in by_type["SCALE_OUT"]["StatusMessage"]
    assert by_type["REPLACE_UNHEALTHY_INSTANCE"]["StatusCode"] == "SUCCESSFUL"


@pytest.mark.parametrize("replace", [False, True])
def test_unreachable_running_guest_follows_replace_monitor_unhealthy(aapi: Api, replace: bool) -> None:
    g = Group(aapi, size=2, drain=False, check=None, service={"ReplaceMonitorUnhealthy": replace})
    members = g.wait_in_service(2)
    sick = sorted(members)[0]
    httpx.post(f"http://{aapi.instance(sick)['GuestAddress']}/control/unreachable")
    if replace:
        aapi.wait(lambda: sick not in g.members())
        after = g.wait_in_service(2)
        assert sick not in after
        aapi.wait_gone([sick])
    else:
        aapi.wait(lambda: g.members()[sick]["HealthStatus"] == "UNHEALTHY")
        time.sleep(1.0)
        assert sick in g.members() and aapi.instance(sick)["InstanceState"] == "RUNNING"


@pytest.mark.parametrize("replace", [False, True])
def test_clb_unhealthy_running_guest_follows_replace_load_balancer_unhealthy(aapi: Api, replace: bool) -> None:
    g = Group(aapi, size=2, drain=False, service={"ReplaceLoadBalancerUnhealthy": replace})
    members = g.wait_in_service(2)
    sick = sorted(members)[0]
    httpx.post(f"http://{aapi.instance(sick)['GuestAddress']}/control/unhealthy")
    if replace:
        aapi.wait(lambda: sick not in g.members())
        after = g.wait_in_service(2)
        assert sick not in after
    else:
        aapi.wait(lambda: g.members()[sick]["HealthStatus"] == "CLB_UNHEALTHY")
        time.sleep(1.0)
        assert sick in g.members()


def test_bounds_and_protection(aapi: Api) -> None:
    g = Group(aapi, size=2, drain=False, min_size=2, max_size=3)
    members = g.wait_in_service(2)
    first, second = sorted(members)
    assert aapi.error("as", "ModifyDesiredCapacity", AutoScalingGroupId=g.id,
                      DesiredCapacity=4).code == "InvalidParameterValue.Size"
    assert aapi.error("as", "DetachInstances", AutoScalingGroupId=g.id, InstanceIds=[first]).code in (
        "ResourceInsufficient.InServiceInstanceBelowMinSize", "ResourceInsufficient.AutoScalingGroupBelowMinSize")
    assert aapi.error("as", "StopAutoScalingInstances", AutoScalingGroupId=g.id,
                      InstanceIds=[first]).code == "ResourceInsufficient.AutoScalingGroupBelowMinSize"
    asc(aapi, "SetInstancesProtection", AutoScalingGroupId=g.id, InstanceIds=[first], ProtectedFromScaleIn=True)
    assert g.members()[first]["ProtectedFromScaleIn"] is True
    aapi.cvm("StopInstances", InstanceIds=[first], StopType="HARD")
    aapi.wait(lambda: g.members()[first]["HealthStatus"] != "HEALTHY")
    time.sleep(1.0)
    assert first in g.members()  # protected: never replaced
    aapi.cvm("StartInstances", InstanceIds=[first])
    aapi.wait_state([first], "RUNNING")
    asc(aapi, "ModifyAutoScalingGroup", AutoScalingGroupId=g.id, MinSize=1)
    asc(aapi, "ModifyDesiredCapacity", AutoScalingGroupId=g.id, DesiredCapacity=1)
    remaining = g.wait_in_service(1)
    assert set(remaining) == {first}  # scale-in skipped the protected one
    aapi.wait_gone([second])
    assert any(a["ActivityType"] == "SCALE_IN" for a in g.activities())


def test_remove_detach_and_delete(aapi: Api) -> None:
    g = Group(aapi, size=2, drain=False, min_size=0)
    members = g.wait_in_service(2)
    a, b = sorted(members)
    asc(aapi, "DetachInstances", AutoScalingGroupId=g.id, InstanceIds=[a])
    aapi.wait(lambda: a not in g.members())
    assert aapi.instance(a)["InstanceState"] == "RUNNING" and g.group()["DesiredCapacity"] == 1
    assert a not in g.health()
    asc(aapi, "RemoveInstances", AutoScalingGroupId=g.id, InstanceIds=[b])
    aapi.wait_gone([b])
    assert g.group()["DesiredCapacity"] == 0
    assert aapi.error("as", "DeleteLaunchConfiguration",
                      LaunchConfigurationId=g.config).code == "ResourceInUse.LaunchConfigurationIdInUse"
    aapi.wait(lambda: not g.members())
    asc(aapi, "DeleteAutoScalingGroup", AutoScalingGroupId=g.id)
    asc(aapi, "DeleteLaunchConfiguration", LaunchConfigurationId=g.config)


def test_disabled_group_does_not_scale(aapi: Api) -> None:
    g = Group(aapi, size=1, drain=False, check=None)
    g.wait_in_service(1)
    asc(aapi, "DisableAutoScalingGroup", AutoScalingGroupId=g.id)
    assert g.group()["EnabledStatus"] == "DISABLED"
    assert aapi.error("as", "ModifyDesiredCapacity", AutoScalingGroupId=g.id,
                      DesiredCapacity=2).code == "ResourceUnavailable.AutoScalingGroupDisabled"
    asc(aapi, "EnableAutoScalingGroup", AutoScalingGroupId=g.id)
    asc(aapi, "ModifyDesiredCapacity", AutoScalingGroupId=g.id, DesiredCapacity=2)
    g.wait_in_service(2)


@pytest.mark.parametrize(("action", "params", "code"), [
    ("CreateLaunchConfiguration", {"LaunchConfigurationName": "x", "ImageId": "img-00000000", "InstanceType": "S5.SMALL1"},
     "InvalidParameterValue.ImageNotFound"),
    ("CreateLaunchConfiguration", {"LaunchConfigurationName": "x", "ImageId": "img-eb30mz89"},
     "InvalidParameter.MustOneParameter"),
    ("CreateLaunchConfiguration", {"LaunchConfigurationName": "x", "ImageId": "img-eb30mz89", "InstanceType": "S5.NOPE"},
     "InvalidParameterValue.InvalidInstanceType"),
    ("CreateLaunchConfiguration", {"LaunchConfigurationName": "x", "ImageId": "img-eb30mz89", "InstanceType": "S5.SMALL1",
                                   "UserData": "not base64!"}, "InvalidParameterValue.UserDataFormatError"),
    ("CreateAutoScalingGroup", {"AutoScalingGroupName": "g", "LaunchConfigurationId": "asc-zzzzzzzz", "MaxSize": 1,
                                "MinSize": 0, "VpcId": "vpc-zzzzzzzz"}, "InvalidParameterValue.LaunchConfigurationNotFound"),
    ("DescribeAutoScalingGroups", {"AutoScalingGroupIds": ["bad"]}, "InvalidParameterValue.InvalidAutoScalingGroupId"),
    ("ModifyDesiredCapacity", {"AutoScalingGroupId": "asg-zzzzzzzz", "DesiredCapacity": 1},
     "ResourceNotFound.AutoScalingGroupNotFound"),
    ("DescribeAutoScalingActivities", {"Filters": [{"Name": "colour", "Values": ["x"]}]},
     "InvalidParameterValue.InvalidFilter"),
])
def test_bad_parameters(aapi: Api, action: str, params: dict, code: str) -> None:
    assert aapi.error("as", action, **params).code == code


def test_group_size_rules(aapi: Api) -> None:
    g = Group(aapi, size=0, drain=False, check=None, min_size=0, max_size=1)
    lc = g.config
    common = {"LaunchConfigurationId": lc, "VpcId": g.vpc, "SubnetIds": [g.subnet]}
    assert aapi.error("as", "CreateAutoScalingGroup", AutoScalingGroupName="bad", MinSize=3, MaxSize=2,
                      **common).code == "InvalidParameterValue.Size"
    assert aapi.error("as", "CreateAutoScalingGroup", AutoScalingGroupName="bad", MinSize=0, MaxSize=1,
                      LaunchConfigurationId=lc, VpcId=g.vpc).code == "MissingParameter.InScenario"
    name = g.group()["AutoScalingGroupName"]
    assert aapi.error("as", "CreateAutoScalingGroup", AutoScalingGroupName=name, MinSize=0, MaxSize=1,
                      **common).code == "InvalidParameterValue.GroupNameDuplicated"


def test_kill_9_during_a_replacement_converges_without_duplicates(make_server) -> None:
    srv = make_server(**FAST)
    api = Api(srv.endpoint, SECRET_ID, SECRET_KEY)
    g = Group(api, size=3, drain=False)
    members = g.wait_in_service(3)
    victim = sorted(members)[0]
    api.cvm("StopInstances", InstanceIds=[victim], StopType="HARD")
    api.wait(lambda: any(m["LifeCycleState"] == "CREATING" for m in g.members().values()), timeout=20)
    srv.kill()
    srv.start()
    after = g.wait_in_service(3, timeout=90)
    assert victim not in after
    api.wait_gone([victim])
    everything = {i["InstanceId"] for i in api.cvm("DescribeInstances", Limit=100)["InstanceSet"]}
    assert everything == set(after)  # no duplicate launch, no orphan left behind
    replaces = [a for a in g.activities() if a["ActivityType"] == "REPLACE_UNHEALTHY_INSTANCE"]
    assert len(replaces) == 1
