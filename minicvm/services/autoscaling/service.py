"""The Auto Scaling service table (credential scope `as`; the SDK package is `autoscaling`)."""

from minicvm.services.registry import service

AS = service("as", "2018-04-19")
