"""CBS 2017-03-12 request models (field names and types as in the official SDK)."""

from __future__ import annotations

from minicvm.services.models import Filter, Opaque, Req


class PlacementStruct(Req):
    Zone: str
    CageId: str | None = None
    CdcId: str | None = None
    CdcName: str | None = None
    DedicatedClusterId: str | None = None
    ProjectId: int | None = None
    ProjectName: str | None = None


class DiskChargePrepaidStruct(Req):
    Period: int
    RenewFlag: str | None = None
    CurInstanceDeadline: str | None = None


class TagStruct(Req):
    Key: str
    Value: str


class CreateDisks(Req):
    Placement: PlacementStruct
    DiskChargeType: str
    DiskType: str
    DiskName: str | None = None
    Tags: list[TagStruct] | None = None
    SnapshotId: str | None = None
    DiskCount: int | None = None
    ThroughputPerformance: int | None = None
    KmsKeyId: str | None = None
    DiskSize: int | None = None
    Shareable: bool | None = None
    ClientToken: str | None = None
    Encrypt: str | None = None
    DiskChargePrepaid: DiskChargePrepaidStruct | None = None
    DeleteSnapshot: int | None = None
    AutoMountConfiguration: Opaque = None
    DiskBackupQuota: int | None = None
    BurstPerformance: bool | None = None
    EncryptType: str | None = None


class DescribeDisks(Req):
    Filters: list[Filter] | None = None
    Limit: int | None = None
    OrderField: str | None = None
    Offset: int | None = None
    ReturnBindAutoSnapshotPolicy: bool | None = None
    DiskIds: list[str] | None = None
    Order: str | None = None


class AttachDisks(Req):
    InstanceId: str
    DiskIds: list[str]
    DeleteWithInstance: bool | None = None
    AttachMode: str | None = None


class DetachDisks(Req):
    DiskIds: list[str]
    InstanceId: str | None = None


class ResizeDisk(Req):
    DiskSize: int
    DiskId: str | None = None


class ModifyDiskAttributes(Req):
    DiskIds: list[str]
    DiskName: str | None = None
    Portable: bool | None = None
    ProjectId: int | None = None
    DeleteWithInstance: bool | None = None
    DiskType: str | None = None
    BurstPerformanceOperation: str | None = None


class TerminateDisks(Req):
    DiskIds: list[str]
    DeleteSnapshot: int | None = None
