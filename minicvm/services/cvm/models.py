"""CVM 2017-03-12 request models; field names and types follow the official SDK's models."""

from __future__ import annotations

from minicvm.services.models import Filter, Opaque, Req, WireStoppedMode, WireStopType
from minicvm.services.models import TagSpecification as TagSpecificationStruct


class PlacementStruct(Req):
    Zone: str
    ProjectId: int | None = None
    HostIds: list[str] | None = None
    HostId: str | None = None
    DedicatedResourcePackTenancy: str | None = None
    DedicatedResourcePackIds: list[str] | None = None
    RackId: str | None = None


class SystemDiskStruct(Req):
    DiskType: str | None = None
    DiskId: str | None = None
    DiskSize: int | None = None
    CdcId: str | None = None
    DiskName: str | None = None
    Encrypt: bool | None = None
    KmsKeyId: str | None = None


class DataDiskStruct(Req):
    DiskSize: int
    DiskType: str | None = None
    DiskId: str | None = None
    DeleteWithInstance: bool | None = None
    SnapshotId: str | None = None
    Encrypt: bool | None = None
    KmsKeyId: str | None = None
    ThroughputPerformance: int | None = None
    CdcId: str | None = None
    BurstPerformance: bool | None = None
    DiskName: str | None = None


class VirtualPrivateCloudStruct(Req):
    VpcId: str
    SubnetId: str
    AsVpcGateway: bool | None = None
    PrivateIpAddresses: list[str] | None = None
    Ipv6AddressCount: int | None = None


class InternetAccessibleStruct(Req):
    InternetChargeType: str | None = None
    InternetMaxBandwidthOut: int | None = None
    PublicIpAssigned: bool | None = None
    BandwidthPackageId: str | None = None
    InternetServiceProvider: str | None = None
    IPv4AddressType: str | None = None
    IPv6AddressType: str | None = None
    AntiDDoSPackageId: str | None = None


class LoginSettingsStruct(Req):
    Password: str | None = None
    KeyIds: list[str] | None = None
    KeepImageLogin: str | None = None


class InstanceChargePrepaidStruct(Req):
    Period: int
    RenewFlag: str | None = None


class RunInstances(Req):
    InstanceChargeType: str | None = None
    InstanceChargePrepaid: InstanceChargePrepaidStruct | None = None
    Placement: PlacementStruct | None = None
    InstanceType: str | None = None
    ImageId: str | None = None
    SystemDisk: SystemDiskStruct | None = None
    DataDisks: list[DataDiskStruct] | None = None
    VirtualPrivateCloud: VirtualPrivateCloudStruct | None = None
    InternetAccessible: InternetAccessibleStruct | None = None
    InstanceCount: int | None = None
    MinCount: int | None = None
    InstanceName: str | None = None
    LoginSettings: LoginSettingsStruct | None = None
    SecurityGroupIds: list[str] | None = None
    EnhancedService: Opaque = None
    ClientToken: str | None = None
    HostName: str | None = None
    ActionTimer: Opaque = None
    DisasterRecoverGroupIds: list[str] | None = None
    TagSpecification: list[TagSpecificationStruct] | None = None
    InstanceMarketOptions: Opaque = None
    UserData: str | None = None
    Metadata: Opaque = None
    DryRun: bool | None = None
    CpuTopology: Opaque = None
    CamRoleName: str | None = None
    HpcClusterId: str | None = None
    LaunchTemplate: Opaque = None
    DedicatedClusterId: str | None = None
    ChcIds: list[str] | None = None
    PartitionNumber: int | None = None
    DisableApiTermination: bool | None = None
    EnableJumboFrame: bool | None = None
    NetworkInterfaces: Opaque = None


class DescribeInstances(Req):
    InstanceIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: int | None = None
    Limit: int | None = None


class DescribeInstancesStatus(Req):
    InstanceIds: list[str] | None = None
    Offset: int | None = None
    Limit: int | None = None


class InstanceIds(Req):
    InstanceIds: list[str]


class StopInstances(InstanceIds):
    ForceStop: bool | None = None
    StopType: WireStopType | None = None
    StoppedMode: WireStoppedMode | None = None


class RebootInstances(InstanceIds):
    ForceReboot: bool | None = None
    StopType: WireStopType | None = None


class TerminateInstances(InstanceIds):
    ReleaseAddress: bool | None = None
    ReleasePrepaidDataDisks: bool | None = None


class ResetInstancesType(InstanceIds):
    InstanceType: str
    ForceStop: bool | None = None


class ResizeInstanceDisks(Req):
    InstanceId: str
    DataDisks: list[DataDiskStruct] | None = None
    ForceStop: bool | None = None
    SystemDisk: SystemDiskStruct | None = None
    ResizeOnline: bool | None = None


class ResetInstancesPassword(InstanceIds):
    Password: str
    UserName: str | None = None
    ForceStop: bool | None = None


class ModifyInstancesAttribute(InstanceIds):
    InstanceName: str | None = None
    UserData: str | None = None
    SecurityGroups: list[str] | None = None
    CamRoleName: str | None = None
    HostName: str | None = None
    DisableApiTermination: bool | None = None
    CamRoleType: str | None = None
    AutoReboot: bool | None = None
    EnableJumboFrame: bool | None = None


class InstancesKeyPairs(InstanceIds):
    KeyIds: list[str]
    ForceStop: bool | None = None


class CreateKeyPair(Req):
    KeyName: str
    ProjectId: int
    TagSpecification: list[TagSpecificationStruct] | None = None


class ImportKeyPair(CreateKeyPair):
    PublicKey: str


class DescribeKeyPairs(Req):
    KeyIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: int | None = None
    Limit: int | None = None


class DeleteKeyPairs(Req):
    KeyIds: list[str]


class ModifyKeyPairAttribute(Req):
    KeyId: str
    KeyName: str | None = None
    Description: str | None = None


class Empty(Req):
    pass


class DescribeImages(Req):
    ImageIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: int | None = None
    Limit: int | None = None
    InstanceType: str | None = None


class DescribeInstanceTypeConfigs(Req):
    Filters: list[Filter] | None = None


class InquiryPriceRunInstances(RunInstances):
    pass


class InquiryPriceResetInstancesType(Req):
    InstanceIds: list[str]
    InstanceType: str


class DescribeZoneInstanceConfigInfos(Req):
    Filters: list[Filter] | None = None


class DescribeInstancesAttributes(Req):
    Attributes: list[str]
    InstanceIds: list[str]


class DescribeInstancesModification(Req):
    InstanceIds: list[str]
    Filters: list[Filter] | None = None


class DescribeInstancesOperationLimit(Req):
    InstanceIds: list[str]
    Operation: str


class InstancesSecurityGroups(Req):
    SecurityGroupIds: list[str]
    InstanceIds: list[str]


class DescribeInstanceVncUrl(Req):
    InstanceId: str
