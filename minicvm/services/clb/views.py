"""Load balancers, listeners, rules and targets as CLB's responses show them."""

from __future__ import annotations

from typing import Any

from minicvm.dataplane.model import Health, stored_location
from minicvm.engine.clb_controller import ClbController
from minicvm.services.clb.backend import BalancerTargets
from minicvm.store.rows import Instance, LbRule, LbTarget, Listener, LoadBalancer
from minicvm.timefmt import beijing

# What every load balancer here has in common: no IPv6, logs, dedicated clusters, SNAT IPs or prepaid terms.
_LB_CONSTANT: dict[str, Any] = {
    "Log": None, "AnycastZone": None, "MasterZone": None, "BackupZoneSet": [], "IsolatedTime": None,
    "ExpireTime": None, "PrepaidAttributes": None, "LogSetId": "", "LogTopicId": "", "AddressIPv6": None,
    "ExtraInfo": {"ZhiTong": False, "TgwGroupName": ""}, "ConfigId": "", "IPv6Mode": None,
    "ExclusiveCluster": {"L4Clusters": [], "L7Clusters": [], "ClassicalCluster": None}, "SnatIps": [],
    "SlaType": "", "IsBlockTime": None, "ClusterTag": None, "NfvInfo": "l", "HealthLogSetId": "",
    "HealthLogTopicId": "", "ClusterIds": [], "Egress": "center_egress1", "AssociateEndpoint": None,
    "AvailableZoneAffinityInfo": {"Enable": False, "ExitRatio": 0, "ReentryRatio": 0},
}


def lb_view(row: LoadBalancer, target_count: int = 0) -> dict[str, Any]:
    return {
        "LoadBalancerId": row.id, "LoadBalancerName": row.name, "LoadBalancerType": row.lb_type, "Forward": 1,
        "Domain": "", "LoadBalancerVips": [row.vip], "Status": 1, "CreateTime": beijing(row.created_time),
        "StatusTime": beijing(row.created_time), "ProjectId": 0, "VpcId": row.vpc_id, "OpenBgp": 0, "Snat": False,
        "Isolation": 0, "SubnetId": row.subnet_id or "", "Tags": list(row.tags), "SecureGroups": [],
        "AddressIPVersion": "ipv4", "NumericalVpcId": 0, "VipIsp": "BGP" if row.lb_type == "OPEN" else "INTERNAL",
        "ChargeType": "POSTPAID_BY_HOUR", "IsDDos": False, "LoadBalancerPassToTarget": True, "SnatPro": False,
        "IsBlock": False, "LocalBgp": False, "MixIpTarget": False, "Zones": [], "AttributeFlags": [],
        "LoadBalancerDomain": "", "Exclusive": 0,
        "NetworkAttributes": {"InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR", "InternetMaxBandwidthOut": 10,
                              "BandwidthpkgSubType": None},
        "TargetRegionInfo": {"Region": row.region, "VpcId": row.vpc_id, "NumericalVpcId": 0},
        "TargetCount": target_count, **_LB_CONSTANT,
    }


def rule_view(row: LbRule, listener_id: str) -> dict[str, Any]:
    return {"LocationId": row.id, "Domain": row.domain, "Url": row.url, "SessionExpireTime": row.session_expire_time,
            "HealthCheck": row.health_check, "Certificate": None, "Scheduler": row.scheduler, "ListenerId": listener_id,
            "RewriteTarget": None, "HttpGzip": True, "BeAutoCreated": False, "DefaultServer": False, "Http2": False,
            "ForwardType": "HTTP", "CreateTime": beijing(row.created_time), "TargetType": "NODE", "TargetGroup": None,
            "WafDomainId": "", "QuicStatus": "QUIC_INACTIVE", "Domains": [row.domain], "TrpcCallee": None,
            "TrpcFunc": None, "TargetGroupList": [], "OAuth": {"OAuthEnable": False, "OAuthFailureStatus": "BYPASS"},
            "CookieName": None}


