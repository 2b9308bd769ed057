"""VPCs, subnets and addresses as VPC's responses show them."""

from __future__ import annotations

import ipaddress
from typing import Any

from minicvm.store.rows import Address, Subnet, Vpc
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
