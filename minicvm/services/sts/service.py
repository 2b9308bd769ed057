"""The STS service table (a global service: no region needed)."""

from minicvm.services.registry import service

STS = service("sts", "2018-08-13", regional=False)
