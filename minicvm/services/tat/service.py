"""The TAT (TencentCloud Automation Tools) service table."""

from minicvm.services.registry import service

TAT = service("tat", "2020-10-28")
