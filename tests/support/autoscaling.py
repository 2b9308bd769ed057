"""Auto Scaling helpers: a group behind a load balancer with a health-checked rule."""

from __future__ import annotations

import time

from tests.support.clb import clb
from tests.support.client import ZONE, Api

CHECK = {"HealthSwitch": 1, "IntervalTime": 3, "TimeOut": 2, "HealthNum": 2, "UnHealthNum": 2, "HttpCheckPath": "/healthz",
         "HttpCode": 2}


def asc(api: Api, action: str, **params) -> dict:
    return api.call("as", action, **params)


class Group:
    """A load balancer with an HTTP listener and health-checked rule, a launch configuration, and a group."""

    def __init__(self, api: Api, size: int = 3, drain: bool = True, check: dict | None = CHECK,
                 service: dict | None = None, min_size: int = 1, max_size: int = 6) -> None:
        self.api = api
        tags = [{"TagKey": "minicvm:drain-seconds", "TagValue": "5"}] if drain else []
        self.lb = clb(api, "CreateLoadBalancer", LoadBalancerType="OPEN", Tags=tags)["LoadBalancerIds"][0]
        self.vip = clb(api, "DescribeLoadBalancers", LoadBalancerIds=[self.lb])["LoadBalancerSet"][0]["LoadBalancerVips"][0]
        self.listener = clb(api, "CreateListener", LoadBalancerId=self.lb, Ports=[80], Protocol="HTTP")["ListenerIds"][0]
        rule = {"Url": "/", **({"HealthCheck": check} if check else {"HealthCheck": {"HealthSwitch": 0}})}
        self.location = clb(api, "CreateRule", LoadBalancerId=self.lb, ListenerId=self.listener, Rules=[rule])["LocationIds"][0]
        self.config = asc(api, "CreateLaunchConfiguration", LaunchConfigurationName=f"lc{time.monotonic_ns()}",
                          ImageId="img-eb30mz89", InstanceType="S5.SMALL1")["LaunchConfigurationId"]
        vpc = api.call("vpc", "DescribeVpcs", Filters=[{"Name": "is-default", "Values": ["true"]}])["VpcSet"][0]["VpcId"]
        subnet = api.call("vpc", "DescribeSubnets", Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                            {"Name": "zone", "Values": [ZONE]}])["SubnetSet"][0]["SubnetId"]
        self.vpc, self.subnet = vpc, subnet
        self.id = asc(api, "CreateAutoScalingGroup", AutoScalingGroupName=f"g{time.monotonic_ns()}",
                      LaunchConfigurationId=self.config, MinSize=min_size, MaxSize=max_size, DesiredCapacity=size,
                      VpcId=vpc, SubnetIds=[subnet], ServiceSettings=service or {},
                      ForwardLoadBalancers=[{"LoadBalancerId": self.lb, "ListenerId": self.listener,
                                             "LocationId": self.location,
                                             "TargetAttributes": [{"Port": 80, "Weight": 10}]}])["AutoScalingGroupId"]

    def members(self) -> dict[str, dict]:
        found = asc(self.api, "DescribeAutoScalingInstances",
                    Filters=[{"Name": "auto-scaling-group-id", "Values": [self.id]}], Limit=100)
        return {i["InstanceId"]: i for i in found["AutoScalingInstanceSet"]}

    def group(self) -> dict:
        return asc(self.api, "DescribeAutoScalingGroups", AutoScalingGroupIds=[self.id])["AutoScalingGroupSet"][0]

    def health(self) -> dict[str, str]:
        rules = clb(self.api, "DescribeTargetHealth", LoadBalancerIds=[self.lb])["LoadBalancers"][0]["Listeners"][0]["Rules"]
        return {t["TargetId"]: t["HealthStatusDetail"] for r in rules for t in r["Targets"]}

    def wait_in_service(self, count: int, timeout: float = 60) -> dict[str, dict]:
        def ready() -> dict[str, dict] | None:
            members = self.members()
            serving = {i: m for i, m in members.items() if m["LifeCycleState"] == "IN_SERVICE"}
            return serving if len(serving) == count and len(members) == count else None
        return self.api.wait(ready, timeout)

    def activities(self) -> list[dict]:
        return asc(self.api, "DescribeAutoScalingActivities",
                   Filters=[{"Name": "auto-scaling-group-id", "Values": [self.id]}], Limit=100)["ActivitySet"]

    def url(self) -> str:
        return f"http://{self.vip}/"
