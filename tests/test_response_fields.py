"""Every read action minicvm serves answers with every field of the official SDK's response model, each of
its declared JSON type: a typed client (Go, Java, Rust) decodes exactly those names into exactly those types.

One world with resources in every interesting state is built once (instances running, stopped in each
charging mode, basic-network, recycled; disks attached and not; EIPs bound and not; a load balancer with L4
and L7 listeners, rules and targets; an Auto Scaling group with a member), then every Describe*, Inquiry*
and Get* action the server registers is called and its response walked against the SDK model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from minicvm import services
from minicvm.services.registry import SERVICES
from tests.support.client import ZONE, Api
from tests.support.sdk_models import Report, check
from tests.support.server import SECRET_ID, SECRET_KEY, ServerProcess

MODELS = {"cvm": "tencentcloud.cvm.v20170312.models", "cbs": "tencentcloud.cbs.v20170312.models",
          "vpc": "tencentcloud.vpc.v20170312.models", "clb": "tencentcloud.clb.v20180317.models",
          "as": "tencentcloud.autoscaling.v20180419.models", "sts": "tencentcloud.sts.v20180813.models",
          "tag": "tencentcloud.tag.v20180813.models", "tat": "tencentcloud.tat.v20201028.models",
          "cam": "tencentcloud.cam.v20190116.models"}

READ_PREFIXES = ("Describe", "Inquiry", "Get")

# Structs minicvm answers with null because it has none of the thing (as a real account without it gets):
# each is named here on purpose, since its fields cannot be checked; any other struct must be seen filled.
MAY_BE_NULL = frozenset({
    "Instance.GPUInfo", "Instance.Metadata", "Instance.CpuTopology",  # no GPUs, metadata or custom topologies
    "Listener.Certificate", "RuleOutput.Certificate",  # no HTTPS listeners
    "Listener.TargetGroup", "RuleOutput.TargetGroup", "RuleOutput.RewriteTarget",  # no target groups, redirects
    "LoadBalancer.MasterZone", "LoadBalancer.PrepaidAttributes",  # no single-zone or prepaid load balancers
    "ExclusiveCluster.ClassicalCluster",  # no exclusive clusters
    "LaunchConfiguration.HostNameSettings", "LaunchConfiguration.InstanceChargePrepaid",
    "LaunchConfiguration.IPv6InternetAccessible", "LaunchConfiguration.InstanceMarketOptions",
    "AutoScalingGroup.SpotMixedAllocationPolicy",  # no host-name patterns, prepaid or spot members, IPv6
})


# Lists of structs minicvm always answers empty, for the same reason; any other must be seen with elements.
MAY_BE_EMPTY = frozenset({
    "Activity.DetailedStatusMessageSet", "Activity.InvocationResultSet", "Activity.LifecycleActionResultSet",
    "EnhancedService.AutomationService", "LaunchConfiguration.NetworkInterfaces",  # no lifecycle hooks, TAT, ENIs
    "LaunchConfiguration.Tags", "KeyPair.Tags", "Image.Tags", "Image.SnapshotSet",  # untagged; no snapshots
    "Listener.TargetGroupList", "RuleOutput.TargetGroupList", "RuleTargets.FunctionTargets",
    "ExclusiveCluster.L4Clusters", "ExclusiveCluster.L7Clusters", "LoadBalancer.BackupZoneSet",
    "LoadBalancer.SnatIps",  # no target groups, SCF targets, exclusive clusters, zones or SNAT IPs
    "InstanceTypeQuotaItem.LocalDiskTypeList",  # no local-disk instance types
    "Vpc.AssistantCidrSet", "Vpc.Ipv6CidrBlockSet", "Vpc.TagSet", "Subnet.TagSet",  # VPCs carry no tags here
    "Command.DefaultParameterConfs", "Command.Scenes",  # TAT without custom parameters or scenes
    "GetPolicyResponse.Tags", "RoleInfo.Tags",  # CAM policies and roles carry no tags here
})


def served_reads() -> list[tuple[str, str]]:
    services.load()
    return sorted((svc.name, action) for svc in SERVICES.values() for action in svc.actions
                  if action.startswith(READ_PREFIXES))


@dataclass
class World:
    api: Api
    server: ServerProcess
    uin: str
    ids: dict[str, str] = field(default_factory=dict)


_DOCUMENT = '{"version":"2.0","statement":[{"effect":"allow","action":"cvm:Describe*","resource":"*"}]}'


def _build(api: Api) -> dict[str, str]:
    ids: dict[str, str] = {}
    key = api.cvm("CreateKeyPair", KeyName=f"k{time.monotonic_ns() % 10**8}", ProjectId=0)["KeyPair"]["KeyId"]
    ids["key"] = key
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "core"}]}]
    vpc = {"VpcId": "DEFAULT", "SubnetId": "DEFAULT"}
    running, keep, stop = api.run(
        3, VirtualPrivateCloud=vpc, LoginSettings={"KeyIds": [key]}, TagSpecification=tags,
        InternetAccessible={"InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR", "InternetMaxBandwidthOut": 10,
                            "PublicIpAssigned": True},
        DataDisks=[{"DiskType": "CLOUD_PREMIUM", "DiskSize": 20}], UserData="aGVsbG8K")
    ids.update(running=running, keep=keep, stop=stop)
    ids["basic"] = api.run(1)[0]
    ids["prepaid"] = api.run(1, VirtualPrivateCloud=vpc, InstanceChargeType="PREPAID",
                             InstanceChargePrepaid={"Period": 1, "RenewFlag": "NOTIFY_AND_AUTO_RENEW"})[0]
    api.cvm("StopInstances", InstanceIds=[keep], StopType="HARD")
    api.cvm("StopInstances", InstanceIds=[stop], StopType="HARD", StoppedMode="STOP_CHARGING")
    api.cvm("TerminateInstances", InstanceIds=[ids["prepaid"]])
    api.wait_state([keep, stop], "STOPPED")
    api.wait_state([ids["prepaid"]], "SHUTDOWN")

    disks = api.call("cbs", "CreateDisks", Placement={"Zone": ZONE}, DiskChargeType="POSTPAID_BY_HOUR",
                     DiskType="CLOUD_SSD", DiskSize=20, DiskCount=2,
                     Tags=[{"Key": "team", "Value": "core"}])["DiskIdSet"]
    api.wait(lambda: len(api.call("cbs", "DescribeDisks", DiskIds=disks)["DiskSet"]) == 2)
    api.call("cbs", "AttachDisks", DiskIds=[disks[0]], InstanceId=running)
    ids["disk"] = disks[1]

    eips = api.call("vpc", "AllocateAddresses", AddressCount=2, Tags=[{"Key": "team", "Value": "core"}])["AddressSet"]
    api.wait(lambda: {a["AddressStatus"] for a in api.call("vpc", "DescribeAddresses", AddressIds=eips)["AddressSet"]}
             == {"UNBIND"})
    ids["eip_task"] = api.call("vpc", "AssociateAddress", AddressId=eips[0], InstanceId=ids["basic"])["TaskId"]
    ids["eip"] = eips[0]

    rule = {"Protocol": "TCP", "Port": "80", "CidrBlock": "10.0.0.0/8", "Action": "ACCEPT"}
    ids["sg"] = api.call("vpc", "CreateSecurityGroupWithPolicies", GroupName="fields", GroupDescription="fields",
                         SecurityGroupPolicySet={"Ingress": [rule], "Egress": [rule]},
                         Tags=[{"Key": "team", "Value": "core"}])["SecurityGroup"]["SecurityGroupId"]
    api.cvm("AssociateSecurityGroups", SecurityGroupIds=[ids["sg"]], InstanceIds=[running])

    created = api.call("vpc", "CreateVpc", VpcName="fields", CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    api.call("vpc", "CreateSubnet", VpcId=created, SubnetName="fields", CidrBlock="10.8.1.0/24", Zone=ZONE)
    api.call("vpc", "AttachClassicLinkVpc", VpcId=created, InstanceIds=[ids["basic"]])

    lb_resp = api.call("clb", "CreateLoadBalancer", LoadBalancerType="OPEN", Tags=[{"TagKey": "a", "TagValue": "b"}])
    lb = ids["lb"] = lb_resp["LoadBalancerIds"][0]
    ids["lb_task"] = lb_resp["RequestId"]
    http = api.call("clb", "CreateListener", LoadBalancerId=lb, Ports=[8000], Protocol="HTTP")["ListenerIds"][0]
    tcp = api.call("clb", "CreateListener", LoadBalancerId=lb, Ports=[8001], Protocol="TCP",
                   HealthCheck={"HealthSwitch": 1, "IntervalTime": 5})["ListenerIds"][0]
    loc = api.call("clb", "CreateRule", LoadBalancerId=lb, ListenerId=http,
                   Rules=[{"Url": "/", "Domain": "example.test"}])["LocationIds"][0]
    api.call("clb", "RegisterTargets", LoadBalancerId=lb, ListenerId=http, LocationId=loc,
             Targets=[{"InstanceId": running, "Port": 80, "Weight": 10}])
    api.call("clb", "RegisterTargets", LoadBalancerId=lb, ListenerId=tcp,
             Targets=[{"InstanceId": running, "Port": 80}, {"InstanceId": keep, "Port": 80}])

    lc = api.call("as", "CreateLaunchConfiguration", LaunchConfigurationName="fields", ImageId="img-eb30mz89",
                  InstanceType="S5.SMALL1", DataDisks=[{"DiskType": "CLOUD_PREMIUM", "DiskSize": 20}],
                  InstanceTags=[{"Key": "team", "Value": "core"}])["LaunchConfigurationId"]
    default_vpc = api.call("vpc", "DescribeVpcs", Filters=[{"Name": "is-default", "Values": ["true"]}])["VpcSet"][0]
    subnet = api.call("vpc", "DescribeSubnets", Filters=[{"Name": "vpc-id", "Values": [default_vpc["VpcId"]]},
                                                       {"Name": "zone", "Values": [ZONE]}])["SubnetSet"][0]
    group = api.call("as", "CreateAutoScalingGroup", AutoScalingGroupName="fields", LaunchConfigurationId=lc,
                     Tags=[{"Key": "team", "Value": "core"}],
                     MaxSize=2, MinSize=0, DesiredCapacity=1, VpcId=default_vpc["VpcId"],
                     SubnetIds=[subnet["SubnetId"]],
                     ForwardLoadBalancers=[{"LoadBalancerId": lb, "ListenerId": http, "LocationId": loc,
                                            "TargetAttributes": [{"Port": 80, "Weight": 10}]}])
    ids["group"] = group["AutoScalingGroupId"]
    cam_user = api.call("cam", "AddUser", Name="fields", Remark="fields")
    trust = ('{"version":"2.0","statement":[{"effect":"allow","action":"sts:AssumeRole",'
             '"principal":{"qcs":["qcs::cam::uin/1:root"]}}]}')
    api.call("cam", "CreateRole", RoleName="fields", PolicyDocument=trust)
    ids["cam_group"] = str(api.call("cam", "CreateGroup", GroupName="fields")["GroupId"])
    api.call("cam", "AddUserToGroup", Info=[{"GroupId": int(ids["cam_group"]), "Uin": cam_user["Uin"]}])
    ids["policy"] = str(api.call("cam", "CreatePolicy", PolicyName="fields", PolicyDocument=_DOCUMENT)["PolicyId"])
    api.wait(lambda: api.call("as", "DescribeAutoScalingInstances",
                              Filters=[{"Name": "auto-scaling-group-id", "Values": [ids["group"]]}])["TotalCount"] == 1,
             timeout=60)

    api.call("tat", "CreateCommand", CommandName="fields", Content="aG9zdG5hbWU=", Tags=[{"Key": "k", "Value": "v"}])
    invocation = api.call("tat", "RunCommand", InstanceIds=[ids["running"]], Content="aG9zdG5hbWU=")["InvocationId"]
    api.wait(lambda: api.call("tat", "DescribeInvocations", InvocationIds=[invocation])["InvocationSet"][0]
             ["InvocationStatus"] == "SUCCESS")
    return ids


@pytest.fixture(scope="module")
def world(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = ServerProcess(tmp_path_factory.mktemp(f"fields-{backend}"), backend).start()
    try:
        api = Api(server.endpoint, SECRET_ID, SECRET_KEY)
        uin = api.call("sts", "GetCallerIdentity")["AccountId"]
        yield World(api, server, uin, _build(api))
    finally:
        server.close()
    server.assert_clean_log()


def _calls(w: World, service: str, action: str) -> list[dict[str, Any]]:
    """The requests made to check one action: enough to bring every state built above into its response."""
    i = w.ids
    instance_ids = [i["running"], i["keep"], i["stop"], i["basic"], i["prepaid"]]
    lb = i["lb"]
    res = f"qcs::cvm:ap-guangzhou:uin/{w.uin}:instance/{i['running']}"
    recipes: dict[tuple[str, str], list[dict[str, Any]]] = {
        ("cvm", "DescribeInstances"): [{"InstanceIds": instance_ids}],
        ("cvm", "DescribeInstancesStatus"): [{"InstanceIds": instance_ids}],
        ("cvm", "DescribeInstancesAttributes"): [{"InstanceIds": instance_ids, "Attributes": ["UserData"]}],
        ("cvm", "DescribeInstancesModification"): [{"InstanceIds": [i["running"]]}],
        ("cvm", "DescribeInstanceVncUrl"): [{"InstanceId": i["running"]}],
        ("cvm", "DescribeInstancesOperationLimit"): [{"InstanceIds": instance_ids, "Operation": "INSTANCE_DEGRADE"}],
        ("cvm", "InquiryPriceRunInstances"): [
            {"Placement": {"Zone": ZONE}, "ImageId": "img-eb30mz89", "InstanceType": "S5.MEDIUM4",
             "InternetAccessible": {"InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR", "InternetMaxBandwidthOut": 5}},
            {"Placement": {"Zone": ZONE}, "ImageId": "img-eb30mz89", "InstanceChargeType": "PREPAID",
             "InstanceChargePrepaid": {"Period": 1},
             "InternetAccessible": {"InternetChargeType": "BANDWIDTH_PREPAID", "InternetMaxBandwidthOut": 5}}],
        ("cvm", "InquiryPriceResetInstancesType"): [{"InstanceIds": [i["running"]], "InstanceType": "S5.LARGE8"}],
        ("cvm", "InquiryPriceResizeInstanceDisks"): [{"InstanceId": i["running"], "SystemDisk": {"DiskSize": 80}}],
        ("cvm", "DescribeZoneInstanceConfigInfos"): [{"Filters": [{"Name": "zone", "Values": [ZONE]}]}],
        ("vpc", "DescribeTaskResult"): [{"TaskId": int(i["eip_task"])}],
        ("vpc", "DescribeAddresses"): [{}],
        ("vpc", "DescribeSecurityGroupPolicies"): [{"SecurityGroupId": i["sg"]}],
        ("vpc", "DescribeSecurityGroupAssociationStatistics"): [{"SecurityGroupIds": [i["sg"]]}],
        ("clb", "DescribeListeners"): [{"LoadBalancerId": lb}],
        ("clb", "DescribeTargets"): [{"LoadBalancerId": lb}],
        ("clb", "DescribeTargetHealth"): [{"LoadBalancerIds": [lb]}],
        ("clb", "DescribeTaskStatus"): [{"TaskId": i["lb_task"]}],
        ("tag", "DescribeResourceTagsByResourceIds"): [
            {"ServiceType": "cvm", "ResourcePrefix": "instance", "ResourceIds": [i["running"]],
             "ResourceRegion": "ap-guangzhou"}],
        ("tag", "GetResources"): [{"ResourceList": [res]}],
        ("tag", "GetTagValues"): [{"TagKeys": ["team"]}],
        ("tat", "DescribeInvocationTasks"): [{"HideOutput": False}],
        ("tat", "DescribeAutomationAgentStatus"): [{"InstanceIds": instance_ids}],
        ("cam", "GetUser"): [{"Name": "fields"}],
        ("cam", "GetPolicy"): [{"PolicyId": 1}, {"PolicyId": int(i["policy"])}],
        ("cam", "GetRole"): [{"RoleName": "fields"}],
        ("cam", "GetGroup"): [{"GroupId": int(i["cam_group"])}],
    }
    return recipes.get((service, action), [{}])


@pytest.mark.parametrize(("service", "action"), served_reads())
def test_every_field_of_the_sdk_model(world: World, service: str, action: str) -> None:
    report = Report()
    for params in _calls(world, service, action):
        response = world.api.call(service, action, **params)
        check(report, MODELS[service], f"{action}Response", response)
    problems = report.problems(MAY_BE_NULL) + [f"never seen other than [] (elements unchecked) {p}"
                                               for p in sorted(report.unchecked_lists() - MAY_BE_EMPTY)]
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)

