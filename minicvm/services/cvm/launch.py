"""RunInstances: validate everything first, then create instances, disks, addresses and the launch
operations in one transaction."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from minicvm import errors, ids
from minicvm.domain.catalog import (
    DATA_DISK_RANGE,
    DATA_DISK_TYPES,
    DEFAULT_INSTANCE_TYPE,
    DISK_STEP,
    IMAGES,
    SYSTEM_DISK_RANGE,
    SYSTEM_DISK_TYPES,
    ZONES,
)
from minicvm.domain.passwords import hash_password, run_password_problem
from minicvm.engine.launch import DiskPlan, LaunchPlan
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm import rules
from minicvm.services.cvm.backend import DEFAULT_NETWORK, InstanceBackend, NetworkChoice
from minicvm.services.cvm.service import CVM
from minicvm.services.tag import rules as tag_rules

CHARGE_TYPES = ("POSTPAID_BY_HOUR", "PREPAID")
PREPAID_PERIODS = (*range(1, 13), 24, 36, 48, 60)
INTERNET_CHARGE_TYPES = ("BANDWIDTH_PREPAID", "TRAFFIC_POSTPAID_BY_HOUR", "BANDWIDTH_POSTPAID_BY_HOUR",
                         "BANDWIDTH_PACKAGE")
_PATTERN = re.compile(r"\{R:(\d+)(?:,F:(\d+))?\}")


def instance_names(name: str, count: int) -> list[str]:
    """`{R:x}` counts up from x, `{R:x,F:y}` zero-pads to y digits; with no pattern and several
    instances the names get suffixes _1…_n."""
    match = _PATTERN.search(name)
    if match is None:
        return [name] if count == 1 else [f"{name}_{i}" for i in range(1, count + 1)]
    start = int(match.group(1))
    width = int(match.group(2) or 0)
    return [_PATTERN.sub(str(start + i).zfill(width), name, count=1) for i in range(count)]


def _unsupported(req: m.RunInstances) -> None:
    for name in ("LaunchTemplate", "InstanceMarketOptions", "ChcIds", "HpcClusterId", "DedicatedClusterId",
                 "NetworkInterfaces", "CpuTopology", "ActionTimer"):
        if getattr(req, name):
            raise ApiError("UnsupportedOperation", f"`{name}` is not supported by minicvm.")
    if req.Placement and (req.Placement.HostIds or req.Placement.DedicatedResourcePackIds):
        raise ApiError("UnsupportedOperation", "Dedicated hosts (CDH) are not supported by minicvm.")


def _disk_plans(req: m.RunInstances) -> list[DiskPlan]:
    sysd = req.SystemDisk or m.SystemDiskStruct()
    if sysd.DiskId:
        raise ApiError("InvalidParameter", "`SystemDisk.DiskId` is output only.")
    sys_type = sysd.DiskType or "CLOUD_PREMIUM"
    if sys_type not in SYSTEM_DISK_TYPES:
        raise ApiError("InvalidParameterValue", f"`SystemDisk.DiskType` {sys_type!r} is not one of {SYSTEM_DISK_TYPES}.")
    sys_size = 50 if sysd.DiskSize is None else sysd.DiskSize
    lo, hi = SYSTEM_DISK_RANGE
    if not lo <= sys_size <= hi:
        raise ApiError("InvalidParameterValue.Range", f"`SystemDisk.DiskSize` must be {lo}-{hi} GiB; got {sys_size}.")
    plans = [DiskPlan("SYSTEM_DISK", sys_type, sys_size, True, sysd.DiskName or "")]
    data = [d for d in (req.DataDisks or []) if d.DiskSize != 0]
    if len(data) > 21:
        raise ApiError("InvalidParameterValue.LimitExceeded", "At most 21 data disks can be bought with an instance.")
    if sum(1 for d in data if (d.DiskType or "LOCAL_BASIC").startswith("LOCAL_")) > 1:
        raise ApiError("InvalidParameterValue.LimitExceeded", "At most one local data disk is allowed.")
    for i, disk in enumerate(data):
        where = f"DataDisks.{i}"
        dtype = disk.DiskType or "LOCAL_BASIC"
        if dtype not in DATA_DISK_TYPES:
            raise ApiError("InvalidParameterValue", f"`{where}.DiskType` {dtype!r} is not one of {DATA_DISK_TYPES}.")
        lo, hi = DATA_DISK_RANGE
        if not lo <= disk.DiskSize <= hi or disk.DiskSize % DISK_STEP:
            raise ApiError("InvalidParameterValue.Range",
                           f"`{where}.DiskSize` must be {lo}-{hi} GiB in steps of {DISK_STEP}; got {disk.DiskSize}.")
        if disk.DiskId or disk.SnapshotId:
            raise ApiError("InvalidParameter", f"`{where}.DiskId`/`SnapshotId` are not supported when buying disks.")
        delete = True if disk.DeleteWithInstance is None else disk.DeleteWithInstance
        plans.append(DiskPlan("DATA_DISK", dtype, disk.DiskSize, delete, disk.DiskName or ""))
    return plans


def _network(req: m.RunInstances, count: int) -> NetworkChoice:
    vpc = req.VirtualPrivateCloud
    if vpc is None:
        return NetworkChoice(None, None, [None] * count)
    if vpc.VpcId == "DEFAULT" and vpc.SubnetId == "DEFAULT":
        vpc_id = subnet_id = DEFAULT_NETWORK
    else:
        if not ids.is_well_formed(vpc.VpcId, "vpc"):
            raise ApiError("InvalidParameterValue.VpcIdMalformed", f"The VPC id {vpc.VpcId!r} is malformed.")
        if not ids.is_well_formed(vpc.SubnetId, "subnet"):
            raise ApiError("InvalidParameterValue.SubnetIdMalformed", f"The subnet id {vpc.SubnetId!r} is malformed.")
        vpc_id, subnet_id = vpc.VpcId, vpc.SubnetId
    wanted: list[str | None] = [None] * count
    if vpc.PrivateIpAddresses:
        if len(vpc.PrivateIpAddresses) != count or count > 20:
            raise ApiError("InvalidParameterValue",
                           "`VirtualPrivateCloud.PrivateIpAddresses` needs exactly one address per instance (at most 20).")
        for ip in vpc.PrivateIpAddresses:
            try:
                ipaddress.IPv4Address(ip)
            except ValueError:
                raise ApiError("InvalidParameterValue.IPAddressMalformed", f"{ip!r} is not an IPv4 address.") from None
        wanted = list(vpc.PrivateIpAddresses)
    return NetworkChoice(vpc_id, subnet_id, wanted)


def _login(req: m.RunInstances) -> tuple[str | None, list[str]]:
    """(password hash, key ids); that the keys exist is the backend's to check."""
    login = req.LoginSettings or m.LoginSettingsStruct()
    if login.Password and login.KeyIds:
        raise ApiError("InvalidParameterCombination", "`LoginSettings.Password` and `LoginSettings.KeyIds` exclude each other.")
    if login.KeepImageLogin and (login.Password or login.KeyIds):
        raise ApiError("InvalidParameterCombination", "`KeepImageLogin` excludes `Password` and `KeyIds`.")
    key_ids = common.check_ids(login.KeyIds, "skey", "LoginSettings.KeyIds", "InvalidKeyPairId.Malformed",
                               required=False)
    if login.Password is not None:
        problem = run_password_problem(login.Password)
        if problem:
            raise ApiError("InvalidParameterValue.InvalidPassword", f"`LoginSettings.Password` is invalid: {problem}.")
        return hash_password(login.Password), key_ids
    return None, key_ids


