"""CloudAudit 2019-03-19 request models (field names and types as in the official SDK)."""

from __future__ import annotations

from minicvm.services.models import Req


class LookupAttribute(Req):
    AttributeKey: str
    AttributeValue: str | None = None


class LookUpEvents(Req):
    StartTime: int
    EndTime: int
    LookupAttributes: list[LookupAttribute] | None = None
    NextToken: str | None = None
    MaxResults: int | None = None
    Mode: str | None = None
