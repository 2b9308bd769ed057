"""Price inquiries: what RunInstances, ResetInstancesType and ResizeInstanceDisks would cost, from the one price
table (domain/pricing.py). Each checks its request exactly as the action it prices does, so a request that
would be refused is refused here with the same code, and nothing is created or changed."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from minicvm.domain import pricing
from minicvm.domain.catalog import INSTANCE_TYPES
from minicvm.errors import ApiError
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm import rules
from minicvm.services.cvm.backend import InstanceBackend, InstanceQuery
from minicvm.services.cvm.instances import instance_ids
from minicvm.services.cvm.launch import checked_plan
from minicvm.services.cvm.service import CVM
from minicvm.services.cvm.stopped_changes import growth_request
from minicvm.store.rows import Instance

# InquiryPriceRunInstances is documented for 1-100 instances (RunInstances takes 500).
INQUIRY_MAX_COUNT = 100


def _price(instance: pricing.ItemPrice, bandwidth: pricing.ItemPrice) -> dict[str, Any]:
    return {"Price": {"InstancePrice": asdict(instance), "BandwidthPrice": asdict(bandwidth)}}


def _charge(charge_type: str, months: int | None) -> pricing.Charge:
    return pricing.Charge(months or 1) if charge_type == "PREPAID" else pricing.POSTPAID


def _bandwidth(row: Instance, charge: pricing.Charge) -> pricing.ItemPrice:
    return pricing.bandwidth_price(pricing.InternetCharge(row.internet_charge_type), row.bandwidth_out, charge)


@CVM.action("InquiryPriceRunInstances", m.InquiryPriceRunInstances)
async def inquiry_price_run_instances(ctx: Context, req: m.InquiryPriceRunInstances) -> dict[str, Any]:
    plan = checked_plan(ctx, req, max_count=INQUIRY_MAX_COUNT)
    charge = _charge(plan.charge, req.InstanceChargePrepaid.Period if req.InstanceChargePrepaid else None)
    count = len(plan.names)
    disks = [pricing.Disk(d.disk_type, d.size) for d in plan.disks]
    itype = plan.itype
    return _price(pricing.instance_price(itype.family, itype.cpu, itype.memory, disks, charge, count),
                  pricing.bandwidth_price(pricing.InternetCharge(plan.internet_charge), plan.bandwidth, charge, count))


def _one_instance(ctx: Context, instance_id: str) -> Instance:
    page = InstanceBackend(ctx).describe(InstanceQuery([instance_id], {}), 0, 1)
    if not page.rows:
        raise ApiError("InvalidInstanceId.NotFound", f"The instance {instance_id} does not exist.")
    return page.rows[0]


@CVM.action("InquiryPriceResetInstancesType", m.InquiryPriceResetInstancesType)
async def inquiry_price_reset_instances_type(ctx: Context, req: m.InquiryPriceResetInstancesType) -> dict[str, Any]:
    ids = instance_ids(req.InstanceIds)
    if len(ids) != 1:
        raise ApiError("InvalidParameterValue.LimitExceeded", "InquiryPriceResetInstancesType takes one instance.")
    target = rules.instance_type(req.InstanceType)
    backend = InstanceBackend(ctx)
    row = _one_instance(ctx, ids[0])
    system = next(iter(backend.disk_types(ids, "SYSTEM_DISK").get(row.id, [])), None)
    refused = rules.type_change_refusal(row.instance_type, target, system, rules.stopped_without_charge(row))
    if refused:
        raise ApiError(refused.code, f"{row.id}: {refused.message}.")
    # The new type alone, by the hour or (prepaid) for a month; the bandwidth does not change.
    charge = _charge(row.charge_type, None)
    return _price(pricing.instance_price(target.family, target.cpu, target.memory, [], charge),
                  _bandwidth(row, charge))


@CVM.action("InquiryPriceResizeInstanceDisks", m.ResizeInstanceDisks)
async def inquiry_price_resize_instance_disks(ctx: Context, req: m.ResizeInstanceDisks) -> dict[str, Any]:
    instance_id, disk_id, size, field = growth_request(req)
    row = _one_instance(ctx, instance_id)
    disk = InstanceBackend(ctx).disk_to_grow(instance_id, disk_id, size, field)
    charge = _charge(row.charge_type, None)
    return _price(pricing.disk_growth_price(disk.disk_type, disk.size, size, charge), pricing.ItemPrice())


def type_price(type_name: str, charge_type: str) -> pricing.ItemPrice:
    """A type's own price, by the hour or for a prepaid month (DescribeZoneInstanceConfigInfos)."""
    itype = INSTANCE_TYPES[type_name]
    return pricing.instance_price(itype.family, itype.cpu, itype.memory, [], _charge(charge_type, None))
