"""The VPC service table."""

from minicvm.services.registry import service

VPC = service("vpc", "2017-03-12")
