"""CLB 2018-03-17 request models (field names and types as in the official SDK)."""

from __future__ import annotations

from minicvm.services.models import Filter, Opaque, Req


class TagInfo(Req):
    TagKey: str
    TagValue: str


class InternetAccessibleStruct(Req):
    InternetChargeType: str | None = None
    InternetMaxBandwidthOut: int | None = None
    BandwidthpkgSubType: str | None = None


class HealthCheckStruct(Req):
    HealthSwitch: int | None = None
    TimeOut: int | None = None
    IntervalTime: int | None = None
    HealthNum: int | None = None
    UnHealthNum: int | None = None
    HttpCode: int | None = None
    HttpCheckPath: str | None = None
    HttpCheckDomain: str | None = None
    HttpCheckMethod: str | None = None
    CheckPort: int | None = None
    ContextType: str | None = None
    SendContext: str | None = None
    RecvContext: str | None = None
    CheckType: str | None = None
    HttpVersion: str | None = None
    SourceIpType: int | None = None
    ExtendedCode: str | None = None


class CreateLoadBalancer(Req):
    LoadBalancerType: str
    Forward: int | None = None
    LoadBalancerName: str | None = None
    VpcId: str | None = None
    SubnetId: str | None = None
    ProjectId: int | None = None
    AddressIPVersion: str | None = None
    Number: int | None = None
    MasterZoneId: str | None = None
    ZoneId: str | None = None
    InternetAccessible: InternetAccessibleStruct | None = None
    VipIsp: str | None = None
    Tags: list[TagInfo] | None = None
    Vip: str | None = None
    BandwidthPackageId: str | None = None
    ExclusiveCluster: Opaque = None
    SlaType: str | None = None
    ClusterIds: list[str] | None = None
    ClientToken: str | None = None
    SnatPro: bool | None = None
    SnatIps: Opaque = None
    ClusterTag: str | None = None
    SlaveZoneId: str | None = None
    EipAddressId: str | None = None
    LoadBalancerPassToTarget: bool | None = None
    DynamicVip: bool | None = None
    Egress: str | None = None
    LBChargePrepaid: Opaque = None
    LBChargeType: str | None = None
    AccessLogTopicId: str | None = None
    AdvancedRoute: bool | None = None
    AvailableZoneAffinityInfo: Opaque = None


class DescribeLoadBalancers(Req):
    LoadBalancerIds: list[str] | None = None
    LoadBalancerType: str | None = None
    Forward: int | None = None
    LoadBalancerName: str | None = None
    Domain: str | None = None
    LoadBalancerVips: list[str] | None = None
    BackendPublicIps: list[str] | None = None
    BackendPrivateIps: list[str] | None = None
    Offset: int | None = None
    Limit: int | None = None
    OrderBy: str | None = None
    OrderType: int | None = None
    SearchKey: str | None = None
    ProjectId: int | None = None
    WithRs: int | None = None
    VpcId: str | None = None
    SecurityGroup: str | None = None
    MasterZone: str | None = None
    Filters: list[Filter] | None = None
    AdditionalFields: list[str] | None = None


class DeleteLoadBalancer(Req):
    LoadBalancerIds: list[str]
    ForceDelete: bool | None = None


class CreateListener(Req):
    LoadBalancerId: str
    Ports: list[int]
    Protocol: str
    ListenerNames: list[str] | None = None
    HealthCheck: HealthCheckStruct | None = None
    Certificate: Opaque = None
    SessionExpireTime: int | None = None
    Scheduler: str | None = None
    SniSwitch: int | None = None
    TargetType: str | None = None
    SessionType: str | None = None
    KeepaliveEnable: int | None = None
    EndPort: int | None = None
    DeregisterTargetRst: bool | None = None
    MultiCertInfo: Opaque = None
    MaxConn: int | None = None
    MaxCps: int | None = None
    IdleConnectTimeout: int | None = None
    ProxyProtocol: bool | None = None
    SnatEnable: bool | None = None
    FullEndPorts: list[int] | None = None
    H2cSwitch: bool | None = None
    SslCloseSwitch: bool | None = None
    DataCompressMode: str | None = None
    RescheduleTargetZeroWeight: bool | None = None
    RescheduleUnhealthy: bool | None = None
    RescheduleExpandTarget: bool | None = None
    RescheduleStartTime: int | None = None
    RescheduleInterval: int | None = None


