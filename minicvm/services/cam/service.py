"""The CAM service table (a global service: no region needed)."""

from minicvm.services.registry import service

CAM = service("cam", "2019-01-16", regional=False)
