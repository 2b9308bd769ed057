"""TAT on the wire: commands (create, list, delete), running them on instances (InvokeCommand,
RunCommand), their invocations and per-instance tasks, and the agents' status. Requests are checked
here (rules.py); the state lives in backend.py; the engine's command runner carries them out."""

from __future__ import annotations

from typing import Any

from minicvm import ids
from minicvm.errors import ApiError
from minicvm.services import common
from minicvm.services.context import Context
from minicvm.services.tat import models as m
from minicvm.services.tat import rules
from minicvm.services.tat.backend import TatBackend
from minicvm.services.tat.service import TAT
from minicvm.timefmt import iso, now

AGENT_VERSION = "1.0.0-minicvm"


def _ids(values: list[str] | None, prefix: str, field: str, code: str, required: bool = True,
         limit: int = 100) -> list[str]:
    return common.check_ids(values, prefix, field, code, limit=limit, required=required)


def _one_of(ids: list[str] | None, filters: list[Any] | None) -> None:
    if ids and filters:
        raise ApiError("InvalidParameter.ConflictParameter", "Ids and `Filters` cannot be used together.")


def _document(req: m._CommandFields) -> rules.CommandDocument:
    rules.unsupported(OutputCOSBucketUrl=req.OutputCOSBucketUrl, OutputCOSKeyPrefix=req.OutputCOSKeyPrefix)
    return rules.CommandDocument(
        content=rules.content(req.Content), command_type=rules.command_type(req.CommandType),
        working_directory=rules.working_directory(req.WorkingDirectory), timeout=rules.timeout(req.Timeout),
        username=rules.username(req.Username))


def _command_view(row: Any) -> dict[str, Any]:
    return {
        "CommandId": row.id, "CommandName": row.name, "Description": row.description, "Content": row.content,
        "CommandType": row.command_type, "WorkingDirectory": row.working_directory, "Timeout": row.timeout,
        "CreatedTime": iso(row.created_time), "UpdatedTime": iso(row.updated_time), "EnableParameter": False,
        "DefaultParameters": "{}", "DefaultParameterConfs": [], "Scenes": [], "FormattedDescription": "",
        "CreatedBy": "USER", "Tags": row.tags, "Username": row.username, "OutputCOSBucketUrl": "",
        "OutputCOSKeyPrefix": "",
    }


@TAT.action("CreateCommand", m.CreateCommand)
async def create_command(ctx: Context, req: m.CreateCommand) -> dict[str, Any]:
    rules.parameters(req.EnableParameter, req.DefaultParameters, None)
    rules.unsupported(EnableParameter=req.EnableParameter, DefaultParameterConfs=req.DefaultParameterConfs)
    doc = _document(req)
    command_id = TatBackend(ctx).create_command(rules.name(req.CommandName), rules.description(req.Description),
                                                doc, rules.tags(req.Tags))
    return {"CommandId": command_id}


@TAT.action("DescribeCommands", m.DescribeCommands)
async def describe_commands(ctx: Context, req: m.DescribeCommands) -> dict[str, Any]:
    _one_of(req.CommandIds, req.Filters)
    wanted = _ids(req.CommandIds, "cmd", "CommandIds", "InvalidParameterValue.InvalidCommandId", required=False)
    filters = common.check_filters(req.Filters, ("command-id", "command-name", "command-type", "created-by"),
                                   unknown_code="InvalidParameterValue.InvalidFilter", prefixes=())
    offset, limit = common.paging(req.Offset, req.Limit)
    total, rows = TatBackend(ctx).describe_commands(wanted, filters, offset, limit)
    return {"TotalCount": total, "CommandSet": [_command_view(r) for r in rows]}


@TAT.action("DeleteCommand", m.DeleteCommand)
async def delete_command(ctx: Context, req: m.DeleteCommand) -> dict[str, Any]:
    (command_id,) = _ids([req.CommandId], "cmd", "CommandId", "InvalidParameterValue.InvalidCommandId")
    TatBackend(ctx).delete_command(command_id)
    return {}


def _instances(values: list[str]) -> list[str]:
    return _ids(values, "ins", "InstanceIds", "InvalidParameterValue.InvalidInstanceId", limit=rules.MAX_INSTANCES)


@TAT.action("InvokeCommand", m.InvokeCommand)
async def invoke_command(ctx: Context, req: m.InvokeCommand) -> dict[str, Any]:
    (command_id,) = _ids([req.CommandId], "cmd", "CommandId", "InvalidParameterValue.InvalidCommandId")
    instance_ids = _instances(req.InstanceIds)
    rules.parameters(False, None, req.Parameters)
    rules.unsupported(OutputCOSBucketUrl=req.OutputCOSBucketUrl, OutputCOSKeyPrefix=req.OutputCOSKeyPrefix)
    backend = TatBackend(ctx)
    cmd = backend.command(command_id)
    doc = rules.CommandDocument(
        content=cmd.content, command_type=cmd.command_type,
        working_directory=rules.working_directory(req.WorkingDirectory, cmd.working_directory),
        timeout=rules.timeout(req.Timeout, cmd.timeout), username=rules.username(req.Username, cmd.username))
    return {"InvocationId": backend.invoke(cmd.id, cmd.name, cmd.description, doc, instance_ids)}


