"""What every action handler gets: who is calling, in which region, and the cloud to act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from minicvm.accounts import Account

if TYPE_CHECKING:
    from minicvm.cloud import Cloud


@dataclass(frozen=True)
class Context:
    cloud: Cloud
    account: Account
    region: str
    request_id: str
    language: str = "en-US"
