"""Values in each service's own format, as the real cloud writes them: times (CBS, CLB and VPC's own
resources in `YYYY-MM-DD hh:mm:ss` Beijing time; CVM, AS and EIPs ISO-8601 UTC), the bandwidth charge type of
an instance stopped without charge, ModifyInstancesAttribute's LatestOperation naming the attribute, and a
basic-network instance's empty VPC and subnet."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.support.client import ZONE, Api

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PLAIN = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def _beijing_now_is(value: str) -> bool:
    """`value` is a `YYYY-MM-DD hh:mm:ss` of (about) now in UTC+8."""
    assert PLAIN.match(value), value
    written = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) - timedelta(hours=8)
    return abs((datetime.now(UTC) - written).total_seconds()) < 120


def _utc_now_is(value: str) -> bool:
    assert ISO_Z.match(value), value
    return abs((datetime.now(UTC) - datetime.fromisoformat(value.replace("Z", "+00:00"))).total_seconds()) < 120


def test_times_in_each_services_format_and_zone(api: Api) -> None:
    instance = api.run(1)[0]
    inst = api.instance(instance)
    assert _utc_now_is(inst["CreatedTime"])
    system = api.call("cbs", "DescribeDisks", DiskIds=[inst["SystemDisk"]["DiskId"]])["DiskSet"][0]
    # The system disk and its instance were made together: the same moment, eight hours apart on paper.
    assert _beijing_now_is(system["CreateTime"])
    lb = api.call("clb", "CreateLoadBalancer", LoadBalancerType="OPEN")["LoadBalancerIds"][0]
    listener = api.call("clb", "CreateListener", LoadBalancerId=lb, Ports=[81], Protocol="TCP")["ListenerIds"][0]
    api.call("clb", "RegisterTargets", LoadBalancerId=lb, ListenerId=listener, Targets=[{"InstanceId": instance,
                                                                                        "Port": 80}])
    balancer = api.call("clb", "DescribeLoadBalancers", LoadBalancerIds=[lb])["LoadBalancerSet"][0]
    assert _beijing_now_is(balancer["CreateTime"]) and _beijing_now_is(balancer["StatusTime"])
    assert balancer["TargetCount"] == 1
    described = api.call("clb", "DescribeListeners", LoadBalancerId=lb)["Listeners"][0]
    assert _beijing_now_is(described["CreateTime"])
    target = api.call("clb", "DescribeTargets", LoadBalancerId=lb)["Listeners"][0]["Targets"][0]
    assert _beijing_now_is(target["RegisteredTime"])
    vpc = api.call("vpc", "CreateVpc", VpcName="formats", CidrBlock="10.9.0.0/16")["Vpc"]
    assert _beijing_now_is(vpc["CreatedTime"])
    subnet = api.call("vpc", "CreateSubnet", VpcId=vpc["VpcId"], SubnetName="formats", CidrBlock="10.9.1.0/24",
                      Zone=ZONE)["Subnet"]
    assert _beijing_now_is(subnet["CreatedTime"])
    eip = api.call("vpc", "AllocateAddresses", AddressCount=1)["AddressSet"][0]
    address = api.call("vpc", "DescribeAddresses", AddressIds=[eip])["AddressSet"][0]
    assert _utc_now_is(address["CreatedTime"])
    api.call("clb", "DeleteLoadBalancer", LoadBalancerIds=[lb])


def test_stop_charging_drops_the_bandwidth_charge_type(api: Api) -> None:
    ids = api.run(2, InternetAccessible={"InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR",
                                         "InternetMaxBandwidthOut": 5, "PublicIpAssigned": True})
    api.cvm("StopInstances", InstanceIds=ids[:1], StopType="HARD", StoppedMode="STOP_CHARGING")
    api.cvm("StopInstances", InstanceIds=ids[1:], StopType="HARD", StoppedMode="KEEP_CHARGING")
    found = api.wait_state(ids, "STOPPED")
    free, kept = found[ids[0]]["InternetAccessible"], found[ids[1]]["InternetAccessible"]
    assert free["InternetChargeType"] is None and free["PublicIpAssigned"] is False
    assert kept["InternetChargeType"] == "TRAFFIC_POSTPAID_BY_HOUR" and kept["PublicIpAssigned"] is True
    api.cvm("StartInstances", InstanceIds=ids[:1])
    back = api.wait_state(ids[:1], "RUNNING")[ids[0]]["InternetAccessible"]
    assert back["InternetChargeType"] == "TRAFFIC_POSTPAID_BY_HOUR" and back["PublicIpAssigned"] is True


def test_modify_attributes_names_the_attribute_in_latest_operation(api: Api) -> None:
    ids = api.run(1)
    group = api.call("vpc", "CreateSecurityGroup", GroupName="formats", GroupDescription="formats")
    for attribute, value in (("InstanceName", "renamed"), ("SecurityGroups", [group["SecurityGroup"]["SecurityGroupId"]]),
                             ("DisableApiTermination", False), ("UserData", "aGk=")):
        response = api.cvm("ModifyInstancesAttribute", InstanceIds=ids, **{attribute: value})
        inst = api.instance(ids[0])
        assert inst["LatestOperation"] == f"ModifyInstancesAttribute.{attribute}"
        assert inst["LatestOperationState"] == "SUCCESS"
        assert inst["LatestOperationRequestId"] == response["RequestId"]


def test_basic_network_instance_is_in_no_vpc_or_subnet(api: Api) -> None:
    basic = api.run(1)[0]  # no VirtualPrivateCloud: the basic network
    network = api.instance(basic)["VirtualPrivateCloud"]
    assert network["VpcId"] == "" and network["SubnetId"] == ""
    assert api.instance(basic)["PrivateIpAddresses"]
    in_vpc = api.run(1, VirtualPrivateCloud={"VpcId": "DEFAULT", "SubnetId": "DEFAULT"})[0]
    network = api.instance(in_vpc)["VirtualPrivateCloud"]
    known = api.call("vpc", "DescribeSubnets", SubnetIds=[network["SubnetId"]])["SubnetSet"]
    assert [s["VpcId"] for s in known] == [network["VpcId"]]
