"""The schema, as SQLAlchemy Core tables. Migrations under store/migrations create exactly these."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

UtcDateTime = sa.DateTime(timezone=True)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("app_id", sa.BigInteger, nullable=False, unique=True),
    sa.Column("uin", sa.String(32), nullable=False),
    sa.Column("secret_id", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_key", sa.String(64), nullable=False),
    sa.Column("console_password_hash", sa.String(200)),
    sa.Column("created_time", UtcDateTime, nullable=False),
)

vpcs = sa.Table(
    "vpcs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("name", sa.String(60), nullable=False),
    sa.Column("cidr", sa.String(32), nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False, default=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
)

subnets = sa.Table(
    "subnets",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("vpc_id", sa.String(32), nullable=False, index=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("zone", sa.String(32), nullable=False),
    sa.Column("name", sa.String(60), nullable=False),
    sa.Column("cidr", sa.String(32), nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False, default=False),
    # Next host offset to try; allocation wraps and skips addresses in use.
    sa.Column("next_host", sa.Integer, nullable=False, default=0),
    sa.Column("created_time", UtcDateTime, nullable=False),
)

instances = sa.Table(
    "instances",
    metadata,
    # seq orders listings stably and numbers the guest's loopback address.
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("zone", sa.String(32), nullable=False),
    sa.Column("project_id", sa.Integer, nullable=False, default=0),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("host_name", sa.String(64), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("instance_type", sa.String(32), nullable=False),
    sa.Column("cpu", sa.Integer, nullable=False),
    sa.Column("memory", sa.Integer, nullable=False),
    sa.Column("image_id", sa.String(32), nullable=False),
    sa.Column("charge_type", sa.String(32), nullable=False),
    sa.Column("renew_flag", sa.String(40)),
    sa.Column("expired_time", UtcDateTime),
    sa.Column("vpc_id", sa.String(32)),  # NULL: basic (classic) network
    sa.Column("subnet_id", sa.String(32)),
    sa.Column("private_ip", sa.String(45), nullable=False),
    sa.Column("internet_charge_type", sa.String(40), nullable=False),
    sa.Column("bandwidth_out", sa.Integer, nullable=False, default=0),
    sa.Column("public_ip_wanted", sa.Boolean, nullable=False, default=False),
    sa.Column("stopped_mode", sa.String(20)),  # mode of the last stop; reported only while STOPPED
    sa.Column("latest_operation", sa.String(64)),
    sa.Column("latest_operation_state", sa.String(16)),
    sa.Column("latest_operation_request_id", sa.String(64)),
    sa.Column("latest_operation_error", sa.Text),
    sa.Column("user_data", sa.Text),
    sa.Column("key_ids", sa.JSON, nullable=False),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("password_changed_at", UtcDateTime),
    sa.Column("login_user", sa.String(64), nullable=False, default="root"),
    sa.Column("security_group_ids", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("disable_api_termination", sa.Boolean, nullable=False, default=False),
    sa.Column("isolated_source", sa.String(20), nullable=False, default="NOTISOLATED"),
    sa.Column("guest_host", sa.String(45), nullable=False),
    sa.Column("guest_port", sa.Integer, nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.Index("ix_instances_account_region", "account_id", "region", "seq"),
    sa.Index("ix_instances_subnet_ip", "subnet_id", "private_ip"),
)

disks = sa.Table(
    "disks",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("zone", sa.String(32), nullable=False),
    sa.Column("instance_id", sa.String(32), index=True),
    sa.Column("usage", sa.String(16), nullable=False),  # SYSTEM_DISK | DATA_DISK
    sa.Column("disk_type", sa.String(20), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),  # GiB
    sa.Column("portable", sa.Boolean, nullable=False),
    sa.Column("delete_with_instance", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("charge_type", sa.String(32), nullable=False),
    sa.Column("last_instance_id", sa.String(32)),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False, server_default=sa.text("'[]'")),  # [{Key, Value}]
    sa.Index("ix_disks_account_region", "account_id", "region", "seq"),
)

addresses = sa.Table(
    "addresses",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("ip", sa.String(45), nullable=False, unique=True),
    sa.Column("address_type", sa.String(20), nullable=False),  # WanIP | EIP
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("instance_id", sa.String(32), index=True),
    sa.Column("private_ip", sa.String(45)),
    sa.Column("bandwidth", sa.Integer, nullable=False, default=1),
    sa.Column("internet_charge_type", sa.String(40), nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False, server_default=sa.text("'[]'")),  # [{Key, Value}], EIPs only
    sa.Index("ix_addresses_account_region", "account_id", "region", "seq"),
)

key_pairs = sa.Table(
    "key_pairs",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(25), nullable=False),
    sa.Column("project_id", sa.Integer, nullable=False, default=0),
    sa.Column("description", sa.String(256), nullable=False, default=""),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "name"),
)

# One row per asynchronous operation on one resource; the runner carries it out step by step.
operations = sa.Table(
    "operations",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("request_id", sa.String(64), nullable=False, index=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("resource_id", sa.String(32), nullable=False, index=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("step", sa.Integer, nullable=False, default=0),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # OPERATING | SUCCESS | FAILED
    sa.Column("error", sa.Text),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.Column("updated_time", UtcDateTime, nullable=False),
    sa.Index("ix_operations_state", "state"),
)

# Things that happened to a resource outside an operation (a guest that died, a health change).
events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("resource_id", sa.String(32), nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
)

client_tokens = sa.Table(
    "client_tokens",
    metadata,
    sa.Column("account_id", sa.Integer, primary_key=True),
    sa.Column("action", sa.String(64), primary_key=True),
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("response", sa.JSON, nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
)

# ClassicLink: a basic-network instance linked to a VPC of the same account.
classic_links = sa.Table(
    "classic_links",
    metadata,
    sa.Column("instance_id", sa.String(32), primary_key=True),
    sa.Column("vpc_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("created_time", UtcDateTime, nullable=False),
)

# CLB: load balancers, their listeners, L7 rules and registered targets. Health-check settings are
# kept as the API's HealthCheck structure (JSON) on the listener (L4) or the rule (L7).
load_balancers = sa.Table(
    "load_balancers",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("lb_type", sa.String(16), nullable=False),  # OPEN | INTERNAL
    sa.Column("vpc_id", sa.String(32), nullable=False),
    sa.Column("subnet_id", sa.String(32)),
    sa.Column("vip", sa.String(45), nullable=False, unique=True),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
)

listeners = sa.Table(
    "listeners",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("lb_id", sa.String(32), nullable=False, index=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("protocol", sa.String(16), nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("scheduler", sa.String(16), nullable=False),
    sa.Column("health_check", sa.JSON),
    sa.Column("session_expire_time", sa.Integer, nullable=False, default=0),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.UniqueConstraint("lb_id", "port", "protocol"),
)

lb_rules = sa.Table(
    "lb_rules",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),  # the LocationId
    sa.Column("listener_id", sa.String(32), nullable=False, index=True),
    sa.Column("lb_id", sa.String(32), nullable=False),
    sa.Column("domain", sa.String(120), nullable=False),
    sa.Column("url", sa.String(200), nullable=False),
    sa.Column("scheduler", sa.String(16), nullable=False),
    sa.Column("health_check", sa.JSON),
    sa.Column("session_expire_time", sa.Integer, nullable=False, default=0),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.UniqueConstraint("listener_id", "domain", "url"),
)

lb_targets = sa.Table(
    "lb_targets",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lb_id", sa.String(32), nullable=False, index=True),
    sa.Column("listener_id", sa.String(32), nullable=False),
    sa.Column("location_id", sa.String(32), nullable=False, default=""),  # "" on L4 listeners
    sa.Column("instance_id", sa.String(32), nullable=False, index=True),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("weight", sa.Integer, nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.UniqueConstraint("listener_id", "location_id", "instance_id", "port"),
)

# Auto Scaling. A launch configuration keeps the instance spec as the API gave it (validated);
# groups keep their settings; membership rows carry the AS life-cycle and health of each instance.
launch_configurations = sa.Table(
    "launch_configurations",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("name", sa.String(60), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.Column("updated_time", UtcDateTime, nullable=False),
)

scaling_groups = sa.Table(
    "scaling_groups",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("name", sa.String(60), nullable=False),
    sa.Column("launch_configuration_id", sa.String(32), nullable=False),
    sa.Column("min_size", sa.Integer, nullable=False),
    sa.Column("max_size", sa.Integer, nullable=False),
    sa.Column("desired", sa.Integer, nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),  # VPC, subnets, LBs, health, policies, tags
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("created_time", UtcDateTime, nullable=False),
)

group_instances = sa.Table(
    "group_instances",
    metadata,
    sa.Column("instance_id", sa.String(32), primary_key=True),
    sa.Column("group_id", sa.String(32), nullable=False, index=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("launch_configuration_id", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("creation_type", sa.String(20), nullable=False),  # AUTO_CREATION | MANUAL_ATTACHING
    sa.Column("life_cycle_state", sa.String(24), nullable=False),
    sa.Column("health_status", sa.String(32), nullable=False),
    sa.Column("protected", sa.Boolean, nullable=False, default=False),
    sa.Column("activity_id", sa.String(32)),  # the activity that is moving it now
    sa.Column("unreachable_count", sa.Integer, nullable=False, default=0),
    sa.Column("in_service_time", UtcDateTime),
    sa.Column("added_time", UtcDateTime, nullable=False),
)

scaling_activities = sa.Table(
    "scaling_activities",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("group_id", sa.String(32), nullable=False, index=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("activity_type", sa.String(40), nullable=False),
    sa.Column("status_code", sa.String(24), nullable=False),
    sa.Column("status_message", sa.Text, nullable=False, default=""),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("instances", sa.JSON, nullable=False),  # [{InstanceId, InstanceStatus}]
    sa.Column("start_time", UtcDateTime, nullable=False),
    sa.Column("end_time", UtcDateTime),
)

# Console sign-ins: server-side sessions, each with its own CSRF token.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.Column("expires_time", UtcDateTime, nullable=False),
)

# TAT (automation tools): saved commands, invocations of a command on instances, and one task per instance.
tat_commands = sa.Table(
    "tat_commands",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),  # base64, as on the wire
    sa.Column("command_type", sa.String(16), nullable=False),
    sa.Column("working_directory", sa.Text, nullable=False),
    sa.Column("timeout", sa.Integer, nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.Column("updated_time", UtcDateTime, nullable=False),
)

tat_invocations = sa.Table(
    "tat_invocations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("command_id", sa.String(32), nullable=False, index=True),
    sa.Column("command_name", sa.String(120), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("command_type", sa.String(16), nullable=False),
    sa.Column("working_directory", sa.Text, nullable=False),
    sa.Column("timeout", sa.Integer, nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.Column("updated_time", UtcDateTime, nullable=False),
    sa.Column("end_time", UtcDateTime),
)

tat_tasks = sa.Table(
    "tat_tasks",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("invocation_id", sa.String(32), nullable=False, index=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("instance_id", sa.String(32), nullable=False, index=True),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("exit_code", sa.Integer),
    sa.Column("output", sa.Text, nullable=False),  # base64 of at most OUTPUT_LIMIT bytes
    sa.Column("dropped", sa.Integer, nullable=False),
    sa.Column("error_info", sa.Text, nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.Column("updated_time", UtcDateTime, nullable=False),
    sa.Column("exec_start_time", UtcDateTime),
    sa.Column("exec_end_time", UtcDateTime),
)

# CAM: an account's sub-users, the API keys of its sub-users, its custom policies and what is attached to whom.
cam_users = sa.Table(
    "cam_users",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("uin", sa.String(32), nullable=False, unique=True),
    sa.Column("uid", sa.BigInteger, nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("remark", sa.Text, nullable=False, default=""),
    sa.Column("console_login", sa.Integer, nullable=False, default=0),
    sa.Column("email", sa.String(128), nullable=False, default=""),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "name", name="uq_cam_users_account_name"),
)

cam_access_keys = sa.Table(
    "cam_access_keys",
    metadata,
    sa.Column("secret_id", sa.String(64), primary_key=True),
    sa.Column("secret_key", sa.String(64), nullable=False),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("user_uin", sa.String(32), nullable=False, index=True),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created_time", UtcDateTime, nullable=False),
)

cam_policies = sa.Table(
    "cam_policies",
    metadata,
    sa.Column("policy_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("document", sa.Text, nullable=False),
    # Bumped by every change of the document: compiled policies are cached per (policy_id, version).
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.Column("updated_time", UtcDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "name", name="uq_cam_policies_account_name"),
)

cam_user_policies = sa.Table(
    "cam_user_policies",
    metadata,
    sa.Column("user_uin", sa.String(32), primary_key=True),
    sa.Column("policy_id", sa.BigInteger, primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("attached_time", UtcDateTime, nullable=False),
)

# Security groups. A group's rules are two ordered lists (PolicyIndex is the position), kept in the row
# with the version that every rule change bumps; instances name their groups, in binding order, in
# instances.security_group_ids.
security_groups = sa.Table(
    "security_groups",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("project_id", sa.Integer, nullable=False, default=0),
    sa.Column("name", sa.String(60), nullable=False),
    sa.Column("description", sa.String(100), nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False, default=False),
    sa.Column("version", sa.Integer, nullable=False, default=0),
    sa.Column("ingress", sa.JSON, nullable=False),  # [{Protocol, Port, CidrBlock | SecurityGroupId | ..., Action, ...}]
    sa.Column("egress", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.Column("updated_time", UtcDateTime, nullable=False),
    sa.Index("ix_security_groups_account_region", "account_id", "region", "seq"),
)

# CAM roles (with their trust policy), their attached policies, and the temporary credentials STS AssumeRole
# hands out for them.
cam_roles = sa.Table(
    "cam_roles",
    metadata,
    sa.Column("role_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("trust_policy", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("session_duration", sa.Integer, nullable=False, default=0),  # 0: no cap of the role's own
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "name", name="uq_cam_roles_account_name"),
)

cam_role_policies = sa.Table(
    "cam_role_policies",
    metadata,
    sa.Column("role_id", sa.String(32), primary_key=True),
    sa.Column("policy_id", sa.BigInteger, primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("attached_time", UtcDateTime, nullable=False),
)

sts_credentials = sa.Table(
    "sts_credentials",
    metadata,
    sa.Column("secret_id", sa.String(64), primary_key=True),
    sa.Column("secret_key", sa.String(64), nullable=False),
    sa.Column("token", sa.String(128), nullable=False),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("role_id", sa.String(32), nullable=False, index=True),
    sa.Column("session_name", sa.String(128), nullable=False),
    sa.Column("caller_uin", sa.String(32), nullable=False),
    sa.Column("session_policy", sa.Text, nullable=False, default=""),  # the inline `Policy`, "" for none
    sa.Column("expires_time", UtcDateTime, nullable=False),
)

# CAM user groups: members get the policies attached to the group as well as their own.
cam_groups = sa.Table(
    "cam_groups",
    metadata,
    sa.Column("group_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("remark", sa.Text, nullable=False, default=""),
    sa.Column("created_time", UtcDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "name", name="uq_cam_groups_account_name"),
)

cam_group_members = sa.Table(
    "cam_group_members",
    metadata,
    sa.Column("group_id", sa.BigInteger, primary_key=True),
    sa.Column("user_uin", sa.String(32), primary_key=True, index=True),
    sa.Column("account_id", sa.Integer, nullable=False),
    sa.Column("joined_time", UtcDateTime, nullable=False),
)

cam_group_policies = sa.Table(
    "cam_group_policies",
    metadata,
    sa.Column("group_id", sa.BigInteger, primary_key=True),
    sa.Column("policy_id", sa.BigInteger, primary_key=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("attached_time", UtcDateTime, nullable=False),
)

# The audit trail: every state-changing action and every CAM denial, with who made it and from where.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Integer, nullable=False, index=True),
    sa.Column("event_time", UtcDateTime, nullable=False),
    sa.Column("service", sa.String(32), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("principal_kind", sa.String(16), nullable=False),
    sa.Column("principal_uin", sa.String(32), nullable=False),
    sa.Column("role_id", sa.String(32), nullable=False),
    sa.Column("session_name", sa.String(128), nullable=False),
    sa.Column("source_ip", sa.String(64), nullable=False),
    sa.Column("resource_type", sa.String(32), nullable=False),
    sa.Column("resource_names", sa.JSON, nullable=False),  # the ids the request named
    sa.Column("error_code", sa.String(128), nullable=False),  # "" when it succeeded
    sa.Column("request_id", sa.String(64), nullable=False),
)
