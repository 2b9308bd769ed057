"""Security groups turned into what guests enforce. The store says which groups an instance is bound to
and what their rules say; this compiles that into each instance's IngressPolicy and hands it to the
driver, at boot and whenever groups, rules or bindings change.

Guests listen on loopback addresses, so a connection's source is a host address, mapped onto what the
rules speak of (README, "Security groups"):

* another instance's guest address is that instance: its private IP (for CidrBlock rules) and its groups
  (for rules naming a group);
* a load balancer's VIP (its data plane connects from there) is that load balancer's address;
* anything else on the host is the public internet, matched only by rules for every address (0.0.0.0/0).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from minicvm import ids
from minicvm.domain.firewall import (
    ANY_IPV4,
    OPEN_POLICY,
    CompiledRule,
    IngressPolicy,
    Sources,
    parse_ports,
    parse_protocol,
    parse_verdict,
)
from minicvm.drivers.base import Driver
from minicvm.store.db import Store
from minicvm.store.statements import REGION_GROUP_INGRESS
from minicvm.store.tables import instances, load_balancers, security_groups
from minicvm.timefmt import beijing, now

DEFAULT_GROUP_NAME = "default"
DEFAULT_GROUP_DESCRIPTION = "System created security group"


def allow_all_rule(modify_time: str) -> dict[str, Any]:
    return {"Protocol": "ALL", "Port": "ALL", "CidrBlock": "0.0.0.0/0", "Ipv6CidrBlock": "", "SecurityGroupId": "",
            "Action": "ACCEPT", "PolicyDescription": "", "ModifyTime": modify_time}


def ensure_default_group(conn: sa.Connection, account_id: int, region: str) -> str:
    """Every account has a default group per region, allowing all IPv4 traffic both ways."""
    c = security_groups.c
    found = conn.execute(sa.select(c.id).where(c.account_id == account_id, c.region == region, c.is_default)).first()
    if found is not None:
        return str(found.id)
    group_id = ids.new_id("sg")
    ts = now()
    conn.execute(security_groups.insert().values(
        id=group_id, account_id=account_id, region=region, project_id=0, name=DEFAULT_GROUP_NAME,
        description=DEFAULT_GROUP_DESCRIPTION, is_default=True, version=1, ingress=[allow_all_rule(beijing(ts) or "")],
        egress=[allow_all_rule(beijing(ts) or "")], tags=[], created_time=ts, updated_time=ts))
    return group_id


@dataclass(frozen=True)
class _Member:
    instance_id: str
    guest_host: str
    private_ip: ipaddress.IPv4Address
    groups: tuple[str, ...]


class _Region:
    """One account's groups, instances and load balancers in one region: enough to compile any of its
    instances' policies. Instances and load balancers are read only when some rule needs them."""

    def __init__(self, conn: sa.Connection, account_id: int, region: str) -> None:
        self.conn, self.account_id, self.region = conn, account_id, region
        # Prepared: this runs before every boot, where building a Core statement would cost more than the read.
        self.groups = {r.id: r.ingress for r in REGION_GROUP_INGRESS.all(conn, account_id=account_id, region=region)}
        self._members: list[_Member] | None = None
        self._vips: list[str] | None = None

    def members(self) -> list[_Member]:
        if self._members is None:
            i = instances.c
            self._members = [_Member(r.id, r.guest_host, ipaddress.IPv4Address(r.private_ip),
                                     tuple(r.security_group_ids or ()))
                             for r in self.conn.execute(sa.select(i.id, i.guest_host, i.private_ip, i.security_group_ids)
                                                        .where(i.account_id == self.account_id, i.region == self.region))]
        return self._members

    def vips(self) -> list[str]:
        if self._vips is None:
            lb = load_balancers.c
            self._vips = list(self.conn.execute(sa.select(lb.vip).where(
                lb.account_id == self.account_id, lb.region == self.region)).scalars())
        return self._vips

    def sources(self, rule: dict[str, Any]) -> Sources:
        if rule.get("SecurityGroupId"):
            group = rule["SecurityGroupId"]
            return Sources(peers=frozenset(m.guest_host for m in self.members() if group in m.groups))
        if not rule.get("CidrBlock"):
            return Sources()  # IPv6 rules: guests have IPv4 sources only
        net = ipaddress.IPv4Network(rule["CidrBlock"], strict=False)
        if net == ANY_IPV4:
            return Sources(everyone=True)
        peers = {m.guest_host for m in self.members() if m.private_ip in net}
        peers.update(v for v in self.vips() if ipaddress.IPv4Address(v) in net)
        return Sources(peers=frozenset(peers))

    def narrow(self) -> bool:
        """Whether some rule speaks of particular sources (a group, or a CIDR narrower than everything),
        so that policies depend on who is where."""
        return any(r.get("SecurityGroupId") or (r.get("CidrBlock") and r["CidrBlock"] != str(ANY_IPV4))
                   for ingress in self.groups.values() for r in ingress)

    def policy(self, bound: Iterable[str]) -> IngressPolicy:
        bound = list(bound)
        if not bound:
            return OPEN_POLICY
        rules = []
        for group in bound:
            for rule in self.groups.get(group, ()):
                protocol = parse_protocol(rule["Protocol"])
                rules.append(CompiledRule(parse_verdict(rule["Action"]), protocol,
                                          parse_ports(protocol, rule.get("Port")), self.sources(rule)))
        return IngressPolicy(tuple(rules))


