"""STS 2018-08-13 request models (field names and types as in the official SDK)."""

from __future__ import annotations

from minicvm.services.models import Req


class GetCallerIdentity(Req):
    pass


class SessionTag(Req):
    Key: str
    Value: str


class AssumeRole(Req):
    RoleArn: str
    RoleSessionName: str
    DurationSeconds: int | None = None
    Policy: str | None = None
    ExternalId: str | None = None
    Tags: list[SessionTag] | None = None
    SourceIdentity: str | None = None
    SerialNumber: str | None = None
    TokenCode: str | None = None
