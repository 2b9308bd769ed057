"""Launch configurations: the instance spec a group launches from, validated once when written."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain.catalog import DATA_DISK_RANGE, DISK_STEP, IMAGES, INSTANCE_TYPES, SYSTEM_DISK_RANGE
from minicvm.domain.passwords import hash_password, run_password_problem
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.autoscaling import models as m
from minicvm.services.autoscaling.service import AS
from minicvm.services.context import Context
from minicvm.store.tables import key_pairs, launch_configurations, scaling_groups
from minicvm.timefmt import iso, now

LC_QUOTA = 50
CHARGE_TYPES = ("POSTPAID_BY_HOUR", "PREPAID")
DISK_TYPES = ("CLOUD_PREMIUM", "CLOUD_SSD", "CLOUD_BSSD", "CLOUD_HSSD", "CLOUD_BASIC")


def lc_id_ok(value: str) -> str:
    if not idmod.is_well_formed(value, "asc"):
        raise ApiError("InvalidParameterValue.InvalidLaunchConfigurationId",
                       f"The launch configuration id {value!r} is malformed.")
    return value


def owned_lc(conn: sa.Connection, ctx: Context, lc_id: str) -> Any:
    row = conn.execute(sa.select(launch_configurations).where(
        launch_configurations.c.id == lc_id_ok(lc_id), launch_configurations.c.account_id == ctx.account.id,
        launch_configurations.c.region == ctx.region)).first()
    if row is None:
        raise ApiError("InvalidParameterValue.LaunchConfigurationNotFound", f"The launch configuration {lc_id} does not exist.")
    return row


def _name(value: str) -> str:
    if not value or len(value.encode()) > 60:
        raise ApiError("InvalidParameterValue.TooLong", "`LaunchConfigurationName` must be 1-60 bytes.")
    return value


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


def _login(conn: sa.Connection, ctx: Context, req: m.LaunchConfigurationFields, current: dict[str, Any]) -> dict[str, Any]:
    if req.LoginSettings is None:
        return current.get("LoginSettings") or {"KeyIds": [], "PasswordHash": None}
    login = req.LoginSettings
    if login.Password and login.KeyIds:
        raise ApiError("InvalidParameter.Conflict", "`Password` and `KeyIds` exclude each other.")
    keys = list(login.KeyIds or [])
    if len(keys) > 1:
        raise ApiError("InvalidParameterValue.LimitExceeded", "A launch configuration takes one key.")
    if keys:
        if not conn.execute(sa.select(key_pairs.c.id).where(key_pairs.c.id == keys[0],
                                                            key_pairs.c.account_id == ctx.account.id)).first():
            raise ApiError("InvalidParameterValue.CvmConfigurationError", f"The key pair {keys[0]} does not exist.")
    password_hash = None
    if login.Password is not None:
        problem = run_password_problem(login.Password)
        if problem:
            raise ApiError("InvalidParameterValue.CvmConfigurationError", f"`LoginSettings.Password` is invalid: {problem}.")
        password_hash = hash_password(login.Password)
    return {"KeyIds": keys, "PasswordHash": password_hash}


def build_spec(conn: sa.Connection, ctx: Context, req: m.LaunchConfigurationFields, current: dict[str, Any],
               instance_type: str | None = None) -> dict[str, Any]:
    """The stored spec: `current` with whatever the request changes, every value checked."""
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
    spec["LoginSettings"] = _login(conn, ctx, req, current)
    return spec


def lc_view(row: Any, groups: list[dict[str, str]]) -> dict[str, Any]:
    spec = row.spec
    return {
        "ProjectId": 0, "LaunchConfigurationId": row.id, "LaunchConfigurationName": row.name,
        "InstanceType": spec["InstanceTypes"][0], "InstanceTypes": spec["InstanceTypes"],
        "SystemDisk": spec["SystemDisk"], "DataDisks": spec["DataDisks"],
        "LoginSettings": {"KeyIds": spec["LoginSettings"]["KeyIds"]},
        "InternetAccessible": spec["InternetAccessible"], "SecurityGroupIds": spec["SecurityGroupIds"],
        "AutoScalingGroupAbstractSet": groups, "UserData": spec.get("UserData"), "CreatedTime": iso(row.created_time),
        "UpdatedTime": iso(row.updated_time), "ImageId": spec["ImageId"], "LaunchConfigurationStatus": "NORMAL",
        "InstanceChargeType": spec["InstanceChargeType"], "InstanceTags": spec["InstanceTags"], "Tags": [],
        "VersionNumber": row.version, "DiskTypePolicy": "ORIGINAL",
        "InstanceNameSettings": {"InstanceName": spec.get("InstanceName", ""), "InstanceNameStyle": "ORIGINAL"},
    }


@AS.action("CreateLaunchConfiguration", m.CreateLaunchConfiguration)
async def create_launch_configuration(ctx: Context, req: m.CreateLaunchConfiguration) -> dict[str, Any]:
    name = _name(req.LaunchConfigurationName)
    if req.ProjectId not in (None, 0):
        raise ApiError("InvalidParameterValue.ProjectIdNotFound", f"The project {req.ProjectId} does not exist.")
    with ctx.cloud.store.write() as conn:
        spec = build_spec(conn, ctx, req, {}, req.InstanceType)
        c = launch_configurations.c
        if conn.execute(sa.select(c.id).where(c.account_id == ctx.account.id, c.region == ctx.region,
                                              c.name == name)).first():
            raise ApiError("InvalidParameterValue.LaunchConfigurationNameDuplicated",
                           f"A launch configuration named {name!r} already exists.")
        count = conn.execute(sa.select(sa.func.count()).select_from(launch_configurations).where(
            c.account_id == ctx.account.id, c.region == ctx.region)).scalar_one()
        if count >= LC_QUOTA:
            raise ApiError("LimitExceeded.LaunchConfigurationQuotaNotEnough", f"At most {LC_QUOTA} launch configurations.")
        lc_id = idmod.new_id("asc")
        ts = now()
        conn.execute(launch_configurations.insert().values(id=lc_id, account_id=ctx.account.id, region=ctx.region,
                                                           name=name, spec=spec, version=1, created_time=ts,
                                                           updated_time=ts))
    return {"LaunchConfigurationId": lc_id}


@AS.action("DescribeLaunchConfigurations", m.DescribeLaunchConfigurations)
async def describe_launch_configurations(ctx: Context, req: m.DescribeLaunchConfigurations) -> dict[str, Any]:
    if req.LaunchConfigurationIds and req.Filters:
        raise ApiError("InvalidParameter.Conflict", "`LaunchConfigurationIds` and `Filters` cannot be used together.")
    wanted = [lc_id_ok(i) for i in req.LaunchConfigurationIds or []]
    filters = common.check_filters(req.Filters, ("launch-configuration-id", "launch-configuration-name",
                                                 "vague-launch-configuration-name", "tag-key", "tag-value"),
                                   unknown_code="InvalidParameterValue.InvalidFilter",
                                   values_code="LimitExceeded.FilterValuesTooLong")
    offset, limit = common.paging(req.Offset, req.Limit)
    c = launch_configurations.c
    where: list[Any] = [c.account_id == ctx.account.id, c.region == ctx.region]
    if wanted:
        where.append(c.id.in_(wanted))
    for fname, values in filters.items():
        if fname == "launch-configuration-id":
            where.append(c.id.in_(values))
        elif fname == "launch-configuration-name":
            where.append(c.name.in_(values))
        elif fname == "vague-launch-configuration-name":
            where.append(sa.or_(*[c.name.contains(v, autoescape=True) for v in values]))
        else:
            where.append(sa.false())
    with ctx.cloud.store.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(launch_configurations).where(*where)).scalar_one()
        rows = list(conn.execute(sa.select(launch_configurations).where(*where).order_by(c.seq).offset(offset).limit(limit)))
        users: dict[str, list[dict[str, str]]] = {}
        for g in conn.execute(sa.select(scaling_groups.c.id, scaling_groups.c.name, scaling_groups.c.launch_configuration_id)
                              .where(scaling_groups.c.account_id == ctx.account.id)):
            users.setdefault(g.launch_configuration_id, []).append(
                {"AutoScalingGroupId": g.id, "AutoScalingGroupName": g.name})
    return {"TotalCount": total, "LaunchConfigurationSet": [lc_view(r, users.get(r.id, [])) for r in rows]}


@AS.action("ModifyLaunchConfigurationAttributes", m.ModifyLaunchConfigurationAttributes)
async def modify_launch_configuration(ctx: Context, req: m.ModifyLaunchConfigurationAttributes) -> dict[str, Any]:
    with ctx.cloud.store.write() as conn:
        row = owned_lc(conn, ctx, req.LaunchConfigurationId)
        values: dict[str, Any] = {"spec": build_spec(conn, ctx, req, dict(row.spec)), "version": row.version + 1,
                                  "updated_time": now()}
        if req.LaunchConfigurationName is not None:
            values["name"] = _name(req.LaunchConfigurationName)
        conn.execute(launch_configurations.update().where(launch_configurations.c.id == row.id).values(**values))
    return {}


@AS.action("DeleteLaunchConfiguration", m.LaunchConfigurationId)
async def delete_launch_configuration(ctx: Context, req: m.LaunchConfigurationId) -> dict[str, Any]:
    with ctx.cloud.store.write() as conn:
        row = owned_lc(conn, ctx, req.LaunchConfigurationId)
        users = conn.execute(sa.select(scaling_groups.c.id).where(
            scaling_groups.c.launch_configuration_id == row.id)).scalars().all()
        if users:
            raise ApiError("ResourceInUse.LaunchConfigurationIdInUse", f"The groups {users} still use {row.id}.")
        conn.execute(launch_configurations.delete().where(launch_configurations.c.id == row.id))
    return {}
