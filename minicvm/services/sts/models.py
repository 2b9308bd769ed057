"""STS 2018-08-13 request models (field names and types as in the official SDK)."""

from __future__ import annotations

from minicvm.services.models import Req


class GetCallerIdentity(Req):
    pass
