"""Disks as CBS's responses show them."""

from __future__ import annotations

from typing import Any

from minicvm.services.cbs.rules import DiskState
from minicvm.store.rows import Disk
from minicvm.timefmt import beijing


def disk_view(row: Disk) -> dict[str, Any]:
    return {
        "DiskId": row.id, "DiskName": row.name, "DiskType": row.disk_type, "DiskSize": row.size,
        "DiskState": row.state, "DiskUsage": row.usage, "DiskChargeType": row.charge_type,
        "Portable": row.portable, "Attached": row.instance_id is not None and row.state != DiskState.ATTACHING,
        "InstanceId": row.instance_id or "", "InstanceIdList": [], "DeleteWithInstance": row.delete_with_instance,
        "LastAttachInsId": row.last_instance_id, "InstanceType": "CVM",
        "Placement": {"Zone": row.zone, "ProjectId": 0, "CageId": None, "CdcId": None, "DedicatedClusterId": "",
                      "CdcName": None, "ProjectName": "Default Project"},
        "CreateTime": beijing(row.created_time), "DeadlineTime": None, "RenewFlag": None, "Encrypt": False,
        "Shareable": False, "SnapshotAbility": True, "SnapshotCount": 0, "SnapshotSize": 0, "Rollbacking": False,
        "RollbackPercent": 0, "Migrating": False, "MigratePercent": 0, "BackupDisk": False, "Tags": list(row.tags),
        "AttachMode": "PF", "ThroughputPerformance": 0, "IsReturnable": False, "ReturnFailCode": 10,
        "AutoRenewFlagError": False, "DeadlineError": False, "DifferDaysOfDeadline": None, "DeleteSnapshot": 0,
        "DiskBackupQuota": 0, "DiskBackupCount": 0, "ErrorPrompt": "", "BurstPerformance": False,
        "AutoSnapshotPolicyIds": [], "EncryptType": None, "KmsKeyId": None,
    }
