"""CVM response structures built from store rows (field names as in the SDK's models)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minicvm.domain.catalog import IMAGES
from minicvm.domain.states import StoppedMode, stop_charging_mode
from minicvm.services.cvm.backend import InstanceDisk, InstancePage
from minicvm.store.rows import Instance
from minicvm.timefmt import iso

# Fields that are the same for every instance here; each view starts as a copy of this. The lists are
# shared between views, which only the JSON encoder reads. Lists are `[]`, never null, so that typed clients
# in other languages decode them; what minicvm has no notion of (GPUs, metadata, RDMA, IPv6) is empty.
_CONSTANT: dict[str, Any] = {
    "RestrictState": "NORMAL", "DisasterRecoverGroupId": "", "IPv6Addresses": [], "CamRoleName": "",
    "HpcClusterId": "", "RdmaIpAddresses": [], "DedicatedClusterId": "", "LicenseType": "TencentCloud",
    "DefaultLoginPort": 22, "DisasterRecoverGroupIds": [], "GPUInfo": None, "Metadata": None, "CpuTopology": None,
    "EnableJumboFrame": False, "PublicIPv6Addresses": [], "PartitionNumber": 0,
}
_PLACEMENT: dict[str, Any] = {"HostIds": [], "HostId": None, "DedicatedResourcePackTenancy": None, "DedicatedResourcePackIds": [],
              "RackId": None}
_DISK: dict[str, Any] = {"Encrypt": False, "KmsKeyId": None, "CdcId": None, "DiskName": None}
_DATA_DISK: dict[str, Any] = {**_DISK, "SnapshotId": None, "ThroughputPerformance": 0, "BurstPerformance": False}
_INTERNET: dict[str, Any] = {"BandwidthPackageId": None, "InternetServiceProvider": "BGP", "IPv4AddressType": "WanIP",
             "IPv6AddressType": None, "AntiDDoSPackageId": None}


def instance_view(m: Instance, own_disks: Sequence[InstanceDisk], public_ips: list[str]) -> dict[str, Any]:
    system = next((d for d in own_disks if d.usage == "SYSTEM_DISK"), None)
    image = IMAGES.get(m.image_id)
    private = [m.private_ip]
    state = m.state
    stopped_mode = stop_charging_mode(state, m.stopped_mode)
    return {
        **_CONSTANT,
        "Placement": {"Zone": m.zone, "ProjectId": m.project_id, **_PLACEMENT},
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
            **_DISK,
        },
        "DataDisks": [
            {"DiskSize": d.size, "DiskType": d.disk_type, "DiskId": d.id,
             "DeleteWithInstance": d.delete_with_instance, **_DATA_DISK}
            for d in own_disks if d.usage == "DATA_DISK"
        ],
        "PrivateIpAddresses": private,
        "PublicIpAddresses": public_ips,
        "InternetAccessible": {
            # Tencent stops billing the bandwidth of an instance stopped in no-charge mode: no charge type.
            "InternetChargeType": None if stopped_mode == StoppedMode.STOP_CHARGING else m.internet_charge_type,
            "InternetMaxBandwidthOut": m.bandwidth_out,
            "PublicIpAssigned": bool(public_ips),
            **_INTERNET,
        },
        # A basic-network instance is in no VPC and no subnet the user could look up.
        "VirtualPrivateCloud": {"VpcId": m.vpc_id or "", "SubnetId": m.subnet_id if m.vpc_id else "",
                                "AsVpcGateway": False, "PrivateIpAddresses": private, "Ipv6AddressCount": 0},
        "ImageId": m.image_id,
        "RenewFlag": m.renew_flag,
        "CreatedTime": iso(m.created_time),
        "ExpiredTime": iso(m.expired_time),
        "OsName": image.os_name if image else "",
        "SecurityGroupIds": m.security_group_ids,
        "LoginSettings": {"Password": None, "KeyIds": m.key_ids, "KeepImageLogin": None},
        "InstanceState": state,
        "Tags": m.tags,
        "StopChargingMode": stopped_mode,
        "Uuid": m.uuid,
        "LatestOperation": m.latest_operation,
        "LatestOperationState": m.latest_operation_state,
        "LatestOperationRequestId": m.latest_operation_request_id,
        "LatestOperationErrorMsg": m.latest_operation_error,
        "IsolatedSource": m.isolated_source,
        "DisableApiTermination": m.disable_api_termination,
        "HostName": m.host_name,
        "DefaultLoginUser": image.login_user if image else "root",
        # minicvm's documented extra: where the guest answers (the guest contract).
        "GuestAddress": f"{m.guest_host}:{m.guest_port}",
    }


def instance_views(page: InstancePage) -> list[dict[str, Any]]:
    return [instance_view(r, page.disks.get(r.id, []), page.public_ips.get(r.id, [])) for r in page.rows]
