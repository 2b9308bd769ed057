"""The Tag service over one store: a tag bound through it is the resource's own tag, seen at once by the
product's Describe* and filters, and the other way round; Tencent's limits and error codes for bad input."""

from __future__ import annotations

import hashlib
import time

import pytest
from tencentcloud.tag.v20180813 import models, tag_client

from tests.support.client import ZONE, Api, other_account, tccli_json
from tests.support.server import SECRET_ID, SECRET_KEY


@pytest.fixture(scope="module")
def uin(api: Api) -> str:
    return api.call("sts", "GetCallerIdentity")["AccountId"]


@pytest.fixture(scope="module")
def instance(api: Api) -> str:
    return api.run(1, wait=False, TagSpecification=[{"ResourceType": "instance",
                                                     "Tags": [{"Key": "team", "Value": "core"}]}])[0]


def name(uin: str, instance_id: str, region: str = "ap-guangzhou") -> str:
    return f"qcs::cvm:{region}:uin/{uin}:instance/{instance_id}"


def tag(api: Api, **params) -> dict:
    return api.call("tag", "TagResources" if "Tags" in params else "UnTagResources", **params)


def instance_tags(api: Api, instance_id: str) -> list[dict]:
    return api.instance(instance_id)["Tags"]


def tagged(api: Api, key: str, value: str) -> list[str]:
    found = api.cvm("DescribeInstances", Filters=[{"Name": f"tag:{key}", "Values": [value]}], Limit=100)
    return [i["InstanceId"] for i in found["InstanceSet"]]


def test_instance_tags_are_one_store(api: Api, uin: str, instance: str) -> None:
    # RunInstances' tags are seen by the Tag service ...
    got = api.call("tag", "GetResources", ResourceList=[name(uin, instance)])["ResourceTagMappingList"]
    assert got == [{"Resource": name(uin, instance), "Tags": [{"TagKey": "team", "TagValue": "core", "Category": "Custom"}]}]
    # ... and the Tag service's are seen by DescribeInstances and its filters at once.
    out = tag(api, ResourceList=[name(uin, instance)], Tags=[{"TagKey": "env", "TagValue": "prod"},
                                                             {"TagKey": "team", "TagValue": "infra"}])
    assert out["FailedResources"] == []
    assert instance_tags(api, instance) == [{"Key": "team", "Value": "infra"}, {"Key": "env", "Value": "prod"}]
    assert instance in tagged(api, "env", "prod")
    assert instance not in tagged(api, "team", "core")
    keyed = api.cvm("DescribeInstances", Filters=[{"Name": "tag-key", "Values": ["env"]}])["InstanceSet"]
    assert instance in [i["InstanceId"] for i in keyed]
    tag(api, ResourceList=[name(uin, instance)], TagKeys=["env"])
    assert instance_tags(api, instance) == [{"Key": "team", "Value": "infra"}]
    assert instance not in tagged(api, "env", "prod")


def test_single_resource_actions(api: Api, uin: str, instance: str) -> None:
    res = name(uin, instance)
    api.call("tag", "AddResourceTag", Resource=res, TagKey="owner", TagValue="alice")
    assert api.error("tag", "AddResourceTag", Resource=res, TagKey="owner", TagValue="bob").code == \
        "ResourceInUse.TagKeyAttached"
    api.call("tag", "ModifyResourceTags", Resource=res, ReplaceTags=[{"TagKey": "owner", "TagValue": "bob"}],
             DeleteTags=[{"TagKey": "team"}])
    assert {"Key": "owner", "Value": "bob"} in instance_tags(api, instance)
    assert "team" not in {t["Key"] for t in instance_tags(api, instance)}
    assert api.error("tag", "ModifyResourceTags", Resource=res, ReplaceTags=[{"TagKey": "x", "TagValue": "1"}],
                     DeleteTags=[{"TagKey": "x"}]).code == "InvalidParameterValue.DeleteTagsParamError"
    api.call("tag", "DeleteResourceTag", Resource=res, TagKey="owner")
    assert api.error("tag", "DeleteResourceTag", Resource=res, TagKey="owner").code == \
        "ResourceNotFound.AttachedTagKeyNotFound"
    api.call("tag", "AddResourceTag", Resource=res, TagKey="team", TagValue="core")


