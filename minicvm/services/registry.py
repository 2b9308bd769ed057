"""Services and their actions. The API layer routes by the credential scope's service name and the
X-TC-Version header to one of these tables; it knows nothing about any particular action."""

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
    def __init__(self, name: str, version: str) -> None:
        self.name = name
        self.version = version
        self.actions: dict[str, Action] = {}

    def action(self, name: str, model: type[BaseModel]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.actions[name] = Action(name, model, handler)
            return handler

        return register


SERVICES: dict[str, Service] = {}


def service(name: str, version: str) -> Service:
    svc = SERVICES.setdefault(name, Service(name, version))
    return svc
