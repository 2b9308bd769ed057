"""VPCs, subnets and addresses as VPC's responses show them."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from minicvm.domain.firewall import Direction
from minicvm.store.rows import Address, SecurityGroup, Subnet, Vpc
from minicvm.timefmt import beijing, iso

# A subnet's network, broadcast and gateway addresses are not for instances.
RESERVED_PER_SUBNET = 3


def vpc_view(row: Vpc) -> dict[str, Any]:
    return {"VpcName": row.name, "VpcId": row.id, "CidrBlock": row.cidr, "IsDefault": row.is_default,
            "EnableMulticast": False, "CreatedTime": beijing(row.created_time),
            "DnsServerSet": ["183.60.83.19", "183.60.82.98"], "DomainName": "", "DhcpOptionsId": "",
            "EnableDhcp": True, "Ipv6CidrBlock": "", "TagSet": [], "AssistantCidrSet": [], "StackType": "IPv4",
            "EnableRouteVpcPublish": False, "EnableRouteVpcPublishIpv6": False, "Ipv6CidrBlockSet": []}


def subnet_view(row: Subnet, used: int) -> dict[str, Any]:
    total = ipaddress.ip_network(row.cidr).num_addresses - RESERVED_PER_SUBNET
    return {"VpcId": row.vpc_id, "SubnetId": row.id, "SubnetName": row.name, "CidrBlock": row.cidr,
            "IsDefault": row.is_default, "EnableBroadcast": False, "Zone": row.zone, "RouteTableId": "",
            "CreatedTime": beijing(row.created_time), "AvailableIpAddressCount": total - used,
            "Ipv6CidrBlock": "", "NetworkAclId": "", "IsRemoteVpcSnat": False, "TotalIpAddressCount": total,
            "TagSet": [], "CdcId": "", "IsCdcSubnet": 0, "StackType": "IPv4"}


def address_view(row: Address) -> dict[str, Any]:
    return {
        "AddressId": row.id, "AddressName": row.name, "AddressStatus": row.status, "AddressIp": row.ip,
        "InstanceId": row.instance_id, "CreatedTime": iso(row.created_time), "NetworkInterfaceId": None,
        "PrivateAddressIp": row.private_ip, "IsArrears": False, "IsBlocked": False, "IsEipDirectConnection": False,
        "AddressType": row.address_type, "CascadeRelease": row.address_type == "WanIP",
        "EipAlgType": {"Ftp": False, "Sip": False}, "InternetServiceProvider": "BGP", "LocalBgp": False,
        "Bandwidth": row.bandwidth, "InternetChargeType": row.internet_charge_type, "TagSet": list(row.tags),
        "DeadlineDate": None, "InstanceType": "CVM" if row.instance_id else None, "Egress": "center_egress1",
        "AntiDDoSPackageId": "", "RenewFlag": "", "BandwidthPackageId": None, "UnVpcId": "", "DedicatedClusterId": "",
        "EipVisibleOnEni": False,
    }


def security_group_view(row: SecurityGroup) -> dict[str, Any]:
    return {"SecurityGroupId": row.id, "SecurityGroupName": row.name, "SecurityGroupDesc": row.description,
            "ProjectId": str(row.project_id), "IsDefault": row.is_default, "CreatedTime": beijing(row.created_time),
            "UpdateTime": beijing(row.updated_time), "TagSet": list(row.tags)}


def _policy_view(index: int, rule: dict[str, Any]) -> dict[str, Any]:
    return {"PolicyIndex": index, "Protocol": rule["Protocol"], "Port": rule["Port"],
            "ServiceTemplate": {"ServiceId": "", "ServiceGroupId": ""}, "CidrBlock": rule["CidrBlock"],
            "Ipv6CidrBlock": rule["Ipv6CidrBlock"], "SecurityGroupId": rule["SecurityGroupId"],
            "AddressTemplate": {"AddressId": "", "AddressGroupId": ""}, "Action": rule["Action"],
            "PolicyDescription": rule["PolicyDescription"], "ModifyTime": rule["ModifyTime"], "Priority": index + 1}


def policy_set_view(row: SecurityGroup, keep: Callable[[Direction, dict[str, Any]], bool]) -> dict[str, Any]:
    """The group's rules with their positions (PolicyIndex counts every rule of the direction, also those a
    filter leaves out)."""
    ingress = [_policy_view(i, r) for i, r in enumerate(row.ingress) if keep(Direction.INGRESS, r)]
    egress = [_policy_view(i, r) for i, r in enumerate(row.egress) if keep(Direction.EGRESS, r)]

    def v4(rules: list[dict[str, Any]]) -> int:
        return sum(1 for r in rules if not r["Ipv6CidrBlock"])

    return {"Version": str(row.version), "Ingress": ingress, "Egress": egress,
            "PolicyStatistics": {"IngressIPv4TotalCount": v4(row.ingress),
                                 "IngressIPv6TotalCount": len(row.ingress) - v4(row.ingress),
                                 "EgressIPv4TotalCount": v4(row.egress),
                                 "EgressIPv6TotalCount": len(row.egress) - v4(row.egress)}}