@TAT.action("RunCommand", m.RunCommand)
async def run_command(ctx: Context, req: m.RunCommand) -> dict[str, Any]:
    instance_ids = _instances(req.InstanceIds)
    rules.parameters(req.EnableParameter, req.DefaultParameters, req.Parameters)
    rules.unsupported(EnableParameter=req.EnableParameter, DefaultParameterConfs=req.DefaultParameterConfs)
    doc = _document(req)
    name = rules.name(req.CommandName) if req.CommandName is not None else ""
    description = rules.description(req.Description)
    backend = TatBackend(ctx)
    backend.check_instances(instance_ids)  # before the command is saved: a refused run leaves nothing
    if req.SaveCommand:
        if not name:
            raise ApiError("MissingParameter", "`SaveCommand` needs a `CommandName`.")
        command_id = backend.create_command(name, description, doc, rules.tags(req.Tags))
    else:
        command_id = ids.new_id("cmd")  # a command run without saving still has an id, naming nothing saved
    return {"CommandId": command_id,
            "InvocationId": backend.invoke(command_id, name, description, doc, instance_ids)}


def _document_view(row: Any, prefix: str = "") -> dict[str, Any]:
    def col(name: str) -> Any:
        return getattr(row, prefix + name)

    return {"Content": col("content"), "CommandType": col("command_type"), "Timeout": col("timeout"),
            "WorkingDirectory": col("working_directory"), "Username": col("username"), "OutputCOSBucketUrl": "",
            "OutputCOSKeyPrefix": ""}


@TAT.action("DescribeInvocations", m.DescribeInvocations)
async def describe_invocations(ctx: Context, req: m.DescribeInvocations) -> dict[str, Any]:
    _one_of(req.InvocationIds, req.Filters)
    wanted = _ids(req.InvocationIds, "inv", "InvocationIds", "InvalidParameterValue.InvalidInvocationId",
                  required=False)
    filters = common.check_filters(req.Filters, ("invocation-id", "command-id", "command-created-by", "instance-kind"),
                                   unknown_code="InvalidParameterValue.InvalidFilter", prefixes=())
    offset, limit = common.paging(req.Offset, req.Limit)
    total, rows, tasks = TatBackend(ctx).describe_invocations(wanted, filters, offset, limit)
    return {"TotalCount": total, "InvocationSet": [{
        "InvocationId": r.id, "CommandId": r.command_id, "CommandName": r.command_name,
        "InvocationStatus": r.status, "Description": r.description,
        "InvocationTaskBasicInfoSet": [{"InvocationTaskId": t.id, "TaskStatus": t.status, "InstanceId": t.instance_id}
                                       for t in tasks[r.id]],
        "StartTime": iso(r.created_time), "EndTime": iso(r.end_time), "CreatedTime": iso(r.created_time),
        "UpdatedTime": iso(r.updated_time), "Parameters": "{}", "DefaultParameters": "{}", "InstanceKind": "CVM",
        "Username": r.username, "InvocationSource": "USER", "CommandContent": r.content,
        "CommandType": r.command_type, "Timeout": r.timeout, "WorkingDirectory": r.working_directory,
        "OutputCOSBucketUrl": "", "OutputCOSKeyPrefix": ""} for r in rows]}


@TAT.action("DescribeInvocationTasks", m.DescribeInvocationTasks)
async def describe_invocation_tasks(ctx: Context, req: m.DescribeInvocationTasks) -> dict[str, Any]:
    _one_of(req.InvocationTaskIds, req.Filters)
    wanted = _ids(req.InvocationTaskIds, "invt", "InvocationTaskIds", "InvalidParameterValue.InvalidInvocationTaskId",
                  required=False)
    filters = common.check_filters(req.Filters, ("invocation-task-id", "invocation-id", "instance-id", "command-id"),
                                   unknown_code="InvalidParameterValue.InvalidFilter", prefixes=())
    offset, limit = common.paging(req.Offset, req.Limit)
    hide = req.HideOutput is not False  # Tencent hides the output unless asked
    total, rows = TatBackend(ctx).describe_tasks(wanted, filters, offset, limit)
    return {"TotalCount": total, "InvocationTaskSet": [{
        "InvocationId": t.invocation_id, "InvocationTaskId": t.id, "CommandId": t.inv_command_id,
        "TaskStatus": t.status, "InstanceId": t.instance_id,
        "TaskResult": {"ExitCode": t.exit_code if t.exit_code is not None else 0,
                       "Output": "" if hide else t.output, "ExecStartTime": iso(t.exec_start_time),
                       "ExecEndTime": iso(t.exec_end_time), "Dropped": t.dropped, "OutputUrl": "",
                       "OutputUploadCOSErrorInfo": ""},
        "StartTime": iso(t.exec_start_time), "EndTime": iso(t.exec_end_time), "CreatedTime": iso(t.created_time),
        "UpdatedTime": iso(t.updated_time), "CommandDocument": _document_view(t, "inv_"),
        "ErrorInfo": t.error_info, "InvocationSource": "USER", "CommandName": t.inv_command_name,
    } for t in rows]}


@TAT.action("DescribeAutomationAgentStatus", m.DescribeAutomationAgentStatus)
async def describe_automation_agent_status(ctx: Context, req: m.DescribeAutomationAgentStatus) -> dict[str, Any]:
    _one_of(req.InstanceIds, req.Filters)
    wanted = _ids(req.InstanceIds, "ins", "InstanceIds", "InvalidParameterValue.InvalidInstanceId", required=False)
    filters = common.check_filters(req.Filters, ("agent-status", "environment", "instance-id"),
                                   unknown_code="InvalidParameterValue.InvalidFilter", prefixes=())
    offset, limit = common.paging(req.Offset, req.Limit)
    total, found = TatBackend(ctx).agents(wanted, filters, offset, limit)
    beat = iso(now())
    return {"TotalCount": total, "AutomationAgentSet": [{
        "InstanceId": instance_id, "Version": AGENT_VERSION, "LastHeartbeatTime": beat if online else None,
        "AgentStatus": "Online" if online else "Offline", "Environment": "Linux", "SupportFeatures": []}
        for instance_id, online in found]}
