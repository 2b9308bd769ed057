"""The Tag service table (a global service: resources name their own region)."""

from minicvm.services.registry import service

TAG = service("tag", "2018-08-13", regional=False)