def test_every_kind_of_resource(api: Api, uin: str) -> None:
    disk = api.call("cbs", "CreateDisks", Placement={"Zone": ZONE}, DiskChargeType="POSTPAID_BY_HOUR",
                    DiskType="CLOUD_PREMIUM", DiskSize=10, Tags=[{"Key": "made", "Value": "cbs"}])["DiskIdSet"][0]
    eip = api.call("vpc", "AllocateAddresses", AddressCount=1)["AddressSet"][0]
    lb = api.call("clb", "CreateLoadBalancer", LoadBalancerType="OPEN")["LoadBalancerIds"][0]
    config = api.call("as", "CreateLaunchConfiguration", LaunchConfigurationName=f"lc{time.monotonic_ns()}",
                      ImageId="img-eb30mz89", InstanceType="S5.SMALL1")["LaunchConfigurationId"]
    vpc = api.call("vpc", "DescribeVpcs", Filters=[{"Name": "is-default", "Values": ["true"]}])["VpcSet"][0]["VpcId"]
    subnet = api.call("vpc", "DescribeSubnets", Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                         {"Name": "zone", "Values": [ZONE]}])["SubnetSet"][0]["SubnetId"]
    group = api.call("as", "CreateAutoScalingGroup", AutoScalingGroupName=f"g{time.monotonic_ns()}",
                     LaunchConfigurationId=config, MinSize=0, MaxSize=1, DesiredCapacity=0,
                     VpcId=vpc, SubnetIds=[subnet])["AutoScalingGroupId"]
    names = [f"qcs::cvm:ap-guangzhou:uin/{uin}:volume/{disk}", f"qcs::vpc:ap-guangzhou:uin/{uin}:eip/{eip}",
             f"qcs::clb:ap-guangzhou:uin/{uin}:clb/{lb}", f"qcs::as:ap-guangzhou:uin/{uin}:auto-scaling-group/{group}"]
    assert tag(api, ResourceList=names, Tags=[{"TagKey": "stack", "TagValue": "blue"}])["FailedResources"] == []
    disk_view = api.call("cbs", "DescribeDisks", DiskIds=[disk])["DiskSet"][0]
    assert disk_view["Tags"] == [{"Key": "made", "Value": "cbs"}, {"Key": "stack", "Value": "blue"}]
    by_tag = api.call("cbs", "DescribeDisks", Filters=[{"Name": "tag:stack", "Values": ["blue"]}])["DiskSet"]
    assert [d["DiskId"] for d in by_tag] == [disk]
    assert api.call("vpc", "DescribeAddresses", AddressIds=[eip])["AddressSet"][0]["TagSet"] == \
        [{"Key": "stack", "Value": "blue"}]
    assert {"TagKey": "stack", "TagValue": "blue"} in \
        api.call("clb", "DescribeLoadBalancers", LoadBalancerIds=[lb])["LoadBalancerSet"][0]["Tags"]
    group_tags = api.call("as", "DescribeAutoScalingGroups", AutoScalingGroupIds=[group])["AutoScalingGroupSet"][0]["Tags"]
    assert [(t["Key"], t["Value"]) for t in group_tags] == [("stack", "blue")]
    found = api.call("tag", "GetResources", TagFilters=[{"TagKey": "stack", "TagValue": ["blue"]}])
    assert sorted(m["Resource"] for m in found["ResourceTagMappingList"]) == sorted(names)
    # An empty account segment (as Terraform writes it) and the CAM spelling of EIPs mean the same resources.
    assert tag(api, ResourceList=[f"qcs::cvm:ap-guangzhou:uin/:eip/{eip}"], TagKeys=["stack"])["FailedResources"] == []
    assert api.call("vpc", "DescribeAddresses", AddressIds=[eip])["AddressSet"][0]["TagSet"] == []
    # The CLB's drain tag keeps its rule whichever way it is set.
    failed = tag(api, ResourceList=[names[2]], Tags=[{"TagKey": "minicvm:drain-seconds", "TagValue": "soon"}])
    assert failed["FailedResources"][0]["Code"] == "InvalidParameterValue"
    # A deleted resource's tags go with it.
    api.call("cbs", "TerminateDisks", DiskIds=[disk])
    api.wait(lambda: not api.call("cbs", "DescribeDisks", DiskIds=[disk])["DiskSet"])
    found = api.call("tag", "GetResources", TagFilters=[{"TagKey": "stack"}])["ResourceTagMappingList"]
    assert names[0] not in [m["Resource"] for m in found]