def _internet(req: m.RunInstances, charge: str) -> tuple[str, int, bool]:
    net = req.InternetAccessible or m.InternetAccessibleStruct()
    charge_type = net.InternetChargeType or ("BANDWIDTH_PREPAID" if charge == "PREPAID" else "TRAFFIC_POSTPAID_BY_HOUR")
    if charge_type not in INTERNET_CHARGE_TYPES:
        raise ApiError("InvalidParameterValue",
                       f"`InternetAccessible.InternetChargeType` must be one of {INTERNET_CHARGE_TYPES}.")
    bandwidth = net.InternetMaxBandwidthOut or 0
    if not 0 <= bandwidth <= 200:
        raise ApiError("InvalidParameterValue.Range", "`InternetMaxBandwidthOut` must be 0-200 Mbps.")
    wanted = bandwidth > 0 if net.PublicIpAssigned is None else net.PublicIpAssigned
    if wanted and bandwidth == 0:
        raise ApiError("InvalidParameterValue",
                       "A public IP needs `InternetAccessible.InternetMaxBandwidthOut` greater than 0.")
    return charge_type, bandwidth, wanted


def checked_plan(ctx: Context, req: m.RunInstances, max_count: int = 500) -> LaunchPlan:
    """Every check RunInstances makes of its request before it touches the store (InquiryPriceRunInstances makes
    the same ones), and the plan they yield, without the login settings."""
    _unsupported(req)
    common.check_client_token(req.ClientToken)
    if req.Placement is None:
        raise errors.missing("Placement.Zone")
    zone = req.Placement.Zone
    if zone not in ZONES or ZONES[zone][0] != ctx.region:
        raise ApiError("InvalidZone.MismatchRegion", f"The zone {zone!r} does not exist in {ctx.region}.")
    if req.Placement.ProjectId not in (None, 0):
        raise ApiError("InvalidProjectId.NotFound", f"The project {req.Placement.ProjectId} does not exist.")
    if req.ImageId is None:
        raise errors.missing("ImageId")
    if not ids.is_well_formed(req.ImageId, "img"):
        raise ApiError("InvalidImageId.Malformed", f"The image id {req.ImageId!r} is malformed.")
    image = IMAGES.get(req.ImageId)
    if image is None:
        raise ApiError("InvalidImageId.NotFound", f"The image {req.ImageId} does not exist; see DescribeImages.")
    itype = rules.instance_type(req.InstanceType or DEFAULT_INSTANCE_TYPE)
    charge = req.InstanceChargeType or "POSTPAID_BY_HOUR"
    if charge not in CHARGE_TYPES:
        raise ApiError("UnsupportedOperation.InstanceChargeType",
                       f"`InstanceChargeType` {charge!r} is not supported; use one of {CHARGE_TYPES}.")
    if charge == "PREPAID":
        if req.InstanceChargePrepaid is None:
            raise errors.missing("InstanceChargePrepaid")
        if req.InstanceChargePrepaid.Period not in PREPAID_PERIODS:
            raise ApiError("InvalidPeriod", "`InstanceChargePrepaid.Period` must be 1-12, 24, 36, 48 or 60 months.")
    count = 1 if req.InstanceCount is None else req.InstanceCount
    if not 1 <= count <= max_count:
        raise ApiError("InvalidParameterValue.Range", f"`InstanceCount` must be 1-{max_count}; got {count}.")
    if req.MinCount is not None and not 1 <= req.MinCount <= count:
        raise ApiError("InvalidParameterValue.InvalidParameterMinCount", "`MinCount` must be between 1 and `InstanceCount`.")
    name = "Unnamed" if req.InstanceName is None else req.InstanceName
    if len(name) > 128:
        raise ApiError("InvalidInstanceName.TooLong", "`InstanceName` must be at most 128 characters.")
    if req.HostName is not None:
        rules.check_host_name(req.HostName)
    rules.check_user_data(req.UserData)
    sg_ids = common.check_ids(req.SecurityGroupIds, "sg", "SecurityGroupIds", "InvalidSgId.Malformed", limit=5,
                              required=False)
    tags = tag_rules.check_new_resource_tags([(t.Key, t.Value) for spec in (req.TagSpecification or [])
                                              if spec.ResourceType == "instance" for t in spec.Tags], tag_rules.CVM_CODES)
    disk_plans = _disk_plans(req)
    internet_charge, bandwidth, wants_public_ip = _internet(req, charge)

    renew = (req.InstanceChargePrepaid.RenewFlag or "NOTIFY_AND_MANUAL_RENEW") \
        if charge == "PREPAID" and req.InstanceChargePrepaid else None
    plan = LaunchPlan(zone=zone, names=instance_names(name, count), image=image, itype=itype, charge=charge,
                      renew_flag=renew, security_group_ids=sg_ids, tags=tags, disks=disk_plans,
                      internet_charge=internet_charge, bandwidth=bandwidth, wants_public_ip=wants_public_ip,
                      user_data=req.UserData, host_name=req.HostName,
                      disable_api_termination=bool(req.DisableApiTermination))
    return plan


@CVM.action("RunInstances", m.RunInstances)
async def run_instances(ctx: Context, req: m.RunInstances) -> dict[str, Any]:
    plan = checked_plan(ctx, req)
    count = len(plan.names)
    plan.password_hash, plan.key_ids = _login(req)
    created = InstanceBackend(ctx).launch(plan, _network(req, count), client_token=req.ClientToken,
                                          dry_run=bool(req.DryRun))
    return {"InstanceIdSet": created}
