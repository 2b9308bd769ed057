"""VPCs, subnets and private IPs; ClassicLink; and account isolation for disks, networks, addresses."""

from __future__ import annotations

import ipaddress

from tests.support.client import ZONE, Api, other_account


def vpc(api: Api, action: str, **params) -> dict:
    return api.call("vpc", action, **params)


def test_default_vpc_and_subnets_exist(api: Api) -> None:
    vpcs = vpc(api, "DescribeVpcs", Filters=[{"Name": "is-default", "Values": ["true"]}])["VpcSet"]
    assert len(vpcs) == 1
    subnets = vpc(api, "DescribeSubnets", Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])["SubnetSet"]
    assert sorted(s["Zone"] for s in subnets) == ["ap-guangzhou-3", "ap-guangzhou-4", "ap-guangzhou-6", "ap-guangzhou-7"]
    ids = api.run(1, VirtualPrivateCloud={"VpcId": "DEFAULT", "SubnetId": "DEFAULT"})
    inst = api.instance(ids[0])
    assert inst["VirtualPrivateCloud"]["VpcId"] == vpcs[0]["VpcId"]
    zone_subnet = next(s for s in subnets if s["Zone"] == ZONE)
    assert inst["VirtualPrivateCloud"]["SubnetId"] == zone_subnet["SubnetId"]
    assert ipaddress.ip_address(inst["PrivateIpAddresses"][0]) in ipaddress.ip_network(zone_subnet["CidrBlock"])


def test_private_ips_come_from_the_subnet_and_never_repeat(api: Api) -> None:
    made = vpc(api, "CreateVpc", VpcName="tiny", CidrBlock="10.90.0.0/16")["Vpc"]
    subnet = vpc(api, "CreateSubnet", VpcId=made["VpcId"], SubnetName="s", Zone=ZONE, CidrBlock="10.90.1.0/28")["Subnet"]
    assert subnet["TotalIpAddressCount"] == 13 and subnet["AvailableIpAddressCount"] == 13
    place = {"VirtualPrivateCloud": {"VpcId": made["VpcId"], "SubnetId": subnet["SubnetId"]}}
    ids = api.run(12, **place)
    ips = [api.instance(i)["PrivateIpAddresses"][0] for i in ids]
    assert len(set(ips)) == 12 and all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.90.1.0/28") for ip in ips)
    assert api.error("cvm", "RunInstances", Placement={"Zone": ZONE}, ImageId="img-eb30mz89", InstanceCount=2,
                     **place).code == "FailedOperation.NoAvailableIpAddressCountInSubnet"
    assert api.cvm("DescribeInstances", Filters=[{"Name": "subnet-id", "Values": [subnet["SubnetId"]]}])["TotalCount"] == 12
    # The private IP never changes across stop/start.
    api.cvm("StopInstances", InstanceIds=ids[:1])
    api.wait_state(ids[:1], "STOPPED")
    api.cvm("StartInstances", InstanceIds=ids[:1])
    assert api.wait_state(ids[:1], "RUNNING")[ids[0]]["PrivateIpAddresses"] == [ips[0]]
    # Released on terminate, so it can be handed out again.
    assert api.error("vpc", "DeleteSubnet", SubnetId=subnet["SubnetId"]).code == "ResourceInUse"
    assert api.error("vpc", "DeleteVpc", VpcId=made["VpcId"]).code == "ResourceInUse"
    api.cvm("TerminateInstances", InstanceIds=ids[:2])
    api.wait_gone(ids[:2])
    again = api.run(2, **place)
    live = {api.instance(i)["PrivateIpAddresses"][0] for i in ids[2:] + again}
    assert len(live) == 12 and {api.instance(i)["PrivateIpAddresses"][0] for i in again} & set(ips[:2])
    free = ({str(h) for h in ipaddress.ip_network("10.90.1.0/28").hosts()} - {"10.90.1.1"}) - live
    wanted = free.pop()
    chosen = api.run(1, VirtualPrivateCloud={"VpcId": made["VpcId"], "SubnetId": subnet["SubnetId"],
                                             "PrivateIpAddresses": [wanted]})
    assert api.instance(chosen[0])["PrivateIpAddresses"] == [wanted]
    taken = {"VpcId": made["VpcId"], "SubnetId": subnet["SubnetId"], "PrivateIpAddresses": [sorted(live)[0]]}
    assert api.error("cvm", "RunInstances", Placement={"Zone": ZONE}, ImageId="img-eb30mz89",
                     VirtualPrivateCloud=taken).code == "VpcIpIsUsed"
    everything = ids[2:] + again + chosen
    api.cvm("TerminateInstances", InstanceIds=everything)
    api.wait_gone(everything)
    vpc(api, "DeleteSubnet", SubnetId=subnet["SubnetId"])
    vpc(api, "DeleteVpc", VpcId=made["VpcId"])
    assert vpc(api, "DescribeVpcs", VpcIds=[made["VpcId"]])["TotalCount"] == 0