def test_keys_values_and_paging(api: Api, uin: str, instance: str) -> None:
    client = tag_client.TagClient(api.cred, "", api.profile)
    res = name(uin, instance)
    tag(api, ResourceList=[res], Tags=[{"TagKey": f"k{i}", "TagValue": f"v{i}"} for i in range(5)])
    keys, token = [], ""
    while True:
        req = models.GetTagKeysRequest()
        req.MaxResults, req.PaginationToken = 2, token
        page = client.GetTagKeys(req)
        keys += page.TagKeys
        token = page.PaginationToken
        if not token:
            break
    assert {f"k{i}" for i in range(5)} <= set(keys)
    assert len(keys) == len(set(keys))
    values = api.call("tag", "GetTagValues", TagKeys=["k1", "k2"])["Tags"]
    assert [(t["TagKey"], t["TagValue"]) for t in values] == [("k1", "v1"), ("k2", "v2")]
    assert ("k3", "v3") in [(t["TagKey"], t["TagValue"]) for t in api.call("tag", "GetTags", MaxResults=1000)["Tags"]]
    rows = api.call("tag", "DescribeResourceTagsByResourceIds", ServiceType="cvm", ResourcePrefix="instance",
                    ResourceIds=[instance], ResourceRegion="ap-guangzhou", Limit=50)
    row = next(t for t in rows["Tags"] if t["TagKey"] == "k1")
    assert row["TagKeyMd5"] == hashlib.md5(b"k1").hexdigest() and row["ResourceId"] == instance
    assert rows["TotalCount"] == len(instance_tags(api, instance))
    assert api.error("tag", "GetTagKeys", PaginationToken="garbage").code == "InvalidParameter.PaginationTokenInvalid"
    tag(api, ResourceList=[res], TagKeys=[f"k{i}" for i in range(5)])


@pytest.mark.parametrize(("params", "code"), [
    ({"Tags": [{"TagKey": "qcloud:x", "TagValue": "1"}]}, "InvalidParameter.ReservedTagKey"),
    ({"Tags": [{"TagKey": "qcs:x", "TagValue": "1"}]}, "InvalidParameter.ReservedTagKey"),
    ({"Tags": [{"TagKey": "k" * 128, "TagValue": "1"}]}, "InvalidParameterValue.TagKeyLengthExceeded"),
    ({"Tags": [{"TagKey": "k", "TagValue": "v" * 256}]}, "InvalidParameterValue.TagValueLengthExceeded"),
    ({"Tags": [{"TagKey": "", "TagValue": "1"}]}, "InvalidParameterValue.TagKeyEmpty"),
    ({"Tags": [{"TagKey": "k", "TagValue": ""}]}, "InvalidParameterValue.TagValueEmpty"),
    ({"Tags": [{"TagKey": "a*b", "TagValue": "1"}]}, "InvalidParameterValue.TagKeyCharacterIllegal"),
    ({"Tags": [{"TagKey": " k", "TagValue": "1"}]}, "InvalidParameterValue.TagKeyCharacterIllegal"),
    ({"Tags": [{"TagKey": "k", "TagValue": "1"}, {"TagKey": "k", "TagValue": "2"}]},
     "InvalidParameterValue.TagKeyDuplicate"),
    ({"Tags": [{"TagKey": f"k{i}", "TagValue": "1"} for i in range(11)]}, "LimitExceeded.TagNumPerRequest"),
    ({"Tags": [{"TagKey": "k", "TagValue": 1}]}, "InvalidParameter"),
    ({"Tags": [{"TagKey": "k"}]}, "MissingParameter"),
])
def test_bad_tags_are_refused_and_change_nothing(api: Api, uin: str, instance: str, params: dict, code: str) -> None:
    before = instance_tags(api, instance)
    assert api.error("tag", "TagResources", ResourceList=[name(uin, instance)], **params).code == code
    assert instance_tags(api, instance) == before


@pytest.mark.parametrize(("resource", "code"), [
    ("ins-12345678", "InvalidParameterValue.ResourceDescriptionError"),
    ("qcs::cvm:ap-guangzhou:uin/{uin}:instance/ins-1", "InvalidParameterValue.ResourceDescriptionError"),
    ("qcs::cvm:mars-1:uin/{uin}:instance/{ins}", "InvalidParameterValue.ResourceDescriptionError"),
    ("qcs::cvm:ap-guangzhou:uin/{uin}:keypair/skey-12345678", "InvalidParameterValue.ResourceDescriptionError"),
    ("qcs::cos:ap-guangzhou:uin/{uin}:bucket/b", "InvalidParameter.UnsupportedService"),
    ("qcs::cvm:ap-guangzhou:uin/999:instance/{ins}", "InvalidParameterValue.UinInvalid"),
])
def test_bad_resource_names(api: Api, uin: str, instance: str, resource: str, code: str) -> None:
    resource = resource.format(uin=uin, ins=instance)
    assert api.error("tag", "AddResourceTag", Resource=resource, TagKey="k", TagValue="v").code == code


