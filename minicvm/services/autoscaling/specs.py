"""Auto Scaling's stored documents, built from requests: a launch configuration's spec, a group's
settings and its forward load balancers. Every value is checked here, once, before anything is looked
up; what needs the store (key pairs, subnets, load balancers exist) is the backend's."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from minicvm import errors
from minicvm import ids as idmod
from minicvm.domain import scaling as sc
from minicvm.domain.catalog import DATA_DISK_RANGE, DISK_STEP, IMAGES, INSTANCE_TYPES, SYSTEM_DISK_RANGE
from minicvm.domain.passwords import hash_password, run_password_problem
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.autoscaling import models as m

CHARGE_TYPES = ("POSTPAID_BY_HOUR", "PREPAID")
DISK_TYPES = ("CLOUD_PREMIUM", "CLOUD_SSD", "CLOUD_BSSD", "CLOUD_HSSD", "CLOUD_BASIC")
MAX_FORWARD_ENTRIES = 100


def lc_id_ok(value: str) -> str:
    if not idmod.is_well_formed(value, "asc"):
        raise ApiError("InvalidParameterValue.InvalidLaunchConfigurationId",
                       f"The launch configuration id {value!r} is malformed.")
    return value


def group_id_ok(value: str) -> str:
    if not idmod.is_well_formed(value, "asg"):
        raise ApiError("InvalidParameterValue.InvalidAutoScalingGroupId", f"The group id {value!r} is malformed.")
    return value


def lc_name(value: str) -> str:
    if not value or len(value.encode()) > 60:
        raise ApiError("InvalidParameterValue.TooLong", "`LaunchConfigurationName` must be 1-60 bytes.")
    return value


def group_name(value: str) -> str:
    if not value or len(value.encode()) > 55:
        raise ApiError("InvalidParameterValue.TooLong", "`AutoScalingGroupName` must be 1-55 bytes.")
    return value


def sizes(min_size: int, max_size: int, desired: int) -> None:
    problem = sc.size_problem(min_size, max_size, desired)
    if problem:
        raise ApiError("InvalidParameterValue.Size", problem + ".")


def _disks(req: m.LaunchConfigurationFields, current: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    system = dict(current.get("SystemDisk") or {"DiskType": "CLOUD_PREMIUM", "DiskSize": 50})
    if req.SystemDisk is not None:
        system.update({k: v for k, v in req.SystemDisk.model_dump().items() if v is not None and k in ("DiskType", "DiskSize")})
    lo, hi = SYSTEM_DISK_RANGE
    if system["DiskType"] not in DISK_TYPES or not lo <= system["DiskSize"] <= hi:
        raise ApiError("InvalidParameterValue.CvmConfigurationError",
                       f"The system disk must be one of {DISK_TYPES}, {lo}-{hi} GiB.")
    data = list(current.get("DataDisks") or [])
    if req.DataDisks is not None:
        if len(req.DataDisks) > 11:
            raise ApiError("InvalidParameterValue.LimitExceeded", "At most 11 data disks.")
        data = []
        for disk in req.DataDisks:
            size = disk.DiskSize or 0
            if size == 0:
                continue
            dtype = disk.DiskType or system["DiskType"]
            lo, hi = DATA_DISK_RANGE
            if dtype not in DISK_TYPES or not lo <= size <= hi or size % DISK_STEP:
                raise ApiError("InvalidParameterValue.CvmConfigurationError",
                               f"Data disks are {DISK_TYPES}, {lo}-{hi} GiB in steps of {DISK_STEP}.")
            data.append({"DiskType": dtype, "DiskSize": size,
                         "DeleteWithInstance": True if disk.DeleteWithInstance is None else disk.DeleteWithInstance})
    return system, data


def _login(req: m.LaunchConfigurationFields, current: dict[str, Any]) -> dict[str, Any]:
    if req.LoginSettings is None:
        return current.get("LoginSettings") or {"KeyIds": [], "PasswordHash": None}
    login = req.LoginSettings
    if login.Password and login.KeyIds:
        raise ApiError("InvalidParameter.Conflict", "`Password` and `KeyIds` exclude each other.")
    keys = list(login.KeyIds or [])
    if len(keys) > 1:
        raise ApiError("InvalidParameterValue.LimitExceeded", "A launch configuration takes one key.")
    password_hash = None
    if login.Password is not None:
        problem = run_password_problem(login.Password)
        if problem:
            raise ApiError("InvalidParameterValue.CvmConfigurationError", f"`LoginSettings.Password` is invalid: {problem}.")
        password_hash = hash_password(login.Password)
    return {"KeyIds": keys, "PasswordHash": password_hash}


def launch_spec(req: m.LaunchConfigurationFields, current: dict[str, Any], instance_type: str | None = None
                ) -> dict[str, Any]:
    """The stored spec: `current` with whatever the request changes, every value checked (that its key
    pair exists is the backend's to check)."""
    for name in ("InstanceMarketOptions", "HpcClusterId", "DedicatedClusterId", "NetworkInterfaces", "ImageFamily",
                 "IPv6InternetAccessible", "CamRoleName"):
        if getattr(req, name):
            raise ApiError("InvalidParameterValue.CvmConfigurationError", f"`{name}` is not supported by minicvm.")
    spec = dict(current)
    if req.ImageId is not None:
        if not idmod.is_well_formed(req.ImageId, "img"):
            raise ApiError("InvalidParameterValue.InvalidImageId", f"The image id {req.ImageId!r} is malformed.")
        if req.ImageId not in IMAGES:
            raise ApiError("InvalidParameterValue.ImageNotFound", f"The image {req.ImageId} does not exist.")
        spec["ImageId"] = req.ImageId
    if "ImageId" not in spec:
        raise ApiError("InvalidParameter.MustOneParameter", "Give `ImageId`.")
    if instance_type is not None and req.InstanceTypes is not None:
        raise ApiError("InvalidParameter.MustOneParameter", "Give `InstanceType` or `InstanceTypes`, not both.")
    types = [instance_type] if instance_type is not None else req.InstanceTypes
    if types is not None:
        if not 1 <= len(types) <= 10:
            raise ApiError("InvalidParameterValue.LimitExceeded", "`InstanceTypes` takes 1-10 types.")
        unknown = [t for t in types if t not in INSTANCE_TYPES]
        if unknown:
            raise ApiError("InvalidParameterValue.InvalidInstanceType", f"The instance types {unknown} do not exist.")
        spec["InstanceTypes"] = list(types)
    if "InstanceTypes" not in spec:
        raise ApiError("InvalidParameter.MustOneParameter", "Give `InstanceType` or `InstanceTypes`.")
    spec["SystemDisk"], spec["DataDisks"] = _disks(req, current)
    if req.UserData is not None:
        if len(req.UserData) > 16 * 1024:
            raise ApiError("InvalidParameterValue.UserDataSizeExceeded", "`UserData` must be at most 16 KB.")
        try:
            base64.b64decode(req.UserData, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError("InvalidParameterValue.UserDataFormatError", "`UserData` is not valid base64.") from None
        spec["UserData"] = req.UserData
    if req.InstanceChargeType is not None:
        if req.InstanceChargeType not in CHARGE_TYPES:
            raise ApiError("InvalidParameterValue.CvmConfigurationError",
                           f"`InstanceChargeType` must be one of {CHARGE_TYPES}.")
        spec["InstanceChargeType"] = req.InstanceChargeType
    spec.setdefault("InstanceChargeType", "POSTPAID_BY_HOUR")
    if req.InternetAccessible is not None:
        net = req.InternetAccessible
        bandwidth = net.InternetMaxBandwidthOut or 0
        if not 0 <= bandwidth <= 200:
            raise ApiError("InvalidParameterValue.CvmConfigurationError", "`InternetMaxBandwidthOut` must be 0-200.")
        spec["InternetAccessible"] = {
            "InternetChargeType": net.InternetChargeType or "TRAFFIC_POSTPAID_BY_HOUR",
            "InternetMaxBandwidthOut": bandwidth,
            "PublicIpAssigned": bandwidth > 0 if net.PublicIpAssigned is None else net.PublicIpAssigned,
            "IsKeepEIP": bool(net.IsKeepEIP)}
    spec.setdefault("InternetAccessible", {"InternetChargeType": "TRAFFIC_POSTPAID_BY_HOUR", "InternetMaxBandwidthOut": 0,
                                           "PublicIpAssigned": False, "IsKeepEIP": False})
    if req.SecurityGroupIds is not None:
        spec["SecurityGroupIds"] = common.check_ids(req.SecurityGroupIds, "sg", "SecurityGroupIds",
                                                    "InvalidParameterValue.InvalidSecurityGroupId", limit=5, required=False)
    spec.setdefault("SecurityGroupIds", [])
    if req.InstanceTags is not None:
        if len(req.InstanceTags) > 10:
            raise ApiError("InvalidParameterValue.LimitExceeded", "At most 10 instance tags.")
        spec["InstanceTags"] = [{"Key": t.Key, "Value": t.Value} for t in req.InstanceTags]
    spec.setdefault("InstanceTags", [])
    if req.InstanceNameSettings is not None and req.InstanceNameSettings.InstanceName:
        spec["InstanceName"] = req.InstanceNameSettings.InstanceName
    spec["LoginSettings"] = _login(req, current)
    return spec


def _subnet_ids(subnet_ids: list[str] | None) -> list[str]:
    if not subnet_ids:
        raise errors.missing("SubnetIds", "MissingParameter.InScenario")
    if len(set(subnet_ids)) != len(subnet_ids):
        raise ApiError("InvalidParameterValue.DuplicatedSubnet", "`SubnetIds` lists a subnet twice.")
    return list(subnet_ids)


@dataclass(frozen=True)
class ForwardEntry:
    """One of a group's forward load balancers as the request gives it; the backend checks it exists."""

    lb_id: str
    listener_id: str
    location_id: str | None
    targets: list[tuple[int, int]]  # (port, weight)


def forward_entries(entries: list[m.ForwardLoadBalancer] | None) -> list[ForwardEntry]:
    result = []
    seen = set()
    for entry in entries or []:
        key = (entry.LoadBalancerId, entry.ListenerId, entry.LocationId)
        if key in seen:
            raise ApiError("InvalidParameterValue.DuplicatedForwardLb", f"{key} appears twice.")
        seen.add(key)
        if not entry.TargetAttributes:
            raise errors.missing("ForwardLoadBalancers.TargetAttributes")
        ports = [t.Port for t in entry.TargetAttributes]
        if len(set(ports)) != len(ports):
            raise ApiError("InvalidParameterValue.TargetPortDuplicated", "A port appears twice in `TargetAttributes`.")
        for t in entry.TargetAttributes:
            if not 1 <= t.Port <= 65535 or not 0 <= t.Weight <= 100:
                raise ApiError("InvalidParameterValue.Range", "Target ports are 1-65535 and weights 0-100.")
        result.append(ForwardEntry(entry.LoadBalancerId, entry.ListenerId, entry.LocationId,
                                   [(t.Port, t.Weight) for t in entry.TargetAttributes]))
    if len(result) > MAX_FORWARD_ENTRIES:
        raise ApiError("InvalidParameterValue.LimitExceeded", f"At most {MAX_FORWARD_ENTRIES} forward load balancers.")
    return result


def _service_settings(given: m.ServiceSettingsStruct | None, current: dict[str, Any]) -> dict[str, Any]:
    merged = {"ReplaceMonitorUnhealthy": False, "ScalingMode": "CLASSIC_SCALING", "ReplaceLoadBalancerUnhealthy": False,
              "ReplaceMode": "RECREATE", "AutoUpdateInstanceTags": False, "DesiredCapacitySyncWithMaxMinSize": False,
              "PriorityScaleInUnhealthy": False, **current}
    if given is not None:
        merged.update({k: v for k, v in given.model_dump().items() if v is not None})
    if merged["ScalingMode"] not in ("CLASSIC_SCALING", "WAKE_UP_STOPPED_SCALING"):
        raise ApiError("InvalidParameterValue", "`ScalingMode` is CLASSIC_SCALING or WAKE_UP_STOPPED_SCALING.")
    if merged["ReplaceMode"] != "RECREATE":
        raise ApiError("InvalidParameterValue", "minicvm replaces by RECREATE (a new instance); RESET is not supported.")
    return merged


def group_settings(req: m.GroupFields, vpc_id: str, current: dict[str, Any]) -> dict[str, Any]:
    """The stored settings: `current` with whatever the request changes, every value checked (that the
    subnets exist in the VPC is the backend's to check)."""
    settings = dict(current)
    settings["VpcId"] = vpc_id
    if req.SubnetIds is not None or "SubnetIds" not in settings:
        settings["SubnetIds"] = _subnet_ids(req.SubnetIds)
    if req.Zones:
        raise ApiError("InvalidParameterValue.OnlyVpc", "`Zones` is for the basic network; give `SubnetIds`.")
    if req.HealthCheckType is not None:
        if req.HealthCheckType not in ("CVM", "CLB"):
            raise ApiError("InvalidParameterValue", "`HealthCheckType` is CVM or CLB.")
        settings["HealthCheckType"] = req.HealthCheckType
    settings.setdefault("HealthCheckType", "CLB")
    if req.LoadBalancerHealthCheckGracePeriod is not None:
        if not 0 <= req.LoadBalancerHealthCheckGracePeriod <= 7200:
            raise ApiError("InvalidParameterValue.Range", "`LoadBalancerHealthCheckGracePeriod` is 0-7200 seconds.")
        settings["LoadBalancerHealthCheckGracePeriod"] = req.LoadBalancerHealthCheckGracePeriod
    settings.setdefault("LoadBalancerHealthCheckGracePeriod", 0)
    if req.DefaultCooldown is not None:
        if not 0 <= req.DefaultCooldown <= 3600:
            raise ApiError("InvalidParameterValue.Range", "`DefaultCooldown` is 0-3600 seconds.")
        settings["DefaultCooldown"] = req.DefaultCooldown
    settings.setdefault("DefaultCooldown", 300)
    if req.RetryPolicy is not None:
        if req.RetryPolicy not in ("IMMEDIATE_RETRY", "INCREMENTAL_INTERVALS", "NO_RETRY"):
            raise ApiError("InvalidParameterValue", "`RetryPolicy` is IMMEDIATE_RETRY, INCREMENTAL_INTERVALS or NO_RETRY.")
        settings["RetryPolicy"] = req.RetryPolicy
    settings.setdefault("RetryPolicy", "IMMEDIATE_RETRY")
    if req.TerminationPolicies is not None:
        if len(req.TerminationPolicies) != 1 or req.TerminationPolicies[0] not in ("OLDEST_INSTANCE", "NEWEST_INSTANCE"):
            raise ApiError("InvalidParameterValue", "`TerminationPolicies` is one of OLDEST_INSTANCE, NEWEST_INSTANCE.")
        settings["TerminationPolicies"] = list(req.TerminationPolicies)
    settings.setdefault("TerminationPolicies", ["OLDEST_INSTANCE"])
    if req.MultiZoneSubnetPolicy is not None:
        if req.MultiZoneSubnetPolicy not in ("PRIORITY", "EQUALITY"):
            raise ApiError("InvalidParameterValue", "`MultiZoneSubnetPolicy` is PRIORITY or EQUALITY.")
        settings["MultiZoneSubnetPolicy"] = req.MultiZoneSubnetPolicy
    settings.setdefault("MultiZoneSubnetPolicy", "PRIORITY")
    if req.InstanceAllocationPolicy not in (None, "LAUNCH_CONFIGURATION"):
        raise ApiError("InvalidParameterValue", "minicvm groups launch from their launch configuration only.")
    settings["ServiceSettings"] = _service_settings(req.ServiceSettings, current.get("ServiceSettings", {}))
    return settings
