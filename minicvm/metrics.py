"""Prometheus metrics: per-listener and per-target counters from the CLB data plane, and instance
counts by state. Collected on each scrape, so nothing is double-booked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from minicvm.dataplane.model import Health
from minicvm.store.tables import instances

if TYPE_CHECKING:
    from minicvm.cloud import Cloud


class CloudCollector:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def collect(self) -> Iterator[Metric]:
        labels = ["listener_id", "location_id", "target", "instance_id"]
        requests = CounterMetricFamily("minicvm_clb_requests", "Requests (HTTP) or connections (TCP) handled", labels=labels)
        errors = CounterMetricFamily("minicvm_clb_responses_5xx", "5xx responses sent to clients", labels=labels)
        backend_errors = CounterMetricFamily("minicvm_clb_backend_errors", "Refused, broken or timed-out backend connections",
                                             labels=labels)
        active = GaugeMetricFamily("minicvm_clb_active_connections", "Connections or requests in flight", labels=labels)
        transitions = CounterMetricFamily("minicvm_clb_health_transitions", "Health status changes", labels=labels)
        healthy = GaugeMetricFamily("minicvm_clb_target_alive", "1 if the target's health is Alive", labels=labels)
        for s in self.cloud.clb.metrics():
            values = [s.listener_id, s.location_id or "", s.backend_key or "", s.instance_id or ""]
            requests.add_metric(values, s.requests)
            errors.add_metric(values, s.responses_5xx)
            backend_errors.add_metric(values, s.backend_errors)
            active.add_metric(values, s.active_connections)
            transitions.add_metric(values, s.health_transitions)
            if s.backend_key is not None:
                healthy.add_metric(values, 1 if s.health == Health.ALIVE else 0)
        yield from (requests, errors, backend_errors, active, transitions, healthy)
        states = GaugeMetricFamily("minicvm_instances", "Instances by state", labels=["state"])
        with self.cloud.store.read() as conn:
            for state, count in conn.execute(sa.select(instances.c.state, sa.func.count()).group_by(instances.c.state)):
                states.add_metric([state], count)
        yield states


def render(cloud: Cloud) -> bytes:
    registry = CollectorRegistry()
    registry.register(CloudCollector(cloud))  # type: ignore[arg-type]
    return generate_latest(registry)