class Firewall:
    """Keeps every guest's IngressPolicy in line with the store: `push(account)` right after a change to
    groups, rules or bindings (the change is in force before the API answers); `before_boot` is the
    runner's hook, so a guest never comes up without its policy."""

    def __init__(self, store: Store, driver: Driver) -> None:
        self.store = store
        self.driver = driver

    def compile(self, account_id: int, instance_ids: list[str] | None = None) -> dict[str, IngressPolicy]:
        """The policies of the given instances (all of the account's when None)."""
        i = instances.c
        with self.store.read() as conn:
            where = [i.account_id == account_id]
            if instance_ids is not None:
                where.append(i.id.in_(instance_ids))
            wanted = conn.execute(sa.select(i.id, i.region, i.security_group_ids).where(*where)).all()
            regions: dict[str, _Region] = {}
            result = {}
            for row in wanted:
                region = regions.get(row.region) or regions.setdefault(row.region, _Region(conn, account_id, row.region))
                result[row.id] = region.policy(row.security_group_ids or ())
        return result

    def push(self, account_id: int, instance_ids: list[str] | None = None) -> None:
        for instance_id, policy in self.compile(account_id, instance_ids).items():
            self.driver.set_ingress(instance_id, policy)

    def members_changed(self, account_id: int, region: str) -> None:
        """Instances joined or left groups (or a load balancer came): the other instances' policies
        change only where some rule speaks of particular sources."""
        with self.store.read() as conn:
            narrow = _Region(conn, account_id, region).narrow()
        if narrow:
            self.push(account_id)

    async def before_boot(self, inst: Any) -> None:
        """A guest about to boot gets its policy; one that becomes a source other rules speak of is known
        to them by the time it can connect anywhere. One read when no rule is narrow (the common case)."""
        with self.store.read() as conn:
            region = _Region(conn, inst.account_id, inst.region)
            policy, narrow = region.policy(inst.security_group_ids or ()), region.narrow()
        self.driver.set_ingress(inst.id, policy)
        if narrow:
            self.push(inst.account_id)

    def sync_all(self) -> None:
        """At start-up: every instance's policy, before any guest boots."""
        with self.store.read() as conn:
            accounts = conn.execute(sa.select(instances.c.account_id).distinct()).scalars().all()
        for account_id in accounts:
            self.push(account_id)