def test_vpc_and_subnet_validation(api: Api) -> None:
    assert api.error("vpc", "CreateVpc", VpcName="x", CidrBlock="8.8.0.0/16").code == "InvalidParameterValue.Range"
    assert api.error("vpc", "CreateVpc", VpcName="x", CidrBlock="nonsense").code == "InvalidParameterValue.Malformed"
    made = vpc(api, "CreateVpc", VpcName="v", CidrBlock="192.168.0.0/16")["Vpc"]
    assert api.error("vpc", "CreateSubnet", VpcId=made["VpcId"], SubnetName="s", Zone=ZONE,
                     CidrBlock="10.0.0.0/24").code == "InvalidParameterValue.SubnetRange"
    vpc(api, "CreateSubnet", VpcId=made["VpcId"], SubnetName="a", Zone=ZONE, CidrBlock="192.168.1.0/24")
    assert api.error("vpc", "CreateSubnet", VpcId=made["VpcId"], SubnetName="b", Zone=ZONE,
                     CidrBlock="192.168.1.128/25").code == "InvalidParameterValue.SubnetConflict"
    assert api.error("vpc", "CreateSubnet", VpcId="vpc-zzzzzzzz", SubnetName="b", Zone=ZONE,
                     CidrBlock="192.168.2.0/24").code == "ResourceNotFound"
    assert api.error("cvm", "RunInstances", Placement={"Zone": "ap-guangzhou-4"}, ImageId="img-eb30mz89",
                     VirtualPrivateCloud={"VpcId": made["VpcId"], "SubnetId": vpc(api, "DescribeSubnets", Filters=[
                         {"Name": "vpc-id", "Values": [made["VpcId"]]}])["SubnetSet"][0]["SubnetId"]}
                     ).code == "InvalidParameterValue.SubnetIdZoneIdNotMatch"


def test_classic_link(api: Api) -> None:
    basic = api.run(1)  # no VirtualPrivateCloud: a basic-network instance
    assert api.instance(basic[0])["VirtualPrivateCloud"]["VpcId"] == ""
    in_vpc = api.run(1, VirtualPrivateCloud={"VpcId": "DEFAULT", "SubnetId": "DEFAULT"})
    target = vpc(api, "CreateVpc", VpcName="linked", CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    vpc(api, "AttachClassicLinkVpc", VpcId=target, InstanceIds=basic)
    assert api.error("vpc", "AttachClassicLinkVpc", VpcId=target, InstanceIds=in_vpc).code == "UnsupportedOperation"
    links = vpc(api, "DescribeClassicLinkInstances", Filters=[{"Name": "vpc-id", "Values": [target]}])
    assert links["ClassicLinkInstanceSet"] == [{"VpcId": target, "InstanceId": basic[0]}]
    api.cvm("StopInstances", InstanceIds=basic)
    api.wait_state(basic, "STOPPED")
    assert vpc(api, "DescribeClassicLinkInstances", Filters=[{"Name": "vpc-id", "Values": [target]}])["TotalCount"] == 1
    vpc(api, "DetachClassicLinkVpc", VpcId=target, InstanceIds=basic)
    assert vpc(api, "DescribeClassicLinkInstances", Filters=[{"Name": "vpc-id", "Values": [target]}])["TotalCount"] == 0


def test_accounts_cannot_see_each_others_networks_disks_or_addresses(server, api: Api) -> None:
    other = other_account(server)
    disk = api.call("cbs", "CreateDisks", Placement={"Zone": ZONE}, DiskChargeType="POSTPAID_BY_HOUR",
                    DiskType="CLOUD_PREMIUM", DiskSize=20)["DiskIdSet"][0]
    my_vpc = vpc(api, "CreateVpc", VpcName="mine", CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    eip = vpc(api, "AllocateAddresses")["AddressSet"][0]
    assert other.call("cbs", "DescribeDisks", DiskIds=[disk])["TotalCount"] == 0
    assert other.error("cbs", "TerminateDisks", DiskIds=[disk]).code == "InvalidDiskId.NotFound"
    assert other.call("vpc", "DescribeVpcs", VpcIds=[my_vpc])["TotalCount"] == 0
    assert other.error("vpc", "DeleteVpc", VpcId=my_vpc).code == "ResourceNotFound"
    assert other.call("vpc", "DescribeAddresses", AddressIds=[eip])["TotalCount"] == 0
    assert other.error("vpc", "ReleaseAddresses", AddressIds=[eip]).code == "InvalidAddressId.NotFound"
    theirs = other.run(1)
    assert api.error("vpc", "AssociateAddress", AddressId=eip, InstanceId=theirs[0]).code == "InvalidInstanceId.NotFound"
    assert api.error("cbs", "AttachDisks", InstanceId=theirs[0], DiskIds=[disk]).code == "InvalidInstanceId.NotFound"
    own_vpcs = other.call("vpc", "DescribeVpcs")["VpcSet"]
    assert my_vpc not in {v["VpcId"] for v in own_vpcs} and len(own_vpcs) == 1
