"""AS 2018-04-19 request models (field names and types as in the official SDK)."""

from __future__ import annotations

from minicvm.services.models import Filter, Opaque, Req, WireStoppedMode


class SystemDiskStruct(Req):
    DiskType: str | None = None
    DiskSize: int | None = None
    Encrypt: bool | None = None
    KmsKeyId: str | None = None


class DataDiskStruct(Req):
    DiskType: str | None = None
    DiskSize: int | None = None
    SnapshotId: str | None = None
    DeleteWithInstance: bool | None = None
    Encrypt: bool | None = None
    ThroughputPerformance: int | None = None
    BurstPerformance: bool | None = None
    KmsKeyId: str | None = None


class InternetAccessibleStruct(Req):
    InternetChargeType: str | None = None
    InternetMaxBandwidthOut: int | None = None
    PublicIpAssigned: bool | None = None
    BandwidthPackageId: str | None = None
    InternetServiceProvider: str | None = None
    IPv4AddressType: str | None = None
    AntiDDoSPackageId: str | None = None
    IsKeepEIP: bool | None = None


class LoginSettingsStruct(Req):
    Password: str | None = None
    KeyIds: list[str] | None = None
    KeepImageLogin: bool | None = None


class InstanceTag(Req):
    Key: str
    Value: str


class TagStruct(Req):
    Key: str
    Value: str
    ResourceType: str | None = None


class NameSettings(Req):
    InstanceName: str | None = None
    InstanceNameStyle: str | None = None
    InstanceNameSuffix: str | None = None
    InstanceNameDelimiter: str | None = None


class LaunchConfigurationFields(Req):
    ImageId: str | None = None
    InstanceTypes: list[str] | None = None
    InstanceTypesCheckPolicy: str | None = None
    UserData: str | None = None
    SecurityGroupIds: list[str] | None = None
    InternetAccessible: InternetAccessibleStruct | None = None
    InstanceChargeType: str | None = None
    InstanceChargePrepaid: Opaque = None
    InstanceMarketOptions: Opaque = None
    DiskTypePolicy: str | None = None
    SystemDisk: SystemDiskStruct | None = None
    DataDisks: list[DataDiskStruct] | None = None
    HostNameSettings: Opaque = None
    InstanceNameSettings: NameSettings | None = None
    EnhancedService: Opaque = None
    CamRoleName: str | None = None
    HpcClusterId: str | None = None
    IPv6InternetAccessible: Opaque = None
    DisasterRecoverGroupIds: list[str] | None = None
    LoginSettings: LoginSettingsStruct | None = None
    InstanceTags: list[InstanceTag] | None = None
    ImageFamily: str | None = None
    DedicatedClusterId: str | None = None
    Metadata: Opaque = None
    NetworkInterfaces: Opaque = None


class CreateLaunchConfiguration(LaunchConfigurationFields):
    LaunchConfigurationName: str
    ProjectId: int | None = None
    InstanceType: str | None = None
    Tags: list[TagStruct] | None = None


class ModifyLaunchConfigurationAttributes(LaunchConfigurationFields):
    LaunchConfigurationId: str
    LaunchConfigurationName: str | None = None


class DescribeLaunchConfigurations(Req):
    LaunchConfigurationIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Limit: int | None = None
    Offset: int | None = None


class LaunchConfigurationId(Req):
    LaunchConfigurationId: str


class TargetAttribute(Req):
    Port: int
    Weight: int


class ForwardLoadBalancer(Req):
    LoadBalancerId: str
    ListenerId: str
    TargetAttributes: list[TargetAttribute]
    LocationId: str | None = None
    Region: str | None = None


class ServiceSettingsStruct(Req):
    ReplaceMonitorUnhealthy: bool | None = None
    ScalingMode: str | None = None
    ReplaceLoadBalancerUnhealthy: bool | None = None
    ReplaceMode: str | None = None
    AutoUpdateInstanceTags: bool | None = None
    DesiredCapacitySyncWithMaxMinSize: bool | None = None
    PriorityScaleInUnhealthy: bool | None = None


class GroupFields(Req):
    DefaultCooldown: int | None = None
    DesiredCapacity: int | None = None
    ProjectId: int | None = None
    SubnetIds: list[str] | None = None
    TerminationPolicies: list[str] | None = None
    Zones: list[str] | None = None
    RetryPolicy: str | None = None
    ZonesCheckPolicy: str | None = None
    ServiceSettings: ServiceSettingsStruct | None = None
    Ipv6AddressCount: int | None = None
    MultiZoneSubnetPolicy: str | None = None
    HealthCheckType: str | None = None
    LoadBalancerHealthCheckGracePeriod: int | None = None
    InstanceAllocationPolicy: str | None = None
    SpotMixedAllocationPolicy: Opaque = None
    CapacityRebalance: bool | None = None
    InstanceNameIndexSettings: Opaque = None
    HostNameIndexSettings: Opaque = None
    ConcurrentScaleOutForDesiredCapacity: bool | None = None


class CreateAutoScalingGroup(GroupFields):
    AutoScalingGroupName: str
    LaunchConfigurationId: str
    MaxSize: int
    MinSize: int
    VpcId: str
    LoadBalancerIds: list[str] | None = None
    ForwardLoadBalancers: list[ForwardLoadBalancer] | None = None
    Tags: list[TagStruct] | None = None


class ModifyAutoScalingGroup(GroupFields):
    AutoScalingGroupId: str
    AutoScalingGroupName: str | None = None
    LaunchConfigurationId: str | None = None
    MaxSize: int | None = None
    MinSize: int | None = None
    VpcId: str | None = None


class GroupId(Req):
    AutoScalingGroupId: str


class DescribeAutoScalingGroups(Req):
    AutoScalingGroupIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Limit: int | None = None
    Offset: int | None = None


class DescribeAutoScalingInstances(Req):
    InstanceIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: int | None = None
    Limit: int | None = None


class DescribeAutoScalingActivities(Req):
    ActivityIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Limit: int | None = None
    Offset: int | None = None
    StartTime: str | None = None
    EndTime: str | None = None


class ModifyDesiredCapacity(Req):
    AutoScalingGroupId: str
    DesiredCapacity: int
    MinSize: int | None = None
    MaxSize: int | None = None


class GroupInstances(Req):
    AutoScalingGroupId: str
    InstanceIds: list[str]


class StopAutoScalingInstances(GroupInstances):
    StoppedMode: WireStoppedMode | None = None


class SetInstancesProtection(GroupInstances):
    ProtectedFromScaleIn: bool
