"""Six-segment resource names, `qcs::<service>:<region>:uin/<uin>:<prefix>/<id>`, as the Tag service takes and
gives them. Accepted as callers write them: `uin/<uin>`, a bare `<uin>`, or an empty account (`uin/` — the
official Terraform provider's — or nothing), all meaning the caller's own account."""

from __future__ import annotations

from dataclasses import dataclass

from minicvm import ids
from minicvm.domain.catalog import REGIONS
from minicvm.errors import ApiError
from minicvm.services.tag.resources import SERVICE_TYPES, Taggable, find


@dataclass(frozen=True)
class ResourceName:
    taggable: Taggable
    region: str
    resource_id: str

    def format(self, uin: str) -> str:
        return format_name(self.taggable, self.region, uin, self.resource_id)


def format_name(taggable: Taggable, region: str, uin: str, resource_id: str) -> str:
    return f"qcs::{taggable.service_type}:{region}:uin/{uin}:{taggable.prefix}/{resource_id}"


def _bad(name: str, why: str) -> ApiError:
    return ApiError("InvalidParameterValue.ResourceDescriptionError",
                    f"The resource description {name!r} is invalid: {why}. Expected "
                    "qcs::<service>:<region>:uin/<uin>:<prefix>/<id>, e.g. "
                    "qcs::cvm:ap-guangzhou:uin/100000000001:instance/ins-12345678.")


def parse(name: str, uin: str) -> ResourceName:
    parts = name.split(":")
    if len(parts) != 6 or parts[0] != "qcs":
        raise _bad(name, "it does not have six `:`-separated segments starting with qcs")
    _, project, service_type, region, account, resource = parts
    if project:
        raise _bad(name, "the project segment must be empty")
    if service_type not in SERVICE_TYPES:
        raise ApiError("InvalidParameter.UnsupportedService",
                       f"The service `{service_type}` in {name!r} has no taggable resources here; "
                       f"supported: {sorted(SERVICE_TYPES)}.")
    if region not in REGIONS:
        raise _bad(name, f"the region {region!r} does not exist")
    owner = account.removeprefix("uin/")
    if owner and owner != uin:
        raise ApiError("InvalidParameterValue.UinInvalid",
                       f"The account `{account}` in {name!r} is not yours (uin/{uin}).")
    prefix, slash, resource_id = resource.partition("/")
    taggable = find(service_type, prefix)
    if not slash or taggable is None:
        raise _bad(name, f"`{prefix}` is not a resource type of {service_type}")
    if not ids.is_well_formed(resource_id, taggable.id_prefix):
        raise _bad(name, f"{resource_id!r} is not a {prefix} id ({taggable.id_prefix}-xxxxxxxx)")
    return ResourceName(taggable, region, resource_id)
