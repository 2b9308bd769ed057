"""Creating instances: instances, disks, addresses and launch operations in the caller's transaction.
RunInstances (services/cvm/launch.py) and the Auto Scaling reconciler both create instances here."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from minicvm import ids
from minicvm.domain import lifecycle as lc
from minicvm.domain.steps import Launch
from minicvm.engine import network
from minicvm.engine.firewall import ensure_default_group
from minicvm.engine.operations import insert_operation
from minicvm.store.tables import disks, instances
from minicvm.timefmt import now


@dataclass(frozen=True)
class GuestAddresses:
    """Where guests listen: the n-th instance gets its own loopback address, stable for its life like
    its private IP, and every guest serves on the same port there."""

    network: str  # the first address of the block
    port: int

    def host(self, seq: int) -> str:
        return str(ipaddress.ip_address(self.network) + seq)


@dataclass
class DiskPlan:
    usage: str
    disk_type: str
    size: int
    delete_with_instance: bool
    name: str



@dataclass
class LaunchPlan:
    """Everything needed to create instances, already validated. RunInstances builds one from its
    request, Auto Scaling from a launch configuration; both create instances through insert_instances."""

    zone: str
    names: list[str]
    image: Any
    itype: Any
    charge: str
    renew_flag: str | None
    security_group_ids: list[str]
    tags: list[dict[str, str]]
    disks: list[DiskPlan]
    internet_charge: str
    bandwidth: int
    wants_public_ip: bool
    user_data: str | None
    host_name: str | None
    disable_api_termination: bool = False
    password_hash: str | None = None
    key_ids: list[str] = field(default_factory=list)
    vpc_id: str | None = None
    subnet_id: str = ""
    wanted_ips: list[str | None] = field(default_factory=list)


def insert_instances(conn: sa.Connection, guests: GuestAddresses, account_id: int, region: str, plan: LaunchPlan,
                     request_id: str, action: str = "RunInstances") -> tuple[list[str], list[str]]:
    """Instances, their disks, public IPs and launch operations, inside the caller's transaction.
    Returns (instance ids, operation ids); the caller submits the operations after committing."""
    created: list[str] = []
    op_ids: list[str] = []
    ts = now()
    wanted_ips = plan.wanted_ips or [None] * len(plan.names)
    # An instance always has a group: without one named, the region's default group.
    groups = plan.security_group_ids or [ensure_default_group(conn, account_id, region)]
    for index, inst_name in enumerate(plan.names):
        instance_id = ids.new_id("ins")
        private_ip = network.allocate_private_ip(conn, plan.subnet_id, wanted_ips[index])
        host_name = plan.host_name or "VM-{}-{}-{}".format(*private_ip.split(".")[2:], plan.image.platform.lower())
        result = conn.execute(instances.insert().values(
            id=instance_id, account_id=account_id, region=region, zone=plan.zone, project_id=0,
            uuid=str(uuid.uuid4()), name=inst_name, host_name=host_name, state=lc.PENDING,
            instance_type=plan.itype.name, cpu=plan.itype.cpu, memory=plan.itype.memory, image_id=plan.image.image_id,
            charge_type=plan.charge, renew_flag=plan.renew_flag, expired_time=None, vpc_id=plan.vpc_id,
            subnet_id=plan.subnet_id, private_ip=private_ip, internet_charge_type=plan.internet_charge,
            bandwidth_out=plan.bandwidth, public_ip_wanted=plan.wants_public_ip, latest_operation=action,
            latest_operation_state=lc.OPERATING, latest_operation_request_id=request_id, user_data=plan.user_data,
            key_ids=plan.key_ids, password_hash=plan.password_hash,
            password_changed_at=ts if plan.password_hash else None, login_user=plan.image.login_user,
            security_group_ids=groups, tags=plan.tags,
            disable_api_termination=plan.disable_api_termination, guest_host="", guest_port=0, created_time=ts,
        ))
        assert result.inserted_primary_key is not None
        seq = result.inserted_primary_key[0]
        conn.execute(instances.update().where(instances.c.seq == seq).values(
            guest_host=guests.host(seq), guest_port=guests.port))
        for disk in plan.disks:
            conn.execute(disks.insert().values(
                id=ids.new_id("disk"), account_id=account_id, region=region, zone=plan.zone, instance_id=instance_id,
                usage=disk.usage, disk_type=disk.disk_type, size=disk.size, portable=False,
                delete_with_instance=disk.delete_with_instance, state="ATTACHED",
                name=disk.name or f"{inst_name}_{disk.usage.lower()}", charge_type=plan.charge, created_time=ts,
            ))
        network.assign_wan_ip(conn, instance_id)
        op_ids.append(insert_operation(conn, account_id=account_id, resource_id=instance_id, action=action,
                                       steps=[Launch()], request_id=request_id))
        created.append(instance_id)
    return created, op_ids
