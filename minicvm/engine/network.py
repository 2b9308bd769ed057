"""Address bookkeeping shared by CVM, VPC and the runner: private IPs from subnets, public IPs from
documentation ranges (data only — nothing ever connects to them), default VPCs per account."""

from __future__ import annotations

import ipaddress
import random

import sqlalchemy as sa

from minicvm import ids
from minicvm.domain.catalog import REGIONS, zone_index
from minicvm.errors import ApiError
from minicvm.store.tables import addresses, instances, subnets, vpcs
from minicvm.timefmt import now

PUBLIC_POOLS = (
    ipaddress.ip_network("203.0.113.0/24"),
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("192.0.2.0/24"),
)
DEFAULT_VPC_CIDR = "10.0.0.0/8"


def ensure_default_vpc(conn: sa.Connection, account_id: int, region: str) -> str:
    """Every account has a default VPC and one default subnet per zone in each region it uses."""
    row = conn.execute(
        sa.select(vpcs.c.id).where(vpcs.c.account_id == account_id, vpcs.c.region == region, vpcs.c.is_default)
    ).first()
    if row:
        return str(row.id)
    vpc_id = ids.new_id("vpc")
    ts = now()
    conn.execute(vpcs.insert().values(id=vpc_id, account_id=account_id, region=region, name="Default-VPC",
                                      cidr=DEFAULT_VPC_CIDR, is_default=True, created_time=ts))
    for zone in REGIONS[region].zones:
        conn.execute(subnets.insert().values(
            id=ids.new_id("subnet"), account_id=account_id, vpc_id=vpc_id, region=region, zone=zone.zone,
            name="Default-Subnet", cidr=f"10.{zone_index(zone.zone)}.0.0/16", is_default=True, next_host=0,
            created_time=ts,
        ))
    return vpc_id


def default_subnet(conn: sa.Connection, account_id: int, region: str, zone: str) -> tuple[str, str]:
    vpc_id = ensure_default_vpc(conn, account_id, region)
    row = conn.execute(
        sa.select(subnets.c.id).where(subnets.c.vpc_id == vpc_id, subnets.c.zone == zone, subnets.c.is_default)
    ).one()
    return vpc_id, row.id


def _ip_taken(conn: sa.Connection, subnet_id: str, ip: str) -> bool:
    # One indexed lookup per candidate (subnet_id, private_ip): loading every address of a big subnet
    # for each new instance made creating thousands of instances quadratic.
    return conn.execute(sa.select(instances.c.seq).where(instances.c.subnet_id == subnet_id,
                                                         instances.c.private_ip == ip).limit(1)).first() is not None


def allocate_private_ip(conn: sa.Connection, subnet_id: str, wanted: str | None = None) -> str:
    """Next free host address of the subnet (skipping network, gateway and broadcast); never a
    duplicate among live instances."""
    subnet = conn.execute(sa.select(subnets).where(subnets.c.id == subnet_id)).one()
    net = ipaddress.ip_network(subnet.cidr)
    if wanted is not None:
        ip = ipaddress.ip_address(wanted)
        if ip not in net or ip in (net.network_address, net.broadcast_address) or int(ip) - int(net.network_address) == 1:
            raise ApiError("VpcAddrNotInSubNet", f"The private IP {wanted} is not a usable address of {subnet.cidr}.")
        if _ip_taken(conn, subnet_id, wanted):
            raise ApiError("VpcIpIsUsed", f"The private IP {wanted} is already in use.")
        return wanted
    hosts = net.num_addresses - 3  # network, gateway (.1), broadcast
    used = conn.execute(sa.select(sa.func.count()).select_from(instances).where(
        instances.c.subnet_id == subnet_id)).scalar_one()
    if used >= hosts:
        raise ApiError("FailedOperation.NoAvailableIpAddressCountInSubnet",
                       f"The subnet {subnet_id} has no free private IP address.")
    offset = subnet.next_host
    for _ in range(hosts):
        candidate = str(net.network_address + 2 + offset % hosts)
        offset += 1
        if not _ip_taken(conn, subnet_id, candidate):
            conn.execute(subnets.update().where(subnets.c.id == subnet_id).values(next_host=offset % hosts))
            return candidate
    raise ApiError("FailedOperation.NoAvailableIpAddressCountInSubnet",
                   f"The subnet {subnet_id} has no free private IP address.")


def free_public_ip(conn: sa.Connection) -> str:
    used = set(conn.execute(sa.select(addresses.c.ip)).scalars())
    free = [str(ip) for pool in PUBLIC_POOLS for ip in pool.hosts() if str(ip) not in used]
    if not free:
        raise ApiError("ResourcesSoldOut.EipInsufficient", "No public IP address is left in the pool.")
    return random.choice(free)


def assign_wan_ip(conn: sa.Connection, instance_id: str) -> str | None:
    """Give the instance a plain public IP if it wants one and has neither one nor an EIP."""
    inst = conn.execute(sa.select(instances).where(instances.c.id == instance_id)).one()
    if not inst.public_ip_wanted:
        return None
    have = conn.execute(sa.select(addresses.c.ip).where(addresses.c.instance_id == instance_id)).first()
    if have:
        return str(have.ip)
    ip = free_public_ip(conn)
    conn.execute(addresses.insert().values(
        id=ids.new_id("eip"), account_id=inst.account_id, region=inst.region, ip=ip, address_type="WanIP",
        status="BIND", name="", instance_id=instance_id, private_ip=inst.private_ip,
        bandwidth=inst.bandwidth_out, internet_charge_type=inst.internet_charge_type, created_time=now(),
    ))
    return ip


def release_wan_ip(conn: sa.Connection, instance_id: str) -> None:
    conn.execute(addresses.delete().where(addresses.c.instance_id == instance_id, addresses.c.address_type == "WanIP"))


def public_ips(conn: sa.Connection, instance_ids: list[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    if not instance_ids:
        return result
    rows = conn.execute(
        sa.select(addresses.c.instance_id, addresses.c.ip).where(addresses.c.instance_id.in_(instance_ids))
    )
    for row in rows:
        result.setdefault(row.instance_id, []).append(row.ip)
    return result
