"""One typed row class per table, the single shape a stored row has in the code above the store: the
prepared statements (store/prepared.py) and the services' backends both hand out these.

They are NamedTuples rather than dataclasses because listings build one per row and a NamedTuple is
built from the cursor's tuple about ten times faster than a frozen dataclass; they are just as immutable
and as typed. Fields are the table's columns in the table's order (tests/test_rows.py holds them to it),
so `Row._make(cursor_row)` is the whole conversion."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa

from minicvm.store import tables

R = TypeVar("R", bound=tuple[Any, ...])


class Address(NamedTuple):
    seq: int
    id: str
    account_id: int
    region: str
    ip: str
    address_type: str
    status: str
    name: str
    instance_id: str | None
    private_ip: str | None
    bandwidth: int
    internet_charge_type: str
    created_time: datetime
    tags: list[dict[str, str]]


class CamUser(NamedTuple):
    seq: int
    account_id: int
    uin: str
    uid: int
    name: str
    remark: str
    console_login: int
    email: str
    created_time: datetime


class AuditEvent(NamedTuple):
    seq: int
    account_id: int
    event_time: datetime
    service: str
    action: str
    region: str
    principal_kind: str
    principal_uin: str
    role_id: str
    session_name: str
    source_ip: str
    resource_type: str
    resource_names: list[str]
    error_code: str
    request_id: str


class CamAccessKey(NamedTuple):
    secret_id: str
    secret_key: str
    account_id: int
    user_uin: str
    active: bool
    description: str
    created_time: datetime


class CamGroup(NamedTuple):
    group_id: int
    account_id: int
    name: str
    remark: str
    created_time: datetime


class CamGroupMember(NamedTuple):
    group_id: int
    user_uin: str
    account_id: int
    joined_time: datetime


class CamGroupPolicy(NamedTuple):
    group_id: int
    policy_id: int
    account_id: int
    attached_time: datetime


class CamPolicy(NamedTuple):
    policy_id: int
    account_id: int
    name: str
    description: str
    document: str
    version: int
    created_time: datetime
    updated_time: datetime


class CamUserPolicy(NamedTuple):
    user_uin: str
    policy_id: int
    account_id: int
    attached_time: datetime


class CamRole(NamedTuple):
    role_id: str
    account_id: int
    name: str
    trust_policy: str
    description: str
    session_duration: int
    created_time: datetime


class CamRolePolicy(NamedTuple):
    role_id: str
    policy_id: int
    account_id: int
    attached_time: datetime


class StsCredential(NamedTuple):
    secret_id: str
    secret_key: str
    token: str
    account_id: int
    role_id: str
    session_name: str
    caller_uin: str
    session_policy: str
    expires_time: datetime


class ClassicLink(NamedTuple):
    instance_id: str
    vpc_id: str
    account_id: int
    created_time: datetime


class ClientToken(NamedTuple):
    account_id: int
    action: str
    token: str
    response: dict[str, Any]
    created_time: datetime


class Disk(NamedTuple):
    seq: int
    id: str
    account_id: int
    region: str
    zone: str
    instance_id: str | None
    usage: str
    disk_type: str
    size: int
    portable: bool
    delete_with_instance: bool
    state: str
    name: str
    charge_type: str
    last_instance_id: str | None
    created_time: datetime
    tags: list[dict[str, str]]


class Event(NamedTuple):
    seq: int
    account_id: int
    resource_id: str
    kind: str
    message: str
    created_time: datetime


class GroupInstance(NamedTuple):
    instance_id: str
    group_id: str
    account_id: int
    launch_configuration_id: str
    version: int
    creation_type: str
    life_cycle_state: str
    health_status: str
    protected: bool
    activity_id: str | None
    unreachable_count: int
    in_service_time: datetime | None
    added_time: datetime


class Instance(NamedTuple):
    seq: int
    id: str
    account_id: int
    region: str
    zone: str
    project_id: int
    uuid: str
    name: str
    host_name: str
    state: str
    instance_type: str
    cpu: int
    memory: int
    image_id: str
    charge_type: str
    renew_flag: str | None
    expired_time: datetime | None
    vpc_id: str | None
    subnet_id: str | None
    private_ip: str
    internet_charge_type: str
    bandwidth_out: int
    public_ip_wanted: bool
    stopped_mode: str | None
    latest_operation: str | None
    latest_operation_state: str | None
    latest_operation_request_id: str | None
    latest_operation_error: str | None
    user_data: str | None
    key_ids: list[str]
    password_hash: str | None
    password_changed_at: datetime | None
    login_user: str
    security_group_ids: list[str]
    tags: list[dict[str, str]]
    disable_api_termination: bool
    isolated_source: str
    guest_host: str
    guest_port: int
    created_time: datetime


class KeyPair(NamedTuple):
    seq: int
    id: str
    account_id: int
    name: str
    project_id: int
    description: str
    public_key: str
    fingerprint: str
    created_time: datetime


class LaunchConfiguration(NamedTuple):
    seq: int
    id: str
    account_id: int
    region: str
    name: str
    spec: dict[str, Any]
    version: int
    created_time: datetime
    updated_time: datetime


class LbRule(NamedTuple):
    seq: int
    id: str
    listener_id: str
    lb_id: str
    domain: str
    url: str
    scheduler: str
    health_check: dict[str, Any] | None
    session_expire_time: int
    created_time: datetime


class LbTarget(NamedTuple):
    seq: int
    lb_id: str
    listener_id: str
    location_id: str
    instance_id: str
    port: int
    weight: int
    created_time: datetime


class Listener(NamedTuple):
    seq: int
    id: str
    lb_id: str
    account_id: int
    protocol: str
    port: int
    name: str
    scheduler: str
    health_check: dict[str, Any] | None
    session_expire_time: int
    created_time: datetime


class LoadBalancer(NamedTuple):
    seq: int
    id: str
    account_id: int
    region: str
    name: str
    lb_type: str
    vpc_id: str
    subnet_id: str | None
    vip: str
    tags: list[dict[str, str]]
    created_time: datetime


class Operation(NamedTuple):
    seq: int
    id: str
    request_id: str
    account_id: int
    resource_id: str
    action: str
    steps: list[Any]
    step: int
    params: dict[str, Any]
    state: str
    error: str | None
    created_time: datetime
    updated_time: datetime


class ScalingActivity(NamedTuple):
    seq: int
    id: str
    group_id: str
    account_id: int
    activity_type: str
    status_code: str
    status_message: str
    cause: str
    description: str
    instances: list[dict[str, str]]  # {"InstanceId": …, "InstanceStatus": …}, as the API lists them
    start_time: datetime
    end_time: datetime | None


class ScalingGroup(NamedTuple):
    seq: int
    id: str
    account_id: int
    region: str
    name: str
    launch_configuration_id: str
    min_size: int
    max_size: int
    desired: int
    settings: dict[str, Any]
    enabled: bool
    created_time: datetime


class Subnet(NamedTuple):
    id: str
    account_id: int
    vpc_id: str
    region: str
    zone: str
    name: str
    cidr: str
    is_default: bool
    next_host: int
    created_time: datetime


class Vpc(NamedTuple):
    id: str
    account_id: int
    region: str
    name: str
    cidr: str
    is_default: bool
    created_time: datetime


class SecurityGroup(NamedTuple):
    seq: int
    id: str
    account_id: int
    region: str
    project_id: int
    name: str
    description: str
    is_default: bool
    version: int
    ingress: list[dict[str, Any]]
    egress: list[dict[str, Any]]
    tags: list[dict[str, str]]
    created_time: datetime
    updated_time: datetime


class TatCommand(NamedTuple):
    id: str
    account_id: int
    region: str
    name: str
    description: str
    content: str  # base64, as on the wire
    command_type: str
    working_directory: str
    timeout: int
    username: str
    tags: list[dict[str, str]]
    created_time: datetime
    updated_time: datetime


class TatInvocation(NamedTuple):
    id: str
    account_id: int
    region: str
    command_id: str
    command_name: str
    description: str
    status: str
    content: str
    command_type: str
    working_directory: str
    timeout: int
    username: str
    created_time: datetime
    updated_time: datetime
    end_time: datetime | None


class TatTask(NamedTuple):
    id: str
    invocation_id: str
    account_id: int
    instance_id: str
    status: str
    exit_code: int | None
    output: str  # base64 of at most the kept output
    dropped: int
    error_info: str
    created_time: datetime
    updated_time: datetime
    exec_start_time: datetime | None
    exec_end_time: datetime | None


ROW_OF: dict[sa.Table, type[Any]] = {
    tables.addresses: Address,
    tables.audit_events: AuditEvent,
    tables.cam_access_keys: CamAccessKey,
    tables.cam_group_members: CamGroupMember,
    tables.cam_group_policies: CamGroupPolicy,
    tables.cam_groups: CamGroup,
    tables.cam_policies: CamPolicy,
    tables.cam_role_policies: CamRolePolicy,
    tables.cam_roles: CamRole,
    tables.cam_user_policies: CamUserPolicy,
    tables.cam_users: CamUser,
    tables.classic_links: ClassicLink,
    tables.client_tokens: ClientToken,
    tables.disks: Disk,
    tables.events: Event,
    tables.group_instances: GroupInstance,
    tables.instances: Instance,
    tables.key_pairs: KeyPair,
    tables.launch_configurations: LaunchConfiguration,
    tables.lb_rules: LbRule,
    tables.lb_targets: LbTarget,
    tables.listeners: Listener,
    tables.load_balancers: LoadBalancer,
    tables.operations: Operation,
    tables.scaling_activities: ScalingActivity,
    tables.scaling_groups: ScalingGroup,
    tables.security_groups: SecurityGroup,
    tables.sts_credentials: StsCredential,
    tables.subnets: Subnet,
    tables.tat_commands: TatCommand,
    tables.tat_invocations: TatInvocation,
    tables.tat_tasks: TatTask,
    tables.vpcs: Vpc,
}


def fetch(conn: sa.Connection, row: type[R], stmt: sa.Executable) -> list[R]:
    """Typed rows of a Core statement whose columns are `row`'s fields in order (a whole-table select)."""
    make = row._make  # type: ignore[attr-defined]
    return [make(r) for r in conn.execute(stmt)]


def fetch_first(conn: sa.Connection, row: type[R], stmt: sa.Executable) -> R | None:
    found = conn.execute(stmt).first()
    return None if found is None else row._make(found)  # type: ignore[attr-defined]
