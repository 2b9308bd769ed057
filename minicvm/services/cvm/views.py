"""CVM response structures built from store rows (field names as in the SDK's models)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minicvm.domain.catalog import IMAGES
from minicvm.domain.states import stop_charging_mode
from minicvm.services.cvm.backend import InstanceDisk, InstancePage
from minicvm.store.rows import Instance
from minicvm.timefmt import iso

# Fields that are the same for every instance here; each view starts as a copy of this.
_CONSTANT = {
    "RestrictState": "NORMAL", "DisasterRecoverGroupId": "", "IPv6Addresses": None, "CamRoleName": "",
    "HpcClusterId": "", "RdmaIpAddresses": None, "DedicatedClusterId": "", "LicenseType": "TencentCloud",
    "DefaultLoginPort": 22,
}


def instance_view(m: Instance, own_disks: Sequence[InstanceDisk], public_ips: list[str]) -> dict[str, Any]:
    system = next((d for d in own_disks if d.usage == "SYSTEM_DISK"), None)
    image = IMAGES.get(m.image_id)
    private = [m.private_ip]
    state = m.state
    return {
        **_CONSTANT,
        "Placement": {"Zone": m.zone, "ProjectId": m.project_id, "HostIds": None, "HostId": None},
        "InstanceId": m.id,
        "InstanceType": m.instance_type,
        "CPU": m.cpu,
        "Memory": m.memory,
        "InstanceName": m.name,
        "InstanceChargeType": m.charge_type,
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
        "PrivateIpAddresses": private,
        "PublicIpAddresses": public_ips or None,
        "InternetAccessible": {
            "InternetChargeType": m.internet_charge_type,
            "InternetMaxBandwidthOut": m.bandwidth_out,
            "PublicIpAssigned": bool(public_ips),
        },
        "VirtualPrivateCloud": {"VpcId": m.vpc_id or "", "SubnetId": m.subnet_id or "", "AsVpcGateway": False,
                                "PrivateIpAddresses": private, "Ipv6AddressCount": 0},
        "ImageId": m.image_id,
        "RenewFlag": m.renew_flag,
        "CreatedTime": iso(m.created_time),
        "ExpiredTime": iso(m.expired_time),
        "OsName": image.os_name if image else "",
        "SecurityGroupIds": m.security_group_ids,
        "LoginSettings": {"KeyIds": m.key_ids or None},
        "InstanceState": state,
        "Tags": m.tags,
        "StopChargingMode": stop_charging_mode(state, m.stopped_mode),
        "Uuid": m.uuid,
        "LatestOperation": m.latest_operation,
        "LatestOperationState": m.latest_operation_state,
        "LatestOperationRequestId": m.latest_operation_request_id,
        "LatestOperationErrorMsg": m.latest_operation_error,
        "DisasterRecoverGroupIds": [],
        "IsolatedSource": m.isolated_source,
        "DisableApiTermination": m.disable_api_termination,
        "HostName": m.host_name,
        "DefaultLoginUser": image.login_user if image else "root",
        # minicvm's documented extra: where the guest answers (the guest contract).
        "GuestAddress": f"{m.guest_host}:{m.guest_port}",
    }


def instance_views(page: InstancePage) -> list[dict[str, Any]]:
    return [instance_view(r, page.disks.get(r.id, []), page.public_ips.get(r.id, [])) for r in page.rows]
