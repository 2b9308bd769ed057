"""TAT 2020-10-28 request models (field names and types as in the official SDK)."""

from __future__ import annotations

from minicvm.services.models import Filter, Req, Tag


class DefaultParameterConf(Req):
    ParameterName: str
    ParameterValue: str
    ParameterDescription: str | None = None


class _CommandFields(Req):
    Content: str
    Description: str | None = None
    CommandType: str | None = None
    WorkingDirectory: str | None = None
    Timeout: int | None = None
    EnableParameter: bool | None = None
    DefaultParameters: str | None = None
    DefaultParameterConfs: list[DefaultParameterConf] | None = None
    Tags: list[Tag] | None = None
    Username: str | None = None
    OutputCOSBucketUrl: str | None = None
    OutputCOSKeyPrefix: str | None = None


class CreateCommand(_CommandFields):
    CommandName: str


class RunCommand(_CommandFields):
    InstanceIds: list[str]
    CommandName: str | None = None
    SaveCommand: bool | None = None
    Parameters: str | None = None


class InvokeCommand(Req):
    CommandId: str
    InstanceIds: list[str]
    Parameters: str | None = None
    Username: str | None = None
    WorkingDirectory: str | None = None
    Timeout: int | None = None
    OutputCOSBucketUrl: str | None = None
    OutputCOSKeyPrefix: str | None = None


class DescribeCommands(Req):
    CommandIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: int | None = None
    Limit: int | None = None


class DeleteCommand(Req):
    CommandId: str


class DescribeInvocations(Req):
    InvocationIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: int | None = None
    Limit: int | None = None


class DescribeInvocationTasks(Req):
    InvocationTaskIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: int | None = None
    Limit: int | None = None
    HideOutput: bool | None = None


class DescribeAutomationAgentStatus(Req):
    InstanceIds: list[str] | None = None
    Filters: list[Filter] | None = None
    Offset: int | None = None
    Limit: int | None = None
