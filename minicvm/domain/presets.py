"""Tencent's preset policies for the products minicvm serves, with the documents Tencent publishes (where it
publishes none, the document its name and description promise). They are the same for every account."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    policy_id: int
    name: str
    description: str
    document: str


def _allow(*actions: str) -> str:
    return json.dumps({"version": "2.0", "statement": [{"effect": "allow", "action": list(actions), "resource": "*"}]})


PRESETS: tuple[Preset, ...] = (
    Preset(1, "AdministratorAccess", "Full access to all cloud services and resources of the account.", _allow("*")),
    Preset(2, "ReadOnlyAccess", "Read-only access to all cloud services.",
           _allow("*:Describe*", "*:Get*", "*:List*", "*:Inquiry*")),
    Preset(3, "QcloudCVMFullAccess", "Full read/write access to CVM (instances, disks, EIPs, key pairs).",
           _allow("name/cvm:*", "name/vpc:*", "name/clb:Describe*", "name/monitor:*")),
    Preset(4, "QcloudCVMReadOnlyAccess", "Read-only access to CVM.",
           _allow("name/cvm:Describe*", "name/cvm:Inquiry*", "name/vpc:Describe*", "name/vpc:Inquiry*",
                  "name/vpc:Get*", "name/clb:Describe*", "name/monitor:*")),
    Preset(5, "QcloudCVMInnerReadOnlyAccess", "Read-only access to CVM itself.",
           _allow("name/cvm:Describe*", "name/cvm:Inquiry*")),
    Preset(6, "QcloudCLBFullAccess", "Full read/write access to CLB.", _allow("name/clb:*")),
    Preset(7, "QcloudCLBReadOnlyAccess", "Read-only access to CLB.", _allow("name/clb:Describe*")),
    Preset(8, "QcloudVPCFullAccess", "Full read/write access to VPC.", _allow("name/vpc:*")),
    Preset(9, "QcloudVPCReadOnlyAccess", "Read-only access to VPC.",
           _allow("name/vpc:Describe*", "name/vpc:Inquiry*", "name/vpc:Get*")),
    Preset(10, "QcloudCBSFullAccess", "Full read/write access to CBS (CBS is authorised as cvm).",
           _allow("name/cvm:*Disk*")),
    Preset(11, "QcloudCBSReadOnlyAccess", "Read-only access to CBS.", _allow("name/cvm:DescribeDisk*")),
    Preset(12, "QcloudASFullAccess", "Full read/write access to Auto Scaling.", _allow("name/as:*")),
    Preset(13, "QcloudASReadOnlyAccess", "Read-only access to Auto Scaling.", _allow("name/as:Describe*")),
    Preset(14, "QcloudTAGFullAccess", "Full read/write access to Tag.", _allow("name/tag:*")),
    Preset(15, "QcloudTAGReadOnlyAccess", "Read-only access to Tag.",
           _allow("name/tag:Describe*", "name/tag:Get*")),
)
BY_ID = {p.policy_id: p for p in PRESETS}
BY_NAME = {p.name: p for p in PRESETS}