def test_resources_that_are_not_there(server, api: Api, uin: str, instance: str) -> None:
    ghost = name(uin, "ins-00000000")
    out = tag(api, ResourceList=[ghost, name(uin, instance)], Tags=[{"TagKey": "ok", "TagValue": "1"}])
    assert [(f["Resource"], f["Code"]) for f in out["FailedResources"]] == [(ghost, "InvalidParameterValue.ResourceIdInvalid")]
    assert {"Key": "ok", "Value": "1"} in instance_tags(api, instance)
    # The wrong region, and another account's instance, are not there either.
    assert api.error("tag", "AddResourceTag", Resource=name(uin, instance, "ap-shanghai"), TagKey="k", TagValue="v").code \
        == "InvalidParameterValue.ResourceIdInvalid"
    stranger = other_account(server)
    theirs = stranger.call("sts", "GetCallerIdentity")["AccountId"]
    assert stranger.error("tag", "AddResourceTag", Resource=name(theirs, instance), TagKey="k", TagValue="v").code \
        == "InvalidParameterValue.ResourceIdInvalid"
    assert stranger.call("tag", "GetTagKeys")["TagKeys"] == []
    tag(api, ResourceList=[name(uin, instance)], TagKeys=["ok"])


def test_tags_per_resource_limit(api: Api, uin: str) -> None:
    instance_id = api.run(1, wait=False)[0]
    res = name(uin, instance_id)
    for start in range(0, 50, 10):
        tag(api, ResourceList=[res], Tags=[{"TagKey": f"n{i}", "TagValue": "x"} for i in range(start, start + 10)])
    assert len(instance_tags(api, instance_id)) == 50
    failed = tag(api, ResourceList=[res], Tags=[{"TagKey": "one-more", "TagValue": "x"}])["FailedResources"]
    assert failed[0]["Code"] == "LimitExceeded.ResourceAttachedTags"
    assert api.error("tag", "AddResourceTag", Resource=res, TagKey="one-more", TagValue="x").code == \
        "LimitExceeded.ResourceAttachedTags"
    assert len(instance_tags(api, instance_id)) == 50


def test_tccli(server, uin: str, instance: str) -> None:
    out = tccli_json(server.endpoint, SECRET_ID, SECRET_KEY, "tag", "TagResources",
                     "--ResourceList", f'["{name(uin, instance)}"]',
                     "--Tags", '[{"TagKey": "via", "TagValue": "tccli"}]')
    assert out["FailedResources"] == []
    keys = tccli_json(server.endpoint, SECRET_ID, SECRET_KEY, "tag", "GetTagKeys", "--MaxResults", "1000")
    assert "via" in keys["TagKeys"]


@pytest.mark.parametrize(("tags", "code"), [
    ([{"Key": "qcloud:x", "Value": "1"}], "FailedOperation.TagKeyReserved"),
    ([{"Key": "a*b", "Value": "1"}], "FailedOperation.IllegalTagKey"),
    ([{"Key": "k", "Value": ""}], "FailedOperation.IllegalTagValue"),
    ([{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}], "InvalidParameterValue.DuplicateTags"),
    ([{"Key": f"k{i}", "Value": "1"} for i in range(51)], "InvalidParameterValue.TagQuotaLimitExceeded"),
])
def test_tags_given_at_creation_follow_the_same_rules(api: Api, tags: list, code: str) -> None:
    # Nothing the Tag service would refuse gets in by the side door; CVM names the errors its own way.
    spec = [{"ResourceType": "instance", "Tags": tags}]
    assert api.error("cvm", "RunInstances", Placement={"Zone": ZONE}, ImageId="img-eb30mz89",
                     InstanceType="S5.SMALL1", TagSpecification=spec).code == code
    assert api.error("cbs", "CreateDisks", Placement={"Zone": ZONE}, DiskChargeType="POSTPAID_BY_HOUR",
                     DiskType="CLOUD_PREMIUM", DiskSize=10, Tags=tags).code.split(".")[0] in (
        "InvalidParameter", "InvalidParameterValue", "LimitExceeded")
