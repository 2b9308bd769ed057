"""What every action handler gets: who is calling, in which region, and the parts of the running cloud
it may act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from minicvm.accounts import Account
from minicvm.config import Settings
from minicvm.drivers.base import Driver
from minicvm.engine.clb_controller import ClbController
from minicvm.engine.commands import CommandRunner
from minicvm.engine.firewall import Firewall
from minicvm.engine.launch import GuestAddresses
from minicvm.engine.runner import Runner
from minicvm.engine.scaling.reconciler import Reconciler
from minicvm.principals import Principal
from minicvm.store.db import Store


class Platform(Protocol):
    """The running cloud as the services see it (`minicvm.cloud.Cloud` wires one): the services sit
    above it, so they name what they use here instead of importing the wiring."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> Store: ...
    @property
    def driver(self) -> Driver: ...
    @property
    def guests(self) -> GuestAddresses: ...
    @property
    def runner(self) -> Runner: ...
    @property
    def clb(self) -> ClbController: ...
    @property
    def scaler(self) -> Reconciler: ...
    @property
    def commands(self) -> CommandRunner: ...
    @property
    def firewall(self) -> Firewall: ...


@dataclass(frozen=True)
class Context:
    cloud: Platform
    account: Account
    region: str
    request_id: str
    language: str = "en-US"
    principal: Principal | None = None  # None: the account's root key

    @property
    def caller(self) -> Principal:
        return self.principal or Principal.root(self.account)
