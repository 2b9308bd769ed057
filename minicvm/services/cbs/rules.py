"""What CBS allows, as plain functions of typed values: the disk types and sizes on sale, which disks
are elastic, and how one refused disk refuses a whole batch."""

from __future__ import annotations

from enum import StrEnum

from minicvm.errors import ApiError
from minicvm.store.rows import Disk


class DiskState(StrEnum):
    UNATTACHED = "UNATTACHED"
    ATTACHING = "ATTACHING"
    ATTACHED = "ATTACHED"
    DETACHING = "DETACHING"
    EXPANDING = "EXPANDING"


class DiskUsage(StrEnum):
    SYSTEM_DISK = "SYSTEM_DISK"
    DATA_DISK = "DATA_DISK"


class ChargeType(StrEnum):
    PREPAID = "PREPAID"
    POSTPAID_BY_HOUR = "POSTPAID_BY_HOUR"


STANDALONE_TYPES = ("CLOUD_PREMIUM", "CLOUD_BSSD", "CLOUD_SSD", "CLOUD_HSSD")
MIN_SIZE = {"CLOUD_PREMIUM": 10, "CLOUD_BSSD": 20, "CLOUD_SSD": 20, "CLOUD_HSSD": 20}
MAX_SIZE = 32000
STEP = 10
MAX_DATA_DISKS = 20
MAX_NAME_BYTES = 60


def size_problem(size: int, disk_type: str) -> str | None:
    low = MIN_SIZE.get(disk_type, 10)
    if not low <= size <= MAX_SIZE or size % STEP:
        return f"{disk_type} disks are {low}-{MAX_SIZE} GiB in steps of {STEP}; got {size}"
    return None


def check_size(size: int, disk_type: str) -> None:
    problem = size_problem(size, disk_type)
    if problem:
        raise ApiError("InvalidParameterValue", f"`DiskSize`: {problem}.")


def not_elastic(disk: Disk) -> tuple[str, str] | None:
    """Only elastic data disks move between instances: not system disks, not disks bought with one."""
    if disk.usage == DiskUsage.SYSTEM_DISK:
        return "ResourceUnavailable.TypeError", f"{disk.id} is a system disk"
    if not disk.portable:
        return "InvalidDisk.NotPortable", f"{disk.id} is not an elastic disk"
    return None


def refuse_all(done: str, problems: list[tuple[str, str]]) -> None:
    """All-or-nothing: one refused disk refuses the batch, and the message names every refused one."""
    if problems:
        raise ApiError(problems[0][0], f"No disk was {done}: " + "; ".join(p for _, p in problems) + ".")
