"""What every action touches, for CAM: the namespace it is authorised under and the resources it names.
One entry per registered action (tests/test_cam.py fails on any action without one); an action missing here is
denied to every caller but the root account.

A resource is named by request fields (`InstanceIds`, `VirtualPrivateCloud.SubnetId`, `Targets.InstanceId`):
each id there is one six-segment resource and a batch touches each. A kind with no fields stands for the
kind's wildcard (`instance/*`): listings and creations are authorised that way, as Tencent's denials of them
read. An action that names no resource at all is "operation level" and needs `resource: "*"`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """A resource type as the six-segment name spells it; the value is `<service_type>:<prefix>`."""

    INSTANCE = "cvm:instance"
    VOLUME = "cvm:volume"
    EIP = "cvm:eip"
    KEYPAIR = "cvm:keypair"
    IMAGE = "cvm:image"
    SECURITY_GROUP = "cvm:sg"
    VPC = "vpc:vpc"
    SUBNET = "vpc:subnet"
    CLB = "clb:clb"
    AS_GROUP = "as:auto-scaling-group"
    LAUNCH_CONFIG = "as:launch-configuration"
    NAMED = ":"  # the field holds six-segment names already (the Tag service's ResourceList)

    @property
    def service_type(self) -> str:
        return self.value.partition(":")[0]

    @property
    def prefix(self) -> str:
        return self.value.partition(":")[2]


@dataclass(frozen=True)
class Touch:
    kind: Kind
    fields: tuple[str, ...] = ()  # empty: the kind's wildcard


@dataclass(frozen=True)
class Declaration:
    namespace: str  # the CAM service the action is authorised under (`cvm` for CBS and EIP actions)
    touches: tuple[Touch, ...] = ()  # empty: operation level
    request_tags: tuple[str, ...] = ()  # fields carrying the tags a request sets (`qcs:request_tag`)
    public: bool = False  # answered for every caller without a decision (who-am-I)


def _touch(spec: Kind | tuple[Kind, str]) -> Touch:
    if isinstance(spec, Kind):
        return Touch(spec)
    kind, fields = spec
    return Touch(kind, tuple(fields.split()))


def on(namespace: str, *touches: Kind | tuple[Kind, str], tags: str = "") -> Declaration:
    return Declaration(namespace, tuple(_touch(t) for t in touches), tuple(tags.split()))


def op(namespace: str) -> Declaration:
    return Declaration(namespace)


INS, V, E, K = Kind.INSTANCE, Kind.VOLUME, Kind.EIP, Kind.KEYPAIR
ASG, LC = Kind.AS_GROUP, Kind.LAUNCH_CONFIG
SG = Kind.SECURITY_GROUP

_CVM: dict[str, Declaration] = {
    "RunInstances": on("cvm", INS, (Kind.IMAGE, "ImageId"), (Kind.SUBNET, "VirtualPrivateCloud.SubnetId"),
                       (Kind.SECURITY_GROUP, "SecurityGroupIds"), (K, "LoginSettings.KeyIds"),
                       tags="TagSpecification"),
    "DescribeInstances": on("cvm", INS),
    "DescribeInstancesStatus": on("cvm", INS),
    "DescribeImages": on("cvm", Kind.IMAGE),
    "DescribeKeyPairs": on("cvm", K),
    "CreateKeyPair": on("cvm", K, tags="TagSpecification"),
    "ImportKeyPair": on("cvm", K, tags="TagSpecification"),
    "DeleteKeyPairs": on("cvm", (K, "KeyIds")),
    "ModifyKeyPairAttribute": on("cvm", (K, "KeyId")),
    "AssociateInstancesKeyPairs": on("cvm", (INS, "InstanceIds"), (K, "KeyIds")),
    "DisassociateInstancesKeyPairs": on("cvm", (INS, "InstanceIds"), (K, "KeyIds")),
    "ResizeInstanceDisks": on("cvm", (INS, "InstanceId")),
    "InquiryPriceResizeInstanceDisks": on("cvm", (INS, "InstanceId")),
    "DescribeInstanceVncUrl": on("cvm", (INS, "InstanceId")),
    **{name: on("cvm", (INS, "InstanceIds")) for name in (
        "StartInstances", "StopInstances", "RebootInstances", "TerminateInstances", "ResetInstancesType",
        "ResetInstancesPassword", "ModifyInstancesAttribute", "InquiryPriceResetInstancesType",
        "DescribeInstancesAttributes", "DescribeInstancesModification", "DescribeInstancesOperationLimit")},
    "AssociateSecurityGroups": on("cvm", (INS, "InstanceIds"), (SG, "SecurityGroupIds")),
    "DisassociateSecurityGroups": on("cvm", (INS, "InstanceIds"), (SG, "SecurityGroupIds")),
    **{name: op("cvm") for name in (
        "DescribeRegions", "DescribeZones", "DescribeInstanceTypeConfigs", "DescribeZoneInstanceConfigInfos",
        "InquiryPriceRunInstances")},
}

_CBS: dict[str, Declaration] = {  # CBS is authorised under `cvm`
    "CreateDisks": on("cvm", V, tags="Tags"),
    "DescribeDisks": on("cvm", V),
    "AttachDisks": on("cvm", (V, "DiskIds"), (INS, "InstanceId")),
    "DetachDisks": on("cvm", (V, "DiskIds"), (INS, "InstanceId")),
    "ModifyDiskAttributes": on("cvm", (V, "DiskIds")),
    "ResizeDisk": on("cvm", (V, "DiskId")),
    "TerminateDisks": on("cvm", (V, "DiskIds")),
}

_VPC: dict[str, Declaration] = {  # EIP actions are authorised under `cvm`, as real denials show
    "AllocateAddresses": on("cvm", E, tags="Tags"),
    "DescribeAddresses": on("cvm", E),
    "AssociateAddress": on("cvm", (E, "AddressId"), (INS, "InstanceId")),
    "DisassociateAddress": on("cvm", (E, "AddressId")),
    "ReleaseAddresses": on("cvm", (E, "AddressIds")),
    "CreateVpc": on("vpc", Kind.VPC, tags="Tags"),
    "DescribeVpcs": on("vpc", Kind.VPC),
    "DeleteVpc": on("vpc", (Kind.VPC, "VpcId")),
    "CreateSubnet": on("vpc", (Kind.VPC, "VpcId"), Kind.SUBNET, tags="Tags"),
    "DescribeSubnets": on("vpc", Kind.SUBNET),
    "DeleteSubnet": on("vpc", (Kind.SUBNET, "SubnetId")),
    "AttachClassicLinkVpc": on("vpc", (Kind.VPC, "VpcId"), (INS, "InstanceIds")),
    "DetachClassicLinkVpc": on("vpc", (Kind.VPC, "VpcId"), (INS, "InstanceIds")),
    "DescribeClassicLinkInstances": op("vpc"),
    "DescribeTaskResult": op("vpc"),
    # Security groups are authorised under `vpc`; the groups themselves are `cvm` resources (`sg/sg-…`).
    "CreateSecurityGroup": on("vpc", SG, tags="Tags"),
    "CreateSecurityGroupWithPolicies": on("vpc", SG, tags="Tags"),
    "DescribeSecurityGroups": on("vpc", SG),
    "DescribeSecurityGroupAssociationStatistics": on("vpc", (SG, "SecurityGroupIds")),
    **{name: on("vpc", (SG, "SecurityGroupId")) for name in (
        "DeleteSecurityGroup", "ModifySecurityGroupAttribute", "CreateSecurityGroupPolicies",
        "DescribeSecurityGroupPolicies", "DeleteSecurityGroupPolicies", "ReplaceSecurityGroupPolicies",
        "ModifySecurityGroupPolicies")},
}

_CLB: dict[str, Declaration] = {
    "CreateLoadBalancer": on("clb", Kind.CLB, tags="Tags"),
    "DescribeLoadBalancers": op("clb"),  # operation level: "only the API is authenticated"
    "DeleteLoadBalancer": on("clb", (Kind.CLB, "LoadBalancerIds")),
    "DescribeTargetHealth": on("clb", (Kind.CLB, "LoadBalancerIds")),
    "DescribeTaskStatus": op("clb"),
    **{name: on("clb", (Kind.CLB, "LoadBalancerId")) for name in (
        "CreateListener", "DescribeListeners", "ModifyListener", "DeleteListener", "CreateRule", "ModifyRule",
        "DeleteRule", "DescribeTargets")},
    **{name: on("clb", (Kind.CLB, "LoadBalancerId"), (INS, "Targets.InstanceId")) for name in (
        "RegisterTargets", "DeregisterTargets", "ModifyTargetWeight")},
}

_AS: dict[str, Declaration] = {
    "CreateAutoScalingGroup": on("as", ASG, (LC, "LaunchConfigurationId"), tags="Tags"),
    "CreateLaunchConfiguration": on("as", LC, (Kind.IMAGE, "ImageId")),
    "DeleteLaunchConfiguration": on("as", (LC, "LaunchConfigurationId")),
    "ModifyLaunchConfigurationAttributes": on("as", (LC, "LaunchConfigurationId")),
    "DescribeLaunchConfigurations": on("as", LC),
    "DescribeAutoScalingGroups": on("as", ASG),
    "DescribeAutoScalingInstances": on("as", ASG),
    "DescribeAutoScalingActivities": on("as", ASG),
    **{name: on("as", (ASG, "AutoScalingGroupId")) for name in (
        "DeleteAutoScalingGroup", "EnableAutoScalingGroup", "DisableAutoScalingGroup", "ModifyAutoScalingGroup",
        "ModifyDesiredCapacity")},
    **{name: on("as", (ASG, "AutoScalingGroupId"), (INS, "InstanceIds")) for name in (
        "AttachInstances", "DetachInstances", "RemoveInstances", "SetInstancesProtection",
        "StartAutoScalingInstances", "StopAutoScalingInstances")},
}

_TAG: dict[str, Declaration] = {
    "TagResources": on("tag", (Kind.NAMED, "ResourceList"), tags="Tags"),
    "UnTagResources": on("tag", (Kind.NAMED, "ResourceList")),
    "AddResourceTag": on("tag", (Kind.NAMED, "Resource")),
    "DeleteResourceTag": on("tag", (Kind.NAMED, "Resource")),
    "ModifyResourceTags": on("tag", (Kind.NAMED, "Resource"), tags="ReplaceTags"),
    **{name: op("tag") for name in (
        "GetResources", "GetTagKeys", "GetTagValues", "GetTags", "DescribeResourceTagsByResourceIds")},
}

_TAT: dict[str, Declaration] = {  # invocations are authorised against the instances they run on
    "RunCommand": on("tat", (INS, "InstanceIds")),
    "InvokeCommand": on("tat", (INS, "InstanceIds")),
    **{name: op("tat") for name in (
        "CreateCommand", "DescribeCommands", "DeleteCommand", "DescribeInvocations", "DescribeInvocationTasks",
        "DescribeAutomationAgentStatus")},
}

_STS: dict[str, Declaration] = {
    "GetCallerIdentity": Declaration("sts", public=True),
    "AssumeRole": on("sts", (Kind.NAMED, "RoleArn")),
}

_CAM: dict[str, Declaration] = {name: op("cam") for name in (
    "AddUser", "GetUser", "ListUsers", "DeleteUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey",
    "DeleteAccessKey", "CreatePolicy", "GetPolicy", "ListPolicies", "UpdatePolicy", "DeletePolicy",
    "AttachUserPolicy", "DetachUserPolicy", "ListAttachedUserPolicies", "CreateRole", "GetRole", "DeleteRole",
    "AttachRolePolicy", "DetachRolePolicy", "ListAttachedRolePolicies", "CreateGroup", "GetGroup", "DeleteGroup",
    "ListGroups", "AddUserToGroup", "RemoveUserFromGroup", "AttachGroupPolicy", "DetachGroupPolicy",
    "ListAttachedGroupPolicies")}

_CLOUDAUDIT: dict[str, Declaration] = {"LookUpEvents": op("cloudaudit")}

DECLARATIONS: dict[tuple[str, str], Declaration] = {
    (service, action): declaration
    for service, table in (("cvm", _CVM), ("cbs", _CBS), ("vpc", _VPC), ("clb", _CLB), ("as", _AS), ("tag", _TAG),
                           ("tat", _TAT), ("sts", _STS), ("cam", _CAM),
                           ("cloudaudit", _CLOUDAUDIT))
    for action, declaration in table.items()
}


def actions_by_namespace() -> dict[str, frozenset[str]]:
    """The action names each CAM namespace has here, for checking a policy's actions."""
    found: dict[str, set[str]] = {}
    for (_service, action), declaration in DECLARATIONS.items():
        found.setdefault(declaration.namespace, set()).add(action)
    return {namespace: frozenset(names) for namespace, names in found.items()}