def listener_view(row: Listener, rules: list[LbRule]) -> dict[str, Any]:
    l7 = row.protocol == "HTTP"
    return {
        "ListenerId": row.id, "Protocol": row.protocol, "Port": row.port, "Certificate": None,
        "HealthCheck": None if l7 else row.health_check, "Scheduler": None if l7 else row.scheduler,
        "SessionExpireTime": None if l7 else row.session_expire_time, "SniSwitch": 0,
        "Rules": [rule_view(r, row.id) for r in rules] if l7 else [], "ListenerName": row.name,
        "CreateTime": beijing(row.created_time), "EndPort": 0, "TargetType": "NODE", "TargetGroup": None,
        "SessionType": "NORMAL", "KeepaliveEnable": 1 if l7 else 0, "Toa": False, "DeregisterTargetRst": False,
        "AttrFlags": [], "TargetGroupList": [], "MaxConn": -1, "MaxCps": -1,
        "IdleConnectTimeout": None if l7 else (900 if row.protocol == "TCP" else 300),
        "RescheduleInterval": 0, "DataCompressMode": "transparent", "RescheduleStartTime": 0,
    }


def backend_view(target: LbTarget, inst: Instance | None, public: list[str]) -> dict[str, Any]:
    return {"Type": "CVM", "InstanceId": target.instance_id, "Port": target.port, "Weight": target.weight,
            "PublicIpAddresses": public, "PrivateIpAddresses": [inst.private_ip] if inst else [],
            "InstanceName": inst.name if inst else None, "RegisteredTime": beijing(target.created_time), "EniId": None,
            "Zone": inst.zone if inst else None, "Tag": ""}


def targets_view(found: BalancerTargets, locations: set[str] | None, private_ips: set[str] | None) -> list[dict[str, Any]]:
    """DescribeTargets' Listeners: an HTTP listener's targets by rule, a TCP/UDP listener's directly."""
    insts = found.instances

    def views(listener_id: str, location_id: str) -> list[dict[str, Any]]:
        chosen = [t for t in found.targets if t.listener_id == listener_id and t.location_id == location_id]
        if private_ips is not None:
            chosen = [t for t in chosen if t.instance_id in insts and insts[t.instance_id].private_ip in private_ips]
        return [backend_view(t, insts.get(t.instance_id), found.public_ips.get(t.instance_id, [])) for t in chosen]

    result = []
    for listener in found.listeners:
        if listener.protocol == "HTTP":
            rule_sets = [{"LocationId": r.id, "Domain": r.domain, "Url": r.url, "Targets": views(listener.id, r.id),
                          "FunctionTargets": []}
                         for r in found.rules if r.listener_id == listener.id
                         and (locations is None or r.id in locations)]
            result.append({"ListenerId": listener.id, "Protocol": listener.protocol, "Port": listener.port,
                           "Rules": rule_sets, "Targets": [], "EndPort": 0})
        else:
            result.append({"ListenerId": listener.id, "Protocol": listener.protocol, "Port": listener.port,
                           "Rules": [], "Targets": views(listener.id, stored_location(None)), "EndPort": 0})
    return result


def _health_rows(clb: ClbController, found: BalancerTargets, listener_id: str, location_id: str) -> list[dict[str, Any]]:
    out = []
    for t in found.targets:
        if t.listener_id != listener_id or t.location_id != location_id:
            continue
        inst = found.instances.get(t.instance_id)
        detail = clb.target_health(listener_id, location_id, t.instance_id, t.port)
        out.append({"IP": inst.private_ip if inst else "", "Port": t.port, "HealthStatus": detail == Health.ALIVE,
                    "TargetId": t.instance_id, "HealthStatusDetail": detail, "HealthStatusDetial": detail,
                    "Weight": t.weight, "TargetGroupId": None})
    return out


def health_view(clb: ClbController, found: BalancerTargets, locations: list[str] | None) -> dict[str, Any]:
    """One load balancer of DescribeTargetHealth, with each target's health as the data plane sees it."""
    listener_views = []
    for listener in found.listeners:
        rule_views: list[dict[str, Any]]
        if listener.protocol == "HTTP":
            rule_views = [{"LocationId": r.id, "Domain": r.domain, "Url": r.url, "RuleId": r.id,
                           "Targets": _health_rows(clb, found, listener.id, r.id)}
                          for r in found.rules if r.listener_id == listener.id
                          and (not locations or r.id in locations)]
        else:
            # L4 listeners report their targets inside one Rules element (as Tencent does).
            rule_views = [{"LocationId": listener.id, "Domain": None, "Url": None, "RuleId": listener.id,
                           "Targets": _health_rows(clb, found, listener.id, stored_location(None))}]
        listener_views.append({"ListenerId": listener.id, "ListenerName": listener.name,
                               "Protocol": listener.protocol, "Port": listener.port, "Rules": rule_views})
    return {"LoadBalancerId": found.lb.id, "LoadBalancerName": found.lb.name, "Listeners": listener_views}
