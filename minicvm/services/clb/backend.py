"""CLB state: load balancers, listeners, rules and registered targets, for one caller in one region.
Handlers give it checked, typed arguments; it answers with store rows (or small records of them) or a
Tencent-style refusal, records each change as a task and pushes the new configuration to the data plane."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from minicvm import errors
from minicvm import ids as idmod
from minicvm.dataplane.model import stored_location
from minicvm.domain import lifecycle as lc
from minicvm.engine import network
from minicvm.engine import operations as ops
from minicvm.errors import ApiError
from minicvm.services import client_tokens, listing
from minicvm.services.clb import health
from minicvm.services.clb.models import HealthCheckStruct
from minicvm.services.context import Context
from minicvm.services.owned import Owned, Scope
from minicvm.store.rows import Instance, LbRule, LbTarget, Listener, LoadBalancer, Subnet, Vpc, fetch
from minicvm.store.tables import (
    instances,
    lb_rules,
    lb_targets,
    listeners,
    load_balancers,
    operations,
    subnets,
    vpcs,
)
from minicvm.timefmt import now

LB_QUOTA = 100
L4 = ("TCP", "UDP")
L7_SCHEDULERS = ("WRR", "LEAST_CONN", "IP_HASH")

LOAD_BALANCERS = Owned(load_balancers, LoadBalancer, "InvalidParameter.LBIdNotFound", "load balancer",
                       "load balancers")
VPCS = Owned(vpcs, Vpc, "InvalidParameter", "VPC", "VPCs")
SUBNETS = Owned(subnets, Subnet, "InvalidParameter", "subnet", "subnets")
INSTANCES = Owned(instances, Instance, "InvalidParameter", "instance", "instances")

_lb, _l, _r, _t = load_balancers.c, listeners.c, lb_rules.c, lb_targets.c
LB_FILTERS = {"loadbalancer-id": _lb.id, "loadbalancer-name": _lb.name, "loadbalancer-vip": _lb.vip,
              "vpc-id": _lb.vpc_id, "loadbalancer-type": _lb.lb_type}


@dataclass(frozen=True)
class LbQuery:
    """What DescribeLoadBalancers narrows by, besides its filters."""

    ids: list[str]
    lb_type: str | None = None
    name: str | None = None
    vips: list[str] | None = None
    vpc_id: str | None = None
    search: str | None = None
    by_backend_ip: bool = False  # targets are matched by instance here, never by address


@dataclass(frozen=True)
class TaskStatus:
    status: int  # 0 succeeded, 1 failed, 2 running
    lb_ids: list[str]
    message: str


@dataclass(frozen=True)
class RuleRef:
    """An L7 rule as a request names it: by LocationId, or by Domain + Url."""

    location_id: str | None
    domain: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class NewRule:
    domain: str
    url: str
    scheduler: str
    health_check: dict[str, Any]
    session_expire_time: int


@dataclass(frozen=True)
class TargetSpec:
    instance_id: str
    port: int
    weight: int | None


@dataclass(frozen=True)
class BalancerTargets:
    """One load balancer with its listeners, rules and registered targets (and the targets' instances
    with their public IPs), as DescribeTargets and DescribeTargetHealth read them."""

    lb: LoadBalancer
    listeners: list[Listener]
    rules: list[LbRule]
    targets: list[LbTarget]
    instances: dict[str, Instance] = field(default_factory=dict)
    public_ips: dict[str, list[str]] = field(default_factory=dict)


class ClbBackend:
    def __init__(self, ctx: Context) -> None:
        self.cloud = ctx.cloud
        self.scope = Scope(ctx.account.id, ctx.region)
        self.request_id = ctx.request_id

    def _record_task(self, conn: sa.Connection, action: str, lb_ids: list[str]) -> None:
        """CLB writes are asynchronous on Tencent; callers poll DescribeTaskStatus with the RequestId."""
        for lb_id in lb_ids:
            ops.insert_operation(conn, account_id=self.scope.account_id, resource_id=lb_id, action=action, steps=[],
                                 request_id=self.request_id, state=lc.SUCCESS)

    async def _sync(self) -> None:
        await self.cloud.clb.sync()

    # Load balancers

    def _placement(self, conn: sa.Connection, lb_type: str, vpc_id: str | None,
                   subnet_id: str | None) -> tuple[str, str | None]:
        default_vpc = network.ensure_default_vpc(conn, self.scope.account_id, self.scope.region)
        chosen = vpc_id or default_vpc
        VPCS.one(conn, self.scope, chosen)
        if lb_type == "INTERNAL":
            if not vpc_id or not subnet_id:
                raise errors.missing("VpcId" if not vpc_id else "SubnetId")
            subnet = SUBNETS.find(conn, self.scope, [subnet_id]).get(subnet_id)
            if subnet is None or subnet.vpc_id != chosen:
                raise ApiError("InvalidParameter", f"The subnet {subnet_id} does not exist in {chosen}.")
            return chosen, subnet_id
        if subnet_id:
            raise ApiError("InvalidParameter", "`SubnetId` is not allowed for a public (OPEN) IPv4 load balancer.")
        return chosen, None

    def create_load_balancers(self, *, lb_type: str, count: int, name: str | None, vpc_id: str | None,
                              subnet_id: str | None, tags: list[dict[str, str]], client_token: str | None) -> list[str]:
        """New load balancers, each with its own loopback VIP; a repeated ClientToken gets the first ids."""
        account_id = self.scope.account_id
        with self.cloud.store.write() as conn:
            earlier = client_tokens.remembered(conn, account_id, "CreateLoadBalancer", client_token)
            if earlier is not None:
                return list(earlier["LoadBalancerIds"])
            vpc_id, subnet_id = self._placement(conn, lb_type, vpc_id, subnet_id)
            held = conn.execute(sa.select(sa.func.count()).select_from(load_balancers).where(
                _lb.account_id == account_id, _lb.lb_type == lb_type)).scalar_one()
            if held + count > LB_QUOTA:
                raise ApiError("LimitExceeded", f"At most {LB_QUOTA} {lb_type} load balancers per region.")
            created = []
            for _ in range(count):
                lb_id = idmod.new_id("lb")
                taken = set(conn.execute(sa.select(_lb.name).where(_lb.account_id == account_id)).scalars())
                # Duplicate names get an auto-generated one, as on Tencent.
                lb_name = name if name and name not in taken else f"{name or 'CLB'}-{lb_id[3:]}"
                result = conn.execute(load_balancers.insert().values(
                    id=lb_id, account_id=account_id, region=self.scope.region, name=lb_name, lb_type=lb_type,
                    vpc_id=vpc_id, subnet_id=subnet_id, vip=f"pending-{lb_id}", tags=tags, created_time=now()))
                assert result.inserted_primary_key is not None
                seq = result.inserted_primary_key[0]
                vip = str(ipaddress.ip_address(self.cloud.settings.clb_network) + seq)
                conn.execute(load_balancers.update().where(_lb.id == lb_id).values(vip=vip))
                created.append(lb_id)
            self._record_task(conn, "CreateLoadBalancer", created)
            client_tokens.remember(conn, account_id, "CreateLoadBalancer", client_token,
                            {"LoadBalancerIds": created, "DealName": ""})
        # A new VIP may fall inside a CIDR some security group rule names.
        self.cloud.firewall.members_changed(account_id, self.scope.region)
        return created

    def describe_load_balancers(self, query: LbQuery, filters: dict[str, list[str]], offset: int,
                                limit: int) -> tuple[int, list[LoadBalancer]]:
        where: list[listing.Clause] = [_lb.account_id == self.scope.account_id, _lb.region == self.scope.region]
        if query.ids:
            where.append(_lb.id.in_(query.ids))
        if query.lb_type:
            where.append(_lb.lb_type == query.lb_type)
        if query.name:
            where.append(_lb.name == query.name)
        if query.vips:
            where.append(_lb.vip.in_(query.vips))
        if query.vpc_id:
            where.append(_lb.vpc_id == query.vpc_id)
        if query.search:
            where.append(sa.or_(_lb.name.contains(query.search, autoescape=True), _lb.id == query.search,
                                _lb.vip == query.search))
        if query.by_backend_ip:
            where.append(sa.false())
        with self.cloud.store.read() as conn:

            def tagged(key: str) -> Callable[[list[str]], listing.Clause]:
                def clause(values: list[str]) -> listing.Clause:
                    rows = conn.execute(sa.select(_lb.id, _lb.tags).where(_lb.account_id == self.scope.account_id))
                    return _lb.id.in_([r.id for r in rows if any(t[key] in values for t in r.tags)])
                return clause

            special = {"tag-key": tagged("TagKey"), "tag-value": tagged("TagValue"),
                       "address-ip-version": lambda values: sa.literal("ipv4").in_([v.lower() for v in values])}
            where += listing.filter_clauses(filters, LB_FILTERS, special)
            return listing.page(conn, load_balancers, LoadBalancer, where, [_lb.seq], offset, limit)

    def target_counts(self, lb_ids: list[str]) -> dict[str, int]:
        """How many targets (instance, port) each load balancer has bound, over all its listeners and rules."""
        if not lb_ids:
            return {}
        with self.cloud.store.read() as conn:
            rows = conn.execute(sa.select(_t.lb_id, sa.func.count()).where(_t.lb_id.in_(lb_ids)).group_by(_t.lb_id))
            return {lb_id: count for lb_id, count in rows}

    async def delete_load_balancers(self, lb_ids: list[str]) -> None:
        with self.cloud.store.write() as conn:
            for lb_id in lb_ids:
                LOAD_BALANCERS.one(conn, self.scope, lb_id)
            conn.execute(lb_targets.delete().where(_t.lb_id.in_(lb_ids)))
            conn.execute(lb_rules.delete().where(_r.lb_id.in_(lb_ids)))
            conn.execute(listeners.delete().where(_l.lb_id.in_(lb_ids)))
            conn.execute(load_balancers.delete().where(_lb.id.in_(lb_ids)))
            self._record_task(conn, "DeleteLoadBalancer", lb_ids)
        await self._sync()

    def task_status(self, task_id: str) -> TaskStatus:
        with self.cloud.store.read() as conn:
            rows = list(conn.execute(sa.select(operations.c.resource_id, operations.c.state, operations.c.error).where(
                operations.c.request_id == task_id, operations.c.account_id == self.scope.account_id)))
        if not rows:
            raise ApiError("InvalidParameter", f"The task {task_id} does not exist.")
        states = {r.state for r in rows}
        status = 1 if lc.FAILED in states else 2 if lc.OPERATING in states else 0
        message = "; ".join(r.error for r in rows if r.error) or ("Succeeded" if status == 0 else "")
        return TaskStatus(status, sorted({r.resource_id for r in rows}), message)

    # Listeners and rules

    def _listener(self, conn: sa.Connection, lb_id: str, listener_id: str) -> Listener:
        LOAD_BALANCERS.one(conn, self.scope, lb_id)
        found = fetch(conn, Listener, sa.select(listeners).where(_l.id == listener_id, _l.lb_id == lb_id))
        if not found:
            raise ApiError("InvalidParameter.ListenerIdNotFound",
                           f"The listener {listener_id} does not exist in {lb_id}.")
        return found[0]

    def _http_listener(self, conn: sa.Connection, lb_id: str, listener_id: str) -> Listener:
        row = self._listener(conn, lb_id, listener_id)
        if row.protocol != "HTTP":
            raise ApiError("InvalidParameter",
                           f"{listener_id} is a {row.protocol} listener; rules are for HTTP listeners.")
        return row

    @staticmethod
    def _rule(conn: sa.Connection, listener: Listener, ref: RuleRef) -> LbRule:
        query = sa.select(lb_rules).where(_r.listener_id == listener.id)
        if ref.location_id:
            query = query.where(_r.id == ref.location_id)
        elif ref.url is not None:
            query = query.where(_r.url == ref.url, _r.domain == (ref.domain or ""))
        else:
            raise errors.missing_one_of("LocationId", "Url")
        found = fetch(conn, LbRule, query)
        if not found:
            raise ApiError("InvalidParameter.LocationNotFound", "The forwarding rule does not exist.")
        return found[0]

    @staticmethod
    def _listeners_of(conn: sa.Connection, lb_id: str, listener_ids: list[str] | None, protocol: str | None,
                      port: int | None) -> list[Listener]:
        """A load balancer's listeners, narrowed as DescribeListeners / DescribeTargets allow."""
        where = [_l.lb_id == lb_id]
        if listener_ids:
            where.append(_l.id.in_(listener_ids))
        if protocol:
            where.append(_l.protocol == protocol)
        if port is not None:
            where.append(_l.port == port)
        return fetch(conn, Listener, sa.select(listeners).where(*where).order_by(_l.seq))

    @staticmethod
    def _rules_of(conn: sa.Connection, lb_id: str) -> list[LbRule]:
        return fetch(conn, LbRule, sa.select(lb_rules).where(_r.lb_id == lb_id).order_by(_r.seq))

    async def create_listeners(self, *, lb_id: str, protocol: str, ports: list[int], names: list[str],
                               scheduler: str, health_check: dict[str, Any] | None, session: int) -> list[str]:
        with self.cloud.store.write() as conn:
            lb = LOAD_BALANCERS.one(conn, self.scope, lb_id)
            used = {(r.port, r.protocol) for r in conn.execute(sa.select(_l.port, _l.protocol).where(_l.lb_id == lb.id))}
            for port in ports:
                # TCP and UDP may share a port number; anything else may not.
                clash = [(p, proto) for p, proto in used if p == port and {proto, protocol} != {"TCP", "UDP"}]
                if clash:
                    raise ApiError("InvalidParameter.PortCheckFailed",
                                   f"Port {port} already has a {clash[0][1]} listener.")
            created = []
            for index, port in enumerate(ports):
                listener_id = idmod.new_id("lbl")
                conn.execute(listeners.insert().values(
                    id=listener_id, lb_id=lb.id, account_id=self.scope.account_id, protocol=protocol, port=port,
                    name=names[index] if names else f"{protocol}-{port}", scheduler=scheduler,
                    health_check=health_check, session_expire_time=session, created_time=now()))
                created.append(listener_id)
            self._record_task(conn, "CreateListener", [lb.id])
        await self._sync()
        return created

    def describe_listeners(self, lb_id: str, listener_ids: list[str] | None, protocol: str | None,
                           port: int | None) -> list[tuple[Listener, list[LbRule]]]:
        """The listeners, each with its rules (an HTTP listener's; none for TCP/UDP)."""
        with self.cloud.store.read() as conn:
            lb = LOAD_BALANCERS.one(conn, self.scope, lb_id)
            rows = self._listeners_of(conn, lb.id, listener_ids, protocol, port)
            rules: dict[str, list[LbRule]] = {}
            for rule in self._rules_of(conn, lb.id):
                rules.setdefault(rule.listener_id, []).append(rule)
        return [(r, rules.get(r.id, [])) for r in rows]

    async def modify_listener(self, lb_id: str, listener_id: str, *, name: str | None,
                              health_check: HealthCheckStruct | None, scheduler: str | None,
                              session: int | None) -> None:
        with self.cloud.store.write() as conn:
            row = self._listener(conn, lb_id, listener_id)
            if row.protocol not in L4 and (health_check is not None or scheduler or session is not None):
                raise ApiError("InvalidParameter", "Change an HTTP listener's health check and scheduler on its rules.")
            values: dict[str, Any] = {}
            if name is not None:
                values["name"] = name
            if health_check is not None:
                values["health_check"] = health.normalise(health_check, "TCP", row.health_check)
            if scheduler is not None:
                values["scheduler"] = scheduler
            if session is not None:
                values["session_expire_time"] = session
            if values:
                conn.execute(listeners.update().where(_l.id == row.id).values(**values))
            self._record_task(conn, "ModifyListener", [row.lb_id])
        await self._sync()

    async def delete_listener(self, lb_id: str, listener_id: str) -> None:
        with self.cloud.store.write() as conn:
            row = self._listener(conn, lb_id, listener_id)
            conn.execute(lb_targets.delete().where(_t.listener_id == row.id))
            conn.execute(lb_rules.delete().where(_r.listener_id == row.id))
            conn.execute(listeners.delete().where(_l.id == row.id))
            self._record_task(conn, "DeleteListener", [row.lb_id])
        await self._sync()

    async def create_rules(self, lb_id: str, listener_id: str, rules: list[NewRule]) -> list[str]:
        with self.cloud.store.write() as conn:
            listener = self._http_listener(conn, lb_id, listener_id)
            existing = {(r.domain, r.url) for r in conn.execute(sa.select(_r.domain, _r.url).where(
                _r.listener_id == listener.id))}
            if existing & {(r.domain, r.url) for r in rules}:
                raise ApiError("InvalidParameterValue.Duplicate", "A rule with that Domain and Url already exists.")
            created = []
            for rule in rules:
                location_id = idmod.new_id("loc")
                conn.execute(lb_rules.insert().values(
                    id=location_id, listener_id=listener.id, lb_id=listener.lb_id, domain=rule.domain, url=rule.url,
                    scheduler=rule.scheduler, health_check=rule.health_check,
                    session_expire_time=rule.session_expire_time, created_time=now()))
                created.append(location_id)
            self._record_task(conn, "CreateRule", [listener.lb_id])
        await self._sync()
        return created

    async def modify_rule(self, lb_id: str, listener_id: str, location_id: str | None, *, url: str | None,
                          health_check: HealthCheckStruct | None, scheduler: str | None,
                          session: int | None) -> None:
        with self.cloud.store.write() as conn:
            listener = self._http_listener(conn, lb_id, listener_id)
            rule = self._rule(conn, listener, RuleRef(location_id))
            values: dict[str, Any] = {}
            if url is not None:
                values["url"] = url
            if health_check is not None:
                values["health_check"] = health.normalise(health_check, "HTTP", rule.health_check)
            if scheduler is not None:
                values["scheduler"] = scheduler
            if session is not None:
                values["session_expire_time"] = session
            if values:
                conn.execute(lb_rules.update().where(_r.id == rule.id).values(**values))
            self._record_task(conn, "ModifyRule", [listener.lb_id])
        await self._sync()

    async def delete_rules(self, lb_id: str, listener_id: str, refs: list[RuleRef]) -> None:
        with self.cloud.store.write() as conn:
            listener = self._http_listener(conn, lb_id, listener_id)
            doomed = [self._rule(conn, listener, ref).id for ref in refs]
            conn.execute(lb_targets.delete().where(_t.location_id.in_(doomed)))
            conn.execute(lb_rules.delete().where(_r.id.in_(doomed)))
            self._record_task(conn, "DeleteRule", [listener.lb_id])
        await self._sync()

    # Targets

    def _location(self, conn: sa.Connection, listener: Listener, ref: RuleRef) -> str:
        """The rule's LocationId for an HTTP listener; for an L4 listener, how the store says "no rule"."""
        if listener.protocol == "HTTP":
            return self._rule(conn, listener, ref).id
        if ref.location_id or ref.url:
            raise ApiError("InvalidParameter",
                           "A TCP/UDP listener has no rules: leave out `LocationId`, `Domain` and `Url`.")
        return stored_location(None)

    def _registered(self, conn: sa.Connection, listener_id: str, location_id: str) -> dict[tuple[str, int], LbTarget]:
        rows = fetch(conn, LbTarget, sa.select(lb_targets).where(_t.listener_id == listener_id,
                                                                  _t.location_id == location_id))
        return {(r.instance_id, r.port): r for r in rows}

    def _registered_all(self, conn: sa.Connection, listener_id: str, location_id: str,
                        wanted: list[TargetSpec]) -> dict[tuple[str, int], LbTarget]:
        """The registered targets, if every wanted one is among them (Deregister/ModifyTargetWeight)."""
        current = self._registered(conn, listener_id, location_id)
        missing = [f"{t.instance_id}:{t.port}" for t in wanted if (t.instance_id, t.port) not in current]
        if missing:
            raise ApiError("InvalidParameter", f"Not registered on this listener: {', '.join(missing)}.")
        return current

    def _where_targets(self, conn: sa.Connection, lb_id: str, listener_id: str, ref: RuleRef,
                       targets: list[TargetSpec]) -> tuple[Listener, str]:
        """The listener and location the targets are on, once every target is the caller's instance."""
        listener = self._listener(conn, lb_id, listener_id)
        location_id = self._location(conn, listener, ref)
        INSTANCES.many(conn, self.scope, sorted({t.instance_id for t in targets}))
        return listener, location_id

    async def register_targets(self, lb_id: str, listener_id: str, ref: RuleRef, targets: list[TargetSpec]) -> None:
        with self.cloud.store.write() as conn:
            listener, location_id = self._where_targets(conn, lb_id, listener_id, ref, targets)
            current = self._registered(conn, listener.id, location_id)
            already = [f"{t.instance_id}:{t.port}" for t in targets if (t.instance_id, t.port) in current]
            if already:
                raise ApiError("InvalidParameterValue.Duplicate", f"Already registered: {', '.join(already)}.")
            for t in targets:
                conn.execute(lb_targets.insert().values(
                    lb_id=listener.lb_id, listener_id=listener.id, location_id=location_id, instance_id=t.instance_id,
                    port=t.port, weight=10 if t.weight is None else t.weight, created_time=now()))
            self._record_task(conn, "RegisterTargets", [listener.lb_id])
        await self._sync()

    async def deregister_targets(self, lb_id: str, listener_id: str, ref: RuleRef, targets: list[TargetSpec]) -> None:
        with self.cloud.store.write() as conn:
            listener, location_id = self._where_targets(conn, lb_id, listener_id, ref, targets)
            current = self._registered_all(conn, listener.id, location_id, targets)
            for t in targets:
                conn.execute(lb_targets.delete().where(_t.seq == current[(t.instance_id, t.port)].seq))
            self._record_task(conn, "DeregisterTargets", [listener.lb_id])
        await self._sync()

    async def modify_target_weights(self, lb_id: str, listener_id: str, ref: RuleRef, targets: list[TargetSpec],
                                    default_weight: int | None) -> None:
        with self.cloud.store.write() as conn:
            listener, location_id = self._where_targets(conn, lb_id, listener_id, ref, targets)
            current = self._registered_all(conn, listener.id, location_id, targets)
            for t in targets:
                weight = t.weight if t.weight is not None else default_weight
                if weight is None:
                    raise errors.missing("Weight")
                conn.execute(lb_targets.update().where(_t.seq == current[(t.instance_id, t.port)].seq)
                             .values(weight=weight))
            self._record_task(conn, "ModifyTargetWeight", [listener.lb_id])
        await self._sync()

    def _balancer_targets(self, conn: sa.Connection, lb: LoadBalancer, listener_rows: list[Listener],
                          with_public_ips: bool) -> BalancerTargets:
        targets = fetch(conn, LbTarget, sa.select(lb_targets).where(_t.lb_id == lb.id).order_by(_t.seq))
        insts = {r.id: r for r in fetch(conn, Instance, sa.select(instances).where(
            instances.c.id.in_({t.instance_id for t in targets})))}
        public = network.public_ips(conn, list(insts)) if with_public_ips else {}
        return BalancerTargets(lb, listener_rows, self._rules_of(conn, lb.id), targets, insts, public)

    def targets(self, lb_id: str, listener_ids: list[str] | None, protocol: str | None,
                port: int | None) -> BalancerTargets:
        with self.cloud.store.read() as conn:
            lb = LOAD_BALANCERS.one(conn, self.scope, lb_id)
            rows = self._listeners_of(conn, lb.id, listener_ids, protocol, port)
            return self._balancer_targets(conn, lb, rows, with_public_ips=True)

    def targets_of(self, lb_ids: list[str], listener_ids: list[str] | None) -> list[BalancerTargets]:
        with self.cloud.store.read() as conn:
            found = []
            for lb_id in lb_ids:
                lb = LOAD_BALANCERS.one(conn, self.scope, lb_id)
                rows = [r for r in self._listeners_of(conn, lb.id, None, None, None)
                        if not listener_ids or r.id in listener_ids]
                found.append(self._balancer_targets(conn, lb, rows, with_public_ips=False))
        return found
