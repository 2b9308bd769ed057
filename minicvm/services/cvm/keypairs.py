"""SSH key pairs on the wire: create (private key returned once, never stored), import, list, rename,
delete. Requests are checked here; the state lives in backend.py."""

from __future__ import annotations

from typing import Any

from minicvm.domain import keys
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm.backend import KeyPairBackend
from minicvm.services.cvm.service import CVM
from minicvm.store.rows import KeyPair
from minicvm.timefmt import iso

MAX_DESCRIPTION = 256


def _name(name: str) -> str:
    if not name:
        raise ApiError("InvalidKeyPairNameEmpty", "`KeyName` must not be empty.")
    if len(name) > 25:
        raise ApiError("InvalidKeyPairNameTooLong", "`KeyName` must be at most 25 characters.")
    if not keys.NAME_RE.match(name):
        raise ApiError("InvalidKeyPairNameIncludeIllegalChar", "`KeyName` may contain only letters, digits and '_'.")
    return name


def _check_project(project_id: int) -> None:
    if project_id != 0:
        raise ApiError("InvalidProjectId.NotFound", f"The project {project_id} does not exist.")


def _view(row: KeyPair, associated: list[str]) -> dict[str, Any]:
    return {"KeyId": row.id, "KeyName": row.name, "ProjectId": row.project_id, "Description": row.description,
            "PublicKey": row.public_key, "AssociatedInstanceIds": associated, "CreatedTime": iso(row.created_time),
            "Tags": [], "PrivateKey": None}  # only CreateKeyPair's answer carries the private key, once


@CVM.action("CreateKeyPair", m.CreateKeyPair)
async def create_key_pair(ctx: Context, req: m.CreateKeyPair) -> dict[str, Any]:
    _check_project(req.ProjectId)
    row, public_key, private_key = KeyPairBackend(ctx).create(_name(req.KeyName))
    view = _view(row, [])
    view["PublicKey"] = public_key
    view["PrivateKey"] = private_key
    return {"KeyPair": view}


@CVM.action("ImportKeyPair", m.ImportKeyPair)
async def import_key_pair(ctx: Context, req: m.ImportKeyPair) -> dict[str, Any]:
    _check_project(req.ProjectId)
    public_key = keys.parse_public_key(req.PublicKey)
    if public_key is None:
        raise ApiError("InvalidPublicKey.Malformed", "`PublicKey` is not an OpenSSH RSA public key (ssh-rsa AAAA…).")
    return {"KeyId": KeyPairBackend(ctx).import_key(_name(req.KeyName), public_key)}


@CVM.action("DescribeKeyPairs", m.DescribeKeyPairs)
async def describe_key_pairs(ctx: Context, req: m.DescribeKeyPairs) -> dict[str, Any]:
    if req.KeyIds and req.Filters:
        raise ApiError("InvalidParameter", "`KeyIds` and `Filters` cannot be used together.")
    wanted = common.check_ids(req.KeyIds, "skey", "KeyIds", "InvalidKeyPairId.Malformed", required=False)
    filters = common.check_filters(req.Filters, ("project-id", "key-name", "tag-key", "tag-value"))
    offset, limit = common.paging(req.Offset, req.Limit)
    total, found = KeyPairBackend(ctx).describe(wanted, filters, offset, limit)
    return {"TotalCount": total, "KeyPairSet": [_view(f.row, f.associated) for f in found]}


@CVM.action("ModifyKeyPairAttribute", m.ModifyKeyPairAttribute)
async def modify_key_pair_attribute(ctx: Context, req: m.ModifyKeyPairAttribute) -> dict[str, Any]:
    key_id = common.check_ids([req.KeyId], "skey", "KeyId", "InvalidKeyPairId.Malformed")[0]
    name = None if req.KeyName is None else _name(req.KeyName)
    description = None if req.Description is None else req.Description[:MAX_DESCRIPTION]
    KeyPairBackend(ctx).modify(key_id, name, description)
    return {}


@CVM.action("DeleteKeyPairs", m.DeleteKeyPairs)
async def delete_key_pairs(ctx: Context, req: m.DeleteKeyPairs) -> dict[str, Any]:
    KeyPairBackend(ctx).delete(common.check_ids(req.KeyIds, "skey", "KeyIds", "InvalidKeyPairId.Malformed"))
    return {}
