"""The CBS service table."""

from minicvm.services.registry import service

CBS = service("cbs", "2017-03-12")
