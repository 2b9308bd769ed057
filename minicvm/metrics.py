"""Prometheus metrics: CLB data plane counters and instance counts by state, collected on each scrape so
nothing is double-booked. /metrics needs no sign-in, so by default the CLB counters are totals over every
listener and target; per-listener/per-target series (which name accounts' resource ids) only for a
scraper that presents the configured token."""

from __future__ import annotations

import hmac
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
    def __init__(self, cloud: Cloud, per_resource: bool) -> None:
        self.cloud = cloud
        self.per_resource = per_resource

    def collect(self) -> Iterator[Metric]:
        labels = ["listener_id", "location_id", "target", "instance_id"] if self.per_resource else []
        requests = CounterMetricFamily("minicvm_clb_requests", "Requests (HTTP) or connections (TCP) handled", labels=labels)
        errors = CounterMetricFamily("minicvm_clb_responses_5xx", "5xx responses sent to clients", labels=labels)
        backend_errors = CounterMetricFamily("minicvm_clb_backend_errors", "Refused, broken or timed-out backend connections",
                                             labels=labels)
        active = GaugeMetricFamily("minicvm_clb_active_connections", "Connections or requests in flight", labels=labels)
        transitions = CounterMetricFamily("minicvm_clb_health_transitions", "Health status changes", labels=labels)
        healthy = GaugeMetricFamily("minicvm_clb_target_alive", "1 if the target's health is Alive", labels=labels)
        rows = self.cloud.clb.metrics()
        if self.per_resource:
            for s in rows:
                values = [s.listener_id, s.location_id or "", s.backend_key or "", s.instance_id or ""]
                requests.add_metric(values, s.requests)
                errors.add_metric(values, s.responses_5xx)
                backend_errors.add_metric(values, s.backend_errors)
                active.add_metric(values, s.active_connections)
                transitions.add_metric(values, s.health_transitions)
                if s.backend_key is not None:
                    healthy.add_metric(values, 1 if s.health == Health.ALIVE else 0)
        else:
            requests.add_metric([], sum(s.requests for s in rows))
            errors.add_metric([], sum(s.responses_5xx for s in rows))
            backend_errors.add_metric([], sum(s.backend_errors for s in rows))
            active.add_metric([], sum(s.active_connections for s in rows))
            transitions.add_metric([], sum(s.health_transitions for s in rows))
            healthy = GaugeMetricFamily("minicvm_clb_targets_alive", "Targets whose health is Alive")
            healthy.add_metric([], sum(1 for s in rows if s.backend_key is not None and s.health == Health.ALIVE))
        yield from (requests, errors, backend_errors, active, transitions, healthy)
        states = GaugeMetricFamily("minicvm_instances", "Instances by state", labels=["state"])
        with self.cloud.store.read() as conn:
            for state, count in conn.execute(sa.select(instances.c.state, sa.func.count()).group_by(instances.c.state)):
                states.add_metric([state], count)
        yield states


def per_resource_allowed(token: str, authorization: str | None) -> bool:
    return bool(token) and hmac.compare_digest(f"Bearer {token}".encode(), (authorization or "").encode())


def render(cloud: Cloud, per_resource: bool = False) -> bytes:
    registry = CollectorRegistry()
    registry.register(CloudCollector(cloud, per_resource))  # type: ignore[arg-type]
    return generate_latest(registry)
