"""SSH key pairs: create (private key returned once, never stored), import, list, rename, delete."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from minicvm import ids as idmod
from minicvm.domain import keys
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.cvm import models as m
from minicvm.services.cvm.service import CVM
from minicvm.store.tables import instances, key_pairs
from minicvm.timefmt import iso, now

KEY_LIMIT = 100


def _check_name(conn: sa.Connection, account_id: int, name: str) -> None:
    if not name:
        raise ApiError("InvalidKeyPairNameEmpty", "`KeyName` must not be empty.")
    if len(name) > 25:
        raise ApiError("InvalidKeyPairNameTooLong", "`KeyName` must be at most 25 characters.")
    if not keys.NAME_RE.match(name):
        raise ApiError("InvalidKeyPairNameIncludeIllegalChar", "`KeyName` may contain only letters, digits and '_'.")
    if conn.execute(sa.select(key_pairs.c.id).where(key_pairs.c.account_id == account_id,
                                                    key_pairs.c.name == name)).first():
        raise ApiError("InvalidKeyPairName.Duplicate", f"A key pair named {name!r} already exists.")


def _check_project(project_id: int) -> None:
    if project_id != 0:
        raise ApiError("InvalidProjectId.NotFound", f"The project {project_id} does not exist.")


def _insert(conn: sa.Connection, ctx: Context, name: str, public_key: str) -> str:
    count = conn.execute(sa.select(sa.func.count()).select_from(key_pairs)
                         .where(key_pairs.c.account_id == ctx.account.id)).scalar_one()
    if count >= KEY_LIMIT:
        raise ApiError("InvalidKeyPair.LimitExceeded", f"An account may hold at most {KEY_LIMIT} key pairs.")
    key_id = idmod.new_id("skey")
    conn.execute(key_pairs.insert().values(
        id=key_id, account_id=ctx.account.id, name=name, project_id=0, description="", public_key=public_key,
        fingerprint=keys.fingerprint(public_key), created_time=now()))
    return key_id


def _associated(conn: sa.Connection, account_id: int) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for row in conn.execute(sa.select(instances.c.id, instances.c.key_ids).where(instances.c.account_id == account_id)):
        for key_id in row.key_ids:
            result.setdefault(key_id, []).append(row.id)
    return result


def _view(row: Any, associated: list[str]) -> dict[str, Any]:
    return {"KeyId": row.id, "KeyName": row.name, "ProjectId": row.project_id, "Description": row.description,
            "PublicKey": row.public_key, "AssociatedInstanceIds": associated, "CreatedTime": iso(row.created_time),
            "Tags": []}


@CVM.action("CreateKeyPair", m.CreateKeyPair)
async def create_key_pair(ctx: Context, req: m.CreateKeyPair) -> dict[str, Any]:
    _check_project(req.ProjectId)
    with ctx.cloud.store.write() as conn:
        _check_name(conn, ctx.account.id, req.KeyName)
        key_id = idmod.new_id("skey")
        public, private = keys.generate(key_id)
        public_key = " ".join(public.split()[:2])
        key_id = _insert(conn, ctx, req.KeyName, public_key)
        row = conn.execute(sa.select(key_pairs).where(key_pairs.c.id == key_id)).one()
    view = _view(row, [])
    view["PublicKey"] = f"{public_key} {key_id}"
    view["PrivateKey"] = private
    return {"KeyPair": view}


@CVM.action("ImportKeyPair", m.ImportKeyPair)
async def import_key_pair(ctx: Context, req: m.ImportKeyPair) -> dict[str, Any]:
    _check_project(req.ProjectId)
    public_key = keys.parse_public_key(req.PublicKey)
    if public_key is None:
        raise ApiError("InvalidPublicKey.Malformed", "`PublicKey` is not an OpenSSH RSA public key (ssh-rsa AAAA…).")
    with ctx.cloud.store.write() as conn:
        _check_name(conn, ctx.account.id, req.KeyName)
        if conn.execute(sa.select(key_pairs.c.id).where(key_pairs.c.account_id == ctx.account.id,
                                                        key_pairs.c.public_key == public_key)).first():
            raise ApiError("InvalidPublicKey.Duplicate", "This public key has already been imported.")
        return {"KeyId": _insert(conn, ctx, req.KeyName, public_key)}


@CVM.action("DescribeKeyPairs", m.DescribeKeyPairs)
async def describe_key_pairs(ctx: Context, req: m.DescribeKeyPairs) -> dict[str, Any]:
    if req.KeyIds and req.Filters:
        raise ApiError("InvalidParameter", "`KeyIds` and `Filters` cannot be used together.")
    wanted = common.check_ids(req.KeyIds, "skey", "KeyIds", "InvalidKeyPairId.Malformed", required=False)
    filters = common.check_filters(req.Filters, ("project-id", "key-name", "tag-key", "tag-value"))
    offset, limit = common.paging(req.Offset, req.Limit)
    where = [key_pairs.c.account_id == ctx.account.id]
    if wanted:
        where.append(key_pairs.c.id.in_(wanted))
    if "key-name" in filters:
        where.append(key_pairs.c.name.in_(filters["key-name"]))
    if "project-id" in filters:
        where.append(key_pairs.c.project_id.in_([int(v) for v in filters["project-id"] if v.isdigit()]))
    if any(k.startswith("tag") for k in filters):
        where.append(sa.false())  # key pairs carry no tags here
    with ctx.cloud.store.read() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(key_pairs).where(*where)).scalar_one()
        rows = list(conn.execute(sa.select(key_pairs).where(*where).order_by(key_pairs.c.seq)
                                 .offset(offset).limit(limit)))
        associated = _associated(conn, ctx.account.id)
    return {"TotalCount": total, "KeyPairSet": [_view(r, associated.get(r.id, [])) for r in rows]}


@CVM.action("ModifyKeyPairAttribute", m.ModifyKeyPairAttribute)
async def modify_key_pair_attribute(ctx: Context, req: m.ModifyKeyPairAttribute) -> dict[str, Any]:
    key_id = common.check_ids([req.KeyId], "skey", "KeyId", "InvalidKeyPairId.Malformed")[0]
    with ctx.cloud.store.write() as conn:
        row = conn.execute(sa.select(key_pairs).where(key_pairs.c.id == key_id,
                                                      key_pairs.c.account_id == ctx.account.id)).first()
        if row is None:
            raise ApiError("InvalidKeyPairId.NotFound", f"The key pair {key_id} does not exist.")
        values: dict[str, Any] = {}
        if req.KeyName is not None and req.KeyName != row.name:
            _check_name(conn, ctx.account.id, req.KeyName)
            values["name"] = req.KeyName
        if req.Description is not None:
            values["description"] = req.Description[:256]
        if values:
            conn.execute(key_pairs.update().where(key_pairs.c.id == key_id).values(**values))
    return {}


@CVM.action("DeleteKeyPairs", m.DeleteKeyPairs)
async def delete_key_pairs(ctx: Context, req: m.DeleteKeyPairs) -> dict[str, Any]:
    key_ids = common.check_ids(req.KeyIds, "skey", "KeyIds", "InvalidKeyPairId.Malformed")
    with ctx.cloud.store.write() as conn:
        found = set(conn.execute(sa.select(key_pairs.c.id).where(
            key_pairs.c.account_id == ctx.account.id, key_pairs.c.id.in_(key_ids))).scalars())
        missing = [k for k in key_ids if k not in found]
        if missing:
            raise ApiError("InvalidKeyPairId.NotFound", f"The key pairs {missing} do not exist.")
        bound = {k: v for k, v in _associated(conn, ctx.account.id).items() if k in found}
        if bound:
            raise ApiError("InvalidParameterValue.KeyPairNotSupported",
                           f"Key pairs still bound to instances cannot be deleted: {bound}.")
        conn.execute(key_pairs.delete().where(key_pairs.c.id.in_(key_ids)))
    return {}
