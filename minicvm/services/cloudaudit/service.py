"""The CloudAudit service table."""

from minicvm.services.registry import service

CLOUDAUDIT = service("cloudaudit", "2019-03-19", regional=False)
