"""Launch configurations, groups, members and activities as Auto Scaling's responses show them."""

from __future__ import annotations

from typing import Any

from minicvm.domain import scaling as sc
from minicvm.store.rows import GroupInstance, Instance, LaunchConfiguration, ScalingActivity, ScalingGroup
from minicvm.timefmt import iso

# What the stored launch spec leaves out because minicvm has one value for it (or none): encryption,
# bandwidth packages, dedicated clusters, spot markets, IPv6, host-name patterns, prepaid terms.
_LC_CONSTANT: dict[str, Any] = {
    "CamRoleName": "", "LastOperationInstanceTypesCheckPolicy": "ALL", "HostNameSettings": None,
    "InstanceChargePrepaid": None, "HpcClusterId": "", "IPv6InternetAccessible": None,
    "DisasterRecoverGroupIds": [], "ImageFamily": "", "DedicatedClusterId": "", "NetworkInterfaces": [],
    "InstanceMarketOptions": None,
    "EnhancedService": {"SecurityService": {"Enabled": True}, "MonitorService": {"Enabled": True},
                        "AutomationService": [], "AutomationToolsService": {"Enabled": True}},
}
_SYSTEM_DISK = {"Encrypt": False, "KmsKeyId": None}
_DATA_DISK = {"SnapshotId": None, "Encrypt": False, "ThroughputPerformance": 0, "BurstPerformance": False,
              "KmsKeyId": None}
_INTERNET = {"BandwidthPackageId": None, "InternetServiceProvider": "BGP", "IPv4AddressType": "WanIP",
             "AntiDDoSPackageId": None, "IsKeepEIP": False}
_GROUP_CONSTANT: dict[str, Any] = {
    "SpotMixedAllocationPolicy": None, "ConcurrentScaleOutForDesiredCapacity": False,
    "InstanceNameIndexSettings": {"Enabled": False, "BeginIndex": 0, "IndexLength": 0},
    "HostNameIndexSettings": {"Enabled": False, "BeginIndex": 0, "IndexLength": 0},
}


def lc_view(row: LaunchConfiguration, groups: list[dict[str, str]]) -> dict[str, Any]:
    spec = row.spec
    return {
        **_LC_CONSTANT,
        "ProjectId": 0, "LaunchConfigurationId": row.id, "LaunchConfigurationName": row.name,
        "InstanceType": spec["InstanceTypes"][0], "InstanceTypes": spec["InstanceTypes"],
        "SystemDisk": {**_SYSTEM_DISK, **spec["SystemDisk"]},
        "DataDisks": [{**_DATA_DISK, **d} for d in spec["DataDisks"]],
        "LoginSettings": {"KeyIds": spec["LoginSettings"]["KeyIds"]},
        "InternetAccessible": {**_INTERNET, **spec["InternetAccessible"]}, "SecurityGroupIds": spec["SecurityGroupIds"],
        "AutoScalingGroupAbstractSet": groups, "UserData": spec.get("UserData"), "CreatedTime": iso(row.created_time),
        "UpdatedTime": iso(row.updated_time), "ImageId": spec["ImageId"], "LaunchConfigurationStatus": "NORMAL",
        "InstanceChargeType": spec["InstanceChargeType"], "InstanceTags": spec["InstanceTags"], "Tags": [],
        "VersionNumber": row.version, "DiskTypePolicy": "ORIGINAL",
        "InstanceNameSettings": {"InstanceName": spec.get("InstanceName", ""), "InstanceNameStyle": "ORIGINAL",
                                 "InstanceNameSuffix": "", "InstanceNameDelimiter": "-"},
    }


def group_view(row: ScalingGroup, lc_name: str, members: list[GroupInstance], active: bool) -> dict[str, Any]:
    s = row.settings
    return {
        **_GROUP_CONSTANT,
        "AutoScalingGroupId": row.id, "AutoScalingGroupName": row.name, "AutoScalingGroupStatus": "NORMAL",
        "CreatedTime": iso(row.created_time), "DefaultCooldown": s["DefaultCooldown"], "DesiredCapacity": row.desired,
        "EnabledStatus": "ENABLED" if row.enabled else "DISABLED",
        "ForwardLoadBalancerSet": [{**f, "Region": ""} for f in s.get("ForwardLoadBalancers", [])],
        "InstanceCount": len(members),
        "InServiceInstanceCount": sum(1 for m in members if m.life_cycle_state == sc.IN_SERVICE),
        "LaunchConfigurationId": row.launch_configuration_id, "LaunchConfigurationName": lc_name,
        "LoadBalancerIdSet": [], "MaxSize": row.max_size, "MinSize": row.min_size, "ProjectId": 0,
        "SubnetIdSet": s["SubnetIds"], "TerminationPolicySet": s["TerminationPolicies"], "VpcId": s["VpcId"],
        "ZoneSet": [], "RetryPolicy": s["RetryPolicy"], "InActivityStatus": "IN_ACTIVITY" if active else "NOT_IN_ACTIVITY",
        "Tags": s.get("Tags", []), "ServiceSettings": s["ServiceSettings"], "Ipv6AddressCount": 0,
        "MultiZoneSubnetPolicy": s["MultiZoneSubnetPolicy"], "HealthCheckType": s["HealthCheckType"],
        "LoadBalancerHealthCheckGracePeriod": s["LoadBalancerHealthCheckGracePeriod"],
        "InstanceAllocationPolicy": "LAUNCH_CONFIGURATION", "CapacityRebalance": False,
    }


def activity_view(row: ScalingActivity) -> dict[str, Any]:
    related = [dict(i) for i in row.instances]
    return {
        "AutoScalingGroupId": row.group_id, "ActivityId": row.id, "ActivityType": row.activity_type,
        "StatusCode": row.status_code, "StatusMessage": row.status_message, "Cause": row.cause,
        "Description": row.description, "StartTime": iso(row.start_time), "EndTime": iso(row.end_time),
        "CreatedTime": iso(row.start_time), "ActivityRelatedInstanceSet": related,
        "StatusMessageSimplified": row.status_message, "LifecycleActionResultSet": [], "DetailedStatusMessageSet": [],
        "InvocationResultSet": [], "RelatedInstanceSet": related,
    }


def member_view(r: GroupInstance, group_name: str, lc_name: str, inst: Instance | None) -> dict[str, Any]:
    return {"InstanceId": r.instance_id, "AutoScalingGroupId": r.group_id, "AutoScalingGroupName": group_name,
            "LaunchConfigurationId": r.launch_configuration_id, "LaunchConfigurationName": lc_name,
            "LifeCycleState": r.life_cycle_state, "HealthStatus": r.health_status, "ProtectedFromScaleIn": r.protected,
            "Zone": inst.zone if inst else "", "CreationType": r.creation_type, "AddTime": iso(r.added_time),
            "InstanceType": inst.instance_type if inst else "", "VersionNumber": r.version,
            "WarmupStatus": "NO_NEED_WARMUP", "DisasterRecoverGroupIds": []}
