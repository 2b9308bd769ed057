"""Per-account quotas on what every account draws from one pool on this machine: instances (guest
loopback addresses), public IPs (plain ones and EIPs come from the same few documentation ranges) and
load balancers (VIPs; their quota lives with them in clb). Without them one account could exhaust a pool
and leave the others with `ResourcesSoldOut…` for resources they never touched."""

from __future__ import annotations

import sqlalchemy as sa

from minicvm.errors import ApiError
from minicvm.store.tables import addresses, instances


def check_instances(conn: sa.Connection, account_id: int, limit: int, adding: int) -> None:
    held = conn.execute(sa.select(sa.func.count()).select_from(instances).where(
        instances.c.account_id == account_id)).scalar_one()
    if held + adding > limit:
        raise ApiError("InstancesQuotaLimitExceeded",
                       f"An account may hold at most {limit} instances; it holds {held} and asked for {adding} more.")


def public_ips_held(conn: sa.Connection, account_id: int) -> int:
    """Addresses the account holds, plus the plain public IPs its instances will be given when they
    (re)start: those are promised already."""
    allocated = conn.execute(sa.select(sa.func.count()).select_from(addresses).where(
        addresses.c.account_id == account_id)).scalar_one()
    promised = conn.execute(sa.select(sa.func.count()).select_from(instances).where(
        instances.c.account_id == account_id, instances.c.public_ip_wanted,
        ~sa.exists().where(addresses.c.instance_id == instances.c.id))).scalar_one()
    return int(allocated) + int(promised)


def check_public_ips(conn: sa.Connection, account_id: int, limit: int, adding: int, code: str) -> None:
    held = public_ips_held(conn, account_id)
    if held + adding > limit:
        raise ApiError(code, f"An account may hold at most {limit} public IP addresses (EIPs and instances' public "
                             f"IPs together); it holds {held} and asked for {adding} more.")