class DescribeListeners(Req):
    LoadBalancerId: str
    ListenerIds: list[str] | None = None
    Protocol: str | None = None
    Port: int | None = None


class ModifyListener(Req):
    LoadBalancerId: str
    ListenerId: str
    ListenerName: str | None = None
    SessionExpireTime: int | None = None
    HealthCheck: HealthCheckStruct | None = None
    Certificate: Opaque = None
    Scheduler: str | None = None
    SniSwitch: int | None = None
    TargetType: str | None = None
    KeepaliveEnable: int | None = None
    DeregisterTargetRst: bool | None = None
    SessionType: str | None = None
    MultiCertInfo: Opaque = None
    MaxConn: int | None = None
    MaxCps: int | None = None
    IdleConnectTimeout: int | None = None
    ProxyProtocol: bool | None = None
    SnatEnable: bool | None = None
    DataCompressMode: str | None = None
    RescheduleTargetZeroWeight: bool | None = None
    RescheduleUnhealthy: bool | None = None
    RescheduleExpandTarget: bool | None = None
    RescheduleStartTime: int | None = None
    RescheduleInterval: int | None = None


class DeleteListener(Req):
    LoadBalancerId: str
    ListenerId: str


class RuleInput(Req):
    Url: str
    Domain: str | None = None
    SessionExpireTime: int | None = None
    HealthCheck: HealthCheckStruct | None = None
    Certificate: Opaque = None
    Scheduler: str | None = None
    ForwardType: str | None = None
    DefaultServer: bool | None = None
    Http2: bool | None = None
    TargetType: str | None = None
    TrpcCallee: str | None = None
    TrpcFunc: str | None = None
    Quic: bool | None = None
    Domains: list[str] | None = None
    MultiCertInfo: Opaque = None
    CookieName: str | None = None


class CreateRule(Req):
    LoadBalancerId: str
    ListenerId: str
    Rules: list[RuleInput]


class ModifyRule(Req):
    LoadBalancerId: str
    ListenerId: str
    LocationId: str
    Url: str | None = None
    HealthCheck: HealthCheckStruct | None = None
    Scheduler: str | None = None
    SessionExpireTime: int | None = None
    ForwardType: str | None = None
    TrpcCallee: str | None = None
    TrpcFunc: str | None = None
    OAuth: Opaque = None
    CookieName: str | None = None


class DeleteRule(Req):
    LoadBalancerId: str
    ListenerId: str
    LocationIds: list[str] | None = None
    Domain: str | None = None
    Url: str | None = None
    NewDefaultServerDomain: str | None = None


class Target(Req):
    Port: int | None = None
    Type: str | None = None
    InstanceId: str | None = None
    Weight: int | None = None
    EniIp: str | None = None
    Tag: str | None = None


class Targets(Req):
    LoadBalancerId: str
    ListenerId: str
    Targets: list[Target]
    LocationId: str | None = None
    Domain: str | None = None
    Url: str | None = None


class ModifyTargetWeight(Targets):
    Weight: int | None = None


class DescribeTargets(Req):
    LoadBalancerId: str
    ListenerIds: list[str] | None = None
    Protocol: str | None = None
    Port: int | None = None
    Filters: list[Filter] | None = None


class DescribeTargetHealth(Req):
    LoadBalancerIds: list[str]
    ListenerIds: list[str] | None = None
    LocationIds: list[str] | None = None


class DescribeTaskStatus(Req):
    TaskId: str | None = None
    DealName: str | None = None
