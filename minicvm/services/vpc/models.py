"""VPC 2017-03-12 request models (field names and types as in the official SDK)."""

from __future__ import annotations

from minicvm.services.models import Filter, Opaque, Req


class TagStruct(Req):
    Key: str
    Value: str | None = None


class CreateVpc(Req):
    VpcName: str
    StackType: str | None = None
    CidrBlock: str | None = None
    Ipv6CidrBlock: str | None = None
    AddressType: str | None = None
    EnableMulticast: str | None = None
    DnsServers: list[str] | None = None
    DomainName: str | None = None
    Tags: list[TagStruct] | None = None
    EnableRouteVpcPublish: bool | None = None
    EnableRouteVpcPublishIpv6: bool | None = None


class DescribeVpcs(Req):
    VpcIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: str | None = None
    Limit: str | None = None


class DeleteVpc(Req):
    VpcId: str


class CreateSubnet(Req):
    VpcId: str
    SubnetName: str
    Zone: str
    StackType: str | None = None
    CidrBlock: str | None = None
    Ipv6CidrBlock: str | None = None
    Tags: list[TagStruct] | None = None
    CdcId: str | None = None


class DescribeSubnets(Req):
    SubnetIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: str | None = None
    Limit: str | None = None
    MaxResults: int | None = None
    NextToken: str | None = None


class DeleteSubnet(Req):
    SubnetId: str


class AllocateAddresses(Req):
    AddressCount: int | None = None
    InternetServiceProvider: str | None = None
    InternetChargeType: str | None = None
    IPChargeType: str | None = None
    InternetMaxBandwidthOut: int | None = None
    AddressChargePrepaid: Opaque = None
    AddressType: str | None = None
    AnycastZone: str | None = None
    VipCluster: list[str] | None = None
    ApplicableForCLB: bool | None = None
    Tags: list[TagStruct] | None = None
    BandwidthPackageId: str | None = None
    AddressName: str | None = None
    DedicatedClusterId: str | None = None
    IsDedicatedAddressPool: bool | None = None
    Egress: str | None = None
    AntiDDoSPackageId: str | None = None
    ClientToken: str | None = None


class DescribeAddresses(Req):
    AddressIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: int | None = None
    Limit: int | None = None


class AssociateAddress(Req):
    AddressId: str
    InstanceId: str | None = None
    NetworkInterfaceId: str | None = None
    PrivateIpAddress: str | None = None
    EipDirectConnection: bool | None = None
    InstanceRegion: str | None = None


class DisassociateAddress(Req):
    AddressId: str
    ReallocateNormalPublicIp: bool | None = None


class ReleaseAddresses(Req):
    AddressIds: list[str]


class DescribeTaskResult(Req):
    TaskId: int | None = None
    DealName: str | None = None


class ClassicLink(Req):
    VpcId: str
    InstanceIds: list[str]


class DescribeClassicLinkInstances(Req):
    Filters: list[Filter] | None = None
    Offset: str | None = None
    Limit: str | None = None


class Policy(Req):
    PolicyIndex: int | None = None
    Protocol: str | None = None
    Port: str | None = None
    ServiceTemplate: Opaque = None
    CidrBlock: str | None = None
    Ipv6CidrBlock: str | None = None
    SecurityGroupId: str | None = None
    AddressTemplate: Opaque = None
    Action: str | None = None
    PolicyDescription: str | None = None
    ModifyTime: str | None = None
    Priority: int | None = None


class PolicySet(Req):
    Version: str | None = None
    Egress: list[Policy] | None = None
    Ingress: list[Policy] | None = None
    PolicyStatistics: Opaque = None


class CreateSecurityGroup(Req):
    GroupName: str
    GroupDescription: str
    ProjectId: str | None = None
    Tags: list[TagStruct] | None = None


class CreateSecurityGroupWithPolicies(CreateSecurityGroup):
    SecurityGroupPolicySet: PolicySet | None = None


class DescribeSecurityGroups(Req):
    SecurityGroupIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: str | None = None
    Limit: str | None = None
    OrderField: str | None = None
    OrderDirection: str | None = None


class SecurityGroupId(Req):
    SecurityGroupId: str


class ModifySecurityGroupAttribute(Req):
    SecurityGroupId: str
    GroupName: str | None = None
    GroupDescription: str | None = None


class SecurityGroupPolicies(Req):
    SecurityGroupId: str
    SecurityGroupPolicySet: PolicySet


class DescribeSecurityGroupPolicies(Req):
    SecurityGroupId: str
    Filters: list[Filter] | None = None


class ReplaceSecurityGroupPolicies(Req):
    SecurityGroupId: str
    SecurityGroupPolicySet: PolicySet
    OriginalSecurityGroupPolicySet: PolicySet | None = None
    UpdateType: str | None = None


class ModifySecurityGroupPolicies(Req):
    SecurityGroupId: str
    SecurityGroupPolicySet: PolicySet
    SortPolicys: bool | None = None


class SecurityGroupIds(Req):
    SecurityGroupIds: list[str]
