"""CVM response structures built from store rows (field names as in the SDK's models)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from minicvm.domain import lifecycle as lc
from minicvm.domain.catalog import IMAGES
from minicvm.engine import network
from minicvm.store.tables import disks
from minicvm.timefmt import iso


def disks_by_instance(conn: sa.Connection, instance_ids: list[str]) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = {}
    if not instance_ids:
        return result
    rows = conn.execute(
        sa.select(disks).where(disks.c.instance_id.in_(instance_ids)).order_by(disks.c.seq)
    )
    for row in rows:
        result.setdefault(row.instance_id, []).append(row)
    return result


def stop_charging_mode(row: Any) -> str:
    return (row.stopped_mode or "KEEP_CHARGING") if row.state == lc.STOPPED else "NOT_APPLICABLE"


def instance_view(row: Any, own_disks: Sequence[Any], public_ips: list[str]) -> dict[str, Any]:
    system = next((d for d in own_disks if d.usage == "SYSTEM_DISK"), None)
    image = IMAGES.get(row.image_id)
    return {
        "Placement": {"Zone": row.zone, "ProjectId": row.project_id, "HostIds": None, "HostId": None},
        "InstanceId": row.id,
        "InstanceType": row.instance_type,
        "CPU": row.cpu,
        "Memory": row.memory,
        "RestrictState": "NORMAL",
        "InstanceName": row.name,
        "InstanceChargeType": row.charge_type,
        "SystemDisk": {
            "DiskType": system.disk_type if system else None,
            "DiskId": system.id if system else None,
            "DiskSize": system.size if system else None,
        },
        "DataDisks": [
            {"DiskSize": d.size, "DiskType": d.disk_type, "DiskId": d.id,
             "DeleteWithInstance": d.delete_with_instance, "Encrypt": False, "ThroughputPerformance": 0}
            for d in own_disks if d.usage == "DATA_DISK"
        ],
        "PrivateIpAddresses": [row.private_ip],
        "PublicIpAddresses": public_ips or None,
        "InternetAccessible": {
            "InternetChargeType": row.internet_charge_type,
            "InternetMaxBandwidthOut": row.bandwidth_out,
            "PublicIpAssigned": bool(public_ips),
        },
        "VirtualPrivateCloud": {
            "VpcId": row.vpc_id or "",
            "SubnetId": row.subnet_id or "",
            "AsVpcGateway": False,
            "PrivateIpAddresses": [row.private_ip],
            "Ipv6AddressCount": 0,
        },
        "ImageId": row.image_id,
        "RenewFlag": row.renew_flag,
        "CreatedTime": iso(row.created_time),
        "ExpiredTime": iso(row.expired_time),
        "OsName": image.os_name if image else "",
        "SecurityGroupIds": list(row.security_group_ids),
        "LoginSettings": {"KeyIds": list(row.key_ids) or None},
        "InstanceState": row.state,
        "Tags": list(row.tags),
        "StopChargingMode": stop_charging_mode(row),
        "Uuid": row.uuid,
        "LatestOperation": row.latest_operation,
        "LatestOperationState": row.latest_operation_state,
        "LatestOperationRequestId": row.latest_operation_request_id,
        "LatestOperationErrorMsg": row.latest_operation_error,
        "DisasterRecoverGroupId": "",
        "DisasterRecoverGroupIds": [],
        "IPv6Addresses": None,
        "CamRoleName": "",
        "HpcClusterId": "",
        "RdmaIpAddresses": None,
        "DedicatedClusterId": "",
        "IsolatedSource": row.isolated_source,
        "LicenseType": "TencentCloud",
        "DisableApiTermination": row.disable_api_termination,
        "HostName": row.host_name,
        "DefaultLoginUser": image.login_user if image else "root",
        "DefaultLoginPort": 22,
        # minicvm's documented extra: where the guest answers (the guest contract).
        "GuestAddress": f"{row.guest_host}:{row.guest_port}",
    }


def instance_views(conn: sa.Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    own = disks_by_instance(conn, ids)
    ips = network.public_ips(conn, ids)
    return [instance_view(r, own.get(r.id, []), ips.get(r.id, [])) for r in rows]
