"""CLB helpers for tests that drive load balancers through the API: a load balancer with one listener
(and rule) in front of given instances, and continuous traffic that counts what fails."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.support.client import Api

FAST_CHECK = {"HealthSwitch": 1, "IntervalTime": 3, "TimeOut": 2, "HealthNum": 2, "UnHealthNum": 2}
NO_CHECK = {"HealthSwitch": 0}


def clb(api: Api, action: str, **params) -> dict:
    return api.call("clb", action, **params)


class Balancer:
    def __init__(self, api: Api, instance_ids: list[str], protocol: str = "HTTP", check: dict | None = None,
                 tags: list | None = None, weights: list[int] | None = None, port: int = 8000) -> None:
        self.api = api
        params = {"LoadBalancerType": "OPEN"}
        if tags:
            params["Tags"] = tags
        self.lb = clb(api, "CreateLoadBalancer", **params)["LoadBalancerIds"][0]
        self.vip = clb(api, "DescribeLoadBalancers", LoadBalancerIds=[self.lb])["LoadBalancerSet"][0]["LoadBalancerVips"][0]
        self.port = port
        self.protocol = protocol
        extra = {"HealthCheck": check} if protocol == "TCP" and check is not None else {}
        self.listener = clb(api, "CreateListener", LoadBalancerId=self.lb, Ports=[port], Protocol=protocol,
                            **extra)["ListenerIds"][0]
        self.location = None
        if protocol == "HTTP":
            rule = {"Url": "/"}
            if check is not None:
                rule["HealthCheck"] = {**check, "HttpCheckPath": "/healthz"} if check.get("HealthSwitch") else check
            self.location = clb(api, "CreateRule", LoadBalancerId=self.lb, ListenerId=self.listener,
                                Rules=[rule])["LocationIds"][0]
        weights = weights or [10] * len(instance_ids)
        self.register([{"InstanceId": i, "Port": 80, "Weight": w} for i, w in zip(instance_ids, weights, strict=True)])

    @property
    def where(self) -> dict:
        loc = {"LocationId": self.location} if self.location else {}
        return {"LoadBalancerId": self.lb, "ListenerId": self.listener, **loc}

    def register(self, targets: list[dict]) -> None:
        clb(self.api, "RegisterTargets", Targets=targets, **self.where)

    def health(self) -> dict[str, str]:
        lbs = clb(self.api, "DescribeTargetHealth", LoadBalancerIds=[self.lb])["LoadBalancers"]
        rules = lbs[0]["Listeners"][0]["Rules"]
        return {t["TargetId"]: t["HealthStatusDetail"] for r in rules for t in r["Targets"]}

    def wait_health(self, expected: dict[str, str], timeout: float = 30) -> None:
        self.api.wait(lambda: all(self.health().get(k) == v for k, v in expected.items()), timeout)

    def get(self, client: httpx.Client) -> str:
        return client.get(f"http://{self.vip}:{self.port}/", timeout=5).json()["InstanceId"]

    def delete(self) -> None:
        clb(self.api, "DeleteLoadBalancer", LoadBalancerIds=[self.lb])


@contextmanager
def load(url: str, threads: int = 4) -> Iterator[Counter]:
    """Continuous GETs until the block ends; counts outcomes ("ok", HTTP codes, errors)."""
    outcomes: Counter = Counter()
    # Per thread: when the last request it has counted began (see settled()).
    outcomes.began = [0.0] * threads  # type: ignore[attr-defined]
    stop = threading.Event()

    def run(index: int) -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                began = time.monotonic()
                try:
                    status = client.get(url).status_code
                    outcomes["ok" if status == 200 else str(status)] += 1
                except httpx.HTTPError as exc:
                    outcomes[type(exc).__name__] += 1
                outcomes.began[index] = began  # type: ignore[attr-defined]
                time.sleep(0.002)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    try:
        yield outcomes
    finally:
        stop.set()
        for w in workers:
            w.join(30)


def failures(outcomes: Counter) -> int:
    return sum(n for k, n in outcomes.items() if k != "ok")


def settled(outcomes: Counter, timeout: float = 30) -> int:
    """Failures so far, read once every load thread has counted a request that began after this call: a
    request already on its way when the call was made (routed before the balancer knew) is in the count,
    whatever the machine's load makes its thread take to record it."""
    mark = time.monotonic()
    deadline = mark + timeout
    while min(outcomes.began) <= mark:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the load threads stopped making requests"
        time.sleep(0.01)
    return failures(outcomes)
