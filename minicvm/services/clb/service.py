"""The CLB service table."""

from minicvm.services.registry import service

CLB = service("clb", "2018-03-17")
