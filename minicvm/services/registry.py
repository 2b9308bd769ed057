"""Services and their actions. The API layer routes by the credential scope's service name and the
X-TC-Version header to one of these tables; it knows nothing about any particular action.

The Node.js and Java SDKs name the scope's service after the endpoint's first label (`127` for
`127.0.0.1:4566`), so a scope that names no known service is routed by the action (and version) instead.
That works only while every action name belongs to one service here; tests/test_wire_sdks.py keeps it so."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from minicvm.services.context import Context

Handler = Callable[["Context", Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Action:
    name: str
    model: type[BaseModel]
    handler: Handler


class Service:
    def __init__(self, name: str, version: str, *, regional: bool = True) -> None:
        self.name = name
        self.version = version
        # Global services (STS, Tag) take no region: the SDKs leave X-TC-Region out when none is configured.
        self.regional = regional
        self.actions: dict[str, Action] = {}

    def action(self, name: str, model: type[BaseModel]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.actions[name] = Action(name, model, handler)
            return handler

        return register


SERVICES: dict[str, Service] = {}


def service(name: str, version: str, *, regional: bool = True) -> Service:
    svc = SERVICES.setdefault(name, Service(name, version, regional=regional))
    return svc


def find_service(scope_service: str, action: str, version: str) -> Service | None:
    """The service a request is for: the one its credential scope names, or else the one serving the action
    (the version decides if several did). None when neither names anything served here."""
    named = SERVICES.get(scope_service)
    if named is not None:
        return named
    serving = [s for s in SERVICES.values() if action in s.actions]
    return next((s for s in serving if s.version == version), serving[0] if serving else None)
