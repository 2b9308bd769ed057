"""Regions, zones, images and instance types: read-only views of the catalogue."""

from __future__ import annotations

from typing import Any

from minicvm.domain.catalog import IMAGES, INSTANCE_TYPES, REGIONS, ZONES
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm.service import CVM


def _zh(ctx: Context) -> bool:
    return ctx.language == "zh-CN"


@CVM.action("DescribeRegions", m.Empty)
async def describe_regions(ctx: Context, req: m.Empty) -> dict[str, Any]:
    regions = [{"Region": r.region, "RegionName": r.name_zh if _zh(ctx) else r.name_en, "RegionState": "AVAILABLE"}
               for r in REGIONS.values()]
    return {"TotalCount": len(regions), "RegionSet": regions}


@CVM.action("DescribeZones", m.Empty)
async def describe_zones(ctx: Context, req: m.Empty) -> dict[str, Any]:
    zones = [{"Zone": z.zone, "ZoneName": z.name_zh if _zh(ctx) else z.name_en, "ZoneId": z.zone_id,
              "ZoneState": "AVAILABLE"} for z in REGIONS[ctx.region].zones]
    return {"TotalCount": len(zones), "ZoneSet": zones}


@CVM.action("DescribeImages", m.DescribeImages)
async def describe_images(ctx: Context, req: m.DescribeImages) -> dict[str, Any]:
    if req.ImageIds and req.Filters:
        raise ApiError("InvalidParameter.InvalidParameterCoexistImageIdsFilters",
                       "`ImageIds` and `Filters` cannot be used together.")
    wanted = common.check_ids(req.ImageIds, "img", "ImageIds", "InvalidImageId.Malformed", required=False)
    filters = common.check_filters(req.Filters, ("image-id", "image-type", "image-name", "platform", "tag-key",
                                                 "tag-value", "dedicated-cluster-id", "cdc-cache-status"))
    offset, limit = common.paging(req.Offset, req.Limit)
    if req.InstanceType is not None and req.InstanceType not in INSTANCE_TYPES:
        raise ApiError("InvalidParameterValue.InstanceTypeNotFound", f"The instance type {req.InstanceType} does not exist.")
    images = [i for i in IMAGES.values() if not wanted or i.image_id in wanted]

    def keep(image: Any) -> bool:
        for name, values in filters.items():
            if name == "image-id" and image.image_id not in values:
                return False
            if name == "image-type" and "PUBLIC_IMAGE" not in values:
                return False
            if name == "image-name" and not any(v.lower() in image.name.lower() for v in values):
                return False
            if name == "platform" and not any(v.lower() in image.platform.lower() for v in values):
                return False
            if name.startswith("tag") or name in ("dedicated-cluster-id", "cdc-cache-status"):
                return False
        return True

    matched = [i for i in images if keep(i)]
    return {"TotalCount": len(matched), "ImageSet": [
        {"ImageId": i.image_id, "OsName": i.os_name, "ImageType": "PUBLIC_IMAGE", "CreatedTime": "2024-01-01T00:00:00Z",
         "ImageName": i.name, "ImageDescription": i.name, "ImageSize": i.size, "Architecture": "x86_64",
         "ImageState": "NORMAL", "Platform": i.platform, "ImageCreator": "", "ImageSource": "OFFICIAL",
         "SyncPercent": None, "IsSupportCloudinit": True, "SnapshotSet": [], "Tags": [], "LicenseType": "TencentCloud",
         "ImageFamily": "", "ImageDeprecated": False, "CdcCacheStatus": ""}
        for i in matched[offset: offset + limit]]}


@CVM.action("DescribeInstanceTypeConfigs", m.DescribeInstanceTypeConfigs)
async def describe_instance_type_configs(ctx: Context, req: m.DescribeInstanceTypeConfigs) -> dict[str, Any]:
    filters = common.check_filters(req.Filters, ("zone", "instance-family", "instance-type"), max_values=1)
    zones = [z.zone for z in REGIONS[ctx.region].zones]
    if "zone" in filters:
        zone = filters["zone"][0]
        if zone not in ZONES or ZONES[zone][0] != ctx.region:
            raise ApiError("InvalidZone.MismatchRegion", f"The zone {zone!r} does not exist in {ctx.region}.")
        zones = [zone]
    configs = [
        {"Zone": zone, "InstanceType": t.name, "InstanceFamily": t.family, "GPU": 0, "CPU": t.cpu,
         "Memory": t.memory, "FPGA": 0, "GpuCount": 0.0, "GpuType": "", "GpuMemory": 0.0}
        for zone in zones for t in INSTANCE_TYPES.values()
        if ("instance-family" not in filters or t.family == filters["instance-family"][0])
        and ("instance-type" not in filters or t.name == filters["instance-type"][0])
    ]
    return {"InstanceTypeConfigSet": configs}
