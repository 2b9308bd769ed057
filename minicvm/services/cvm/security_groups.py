"""CVM's side of security groups: binding one group to (or from) instances. Groups match in binding order,
so a bound group goes after the instance's others."""

from __future__ import annotations

from typing import Any

from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm.backend import InstanceBackend
from minicvm.services.cvm.instances import instance_ids
from minicvm.services.cvm.service import CVM


def _one_group(values: list[str]) -> str:
    groups = common.check_ids(values, "sg", "SecurityGroupIds", "InvalidSgId.Malformed")
    if len(groups) != 1:
        raise ApiError("InvalidParameterValue.LimitExceeded", "`SecurityGroupIds` takes exactly one group per call.")
    return groups[0]


@CVM.action("AssociateSecurityGroups", m.InstancesSecurityGroups)
async def associate_security_groups(ctx: Context, req: m.InstancesSecurityGroups) -> dict[str, Any]:
    group = _one_group(req.SecurityGroupIds)
    InstanceBackend(ctx).bind_security_group(instance_ids(req.InstanceIds), group, bind=True)
    return {}


@CVM.action("DisassociateSecurityGroups", m.InstancesSecurityGroups)
async def disassociate_security_groups(ctx: Context, req: m.InstancesSecurityGroups) -> dict[str, Any]:
    group = _one_group(req.SecurityGroupIds)
    InstanceBackend(ctx).bind_security_group(instance_ids(req.InstanceIds), group, bind=False)
    return {}
