"""The CVM calls tools make before they act: price inquiries (from the one price table), the types sold per
zone, an instance's UserData, the types it may change to (the only ones ResetInstancesType accepts) and its
operation limits — through the typed Python SDK and tccli, with Tencent's codes for bad input."""

from __future__ import annotations

import json

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.cvm.v20170312 import cvm_client, models

from minicvm.domain import pricing
from tests.support.client import IMAGE, ZONE, Api, tccli_json
from tests.support.server import SECRET_ID, SECRET_KEY


def typed(api: Api) -> cvm_client.CvmClient:
    return cvm_client.CvmClient(api.cred, api.region, api.profile)


def request(model: type, **params: object) -> object:
    req = model()
    req.from_json_string(json.dumps(params))
    return req


def test_inquiry_price_run_instances_follows_the_price_table(api: Api) -> None:
    client = typed(api)
    postpaid = client.InquiryPriceRunInstances(request(
        models.InquiryPriceRunInstancesRequest, Placement={"Zone": ZONE}, ImageId=IMAGE, InstanceType="S5.MEDIUM4",
        SystemDisk={"DiskType": "CLOUD_PREMIUM", "DiskSize": 50}, InstanceCount=2,
        InternetAccessible={"InternetChargeType": "BANDWIDTH_POSTPAID_BY_HOUR", "InternetMaxBandwidthOut": 10}))
    hourly = 2 * (pricing.instance_hourly("S5", 2, 4) + pricing.DISK_GIB_HOUR["CLOUD_PREMIUM"] * 50)
    assert postpaid.Price.InstancePrice.UnitPrice == pytest.approx(hourly, abs=1e-4)
    assert postpaid.Price.InstancePrice.ChargeUnit == "HOUR"
    assert postpaid.Price.BandwidthPrice.UnitPrice == pytest.approx(2 * (5 * 0.063 + 5 * 0.25), abs=1e-4)
    prepaid = client.InquiryPriceRunInstances(request(
        models.InquiryPriceRunInstancesRequest, Placement={"Zone": ZONE}, ImageId=IMAGE, InstanceType="S5.MEDIUM4",
        SystemDisk={"DiskType": "CLOUD_PREMIUM", "DiskSize": 50}, InstanceChargeType="PREPAID",
        InstanceChargePrepaid={"Period": 12}))
    year = hourly / 2 * pricing.MONTH_HOURS * 12
    assert prepaid.Price.InstancePrice.OriginalPrice == pytest.approx(year, abs=1e-2)
    assert prepaid.Price.InstancePrice.DiscountPrice == pytest.approx(year * 0.83, abs=1e-2)
    assert prepaid.Price.InstancePrice.UnitPrice == 0
    # The same checks as RunInstances, and nothing is created.
    before = api.cvm("DescribeInstances")["TotalCount"]
    for params, code in (({"ImageId": "img-zzzzzzzz"}, "InvalidImageId.NotFound"),
                         ({"InstanceType": "S5.NOPE"}, "InvalidParameterValue.InstanceTypeNotFound"),
                         ({"InstanceCount": 101}, "InvalidParameterValue.Range"),
                         ({"InstanceChargeType": "PREPAID", "InstanceChargePrepaid": {"Period": 7000}}, "InvalidPeriod"),
                         ({"Placement": {"Zone": "ap-shanghai-2"}}, "InvalidZone.MismatchRegion")):
        assert api.error("cvm", "InquiryPriceRunInstances", **{"Placement": {"Zone": ZONE}, "ImageId": IMAGE,
                                                               **params}).code == code
    assert api.cvm("DescribeInstances")["TotalCount"] == before


def test_type_changes_listed_priced_and_enforced_alike(api: Api) -> None:
    instance = api.run(1)[0]  # S5.MEDIUM4 with a CLOUD_PREMIUM system disk
    client = typed(api)
    listed = client.DescribeInstancesModification(request(models.DescribeInstancesModificationRequest,
                                                          InstanceIds=[instance]))
    status = {s.InstanceTypeConfig.InstanceType: s for s in listed.InstanceTypeConfigStatusSet}
    assert listed.TotalCount == len(status)
    assert status["S5.LARGE8"].Status == "SELL" and status["M5.MEDIUM16"].Status == "SELL"
    assert status["S5.MEDIUM4"].Status == "UNAVAILABLE"  # its own type
    assert status["SA2.MEDIUM4"].Status == "UNAVAILABLE"
    assert "does not support tuning to SA2" in status["SA2.MEDIUM4"].Message
    only_sold = api.cvm("DescribeInstancesModification", InstanceIds=[instance],
                        Filters=[{"Name": "status", "Values": ["SELL"]}])["InstanceTypeConfigStatusSet"]
    assert {s["Status"] for s in only_sold} == {"SELL"}

    price = client.InquiryPriceResetInstancesType(request(models.InquiryPriceResetInstancesTypeRequest,
                                                          InstanceIds=[instance], InstanceType="S5.LARGE8"))
    assert price.Price.InstancePrice.UnitPrice == pytest.approx(pricing.instance_hourly("S5", 4, 8), abs=1e-4)
    assert api.error("cvm", "InquiryPriceResetInstancesType", InstanceIds=[instance],
                     InstanceType="SA2.MEDIUM4").code == "UnsupportedOperation.UnsupportedChangeInstanceFamily"
    api.cvm("StopInstances", InstanceIds=[instance], StopType="HARD")
    api.wait_state([instance], "STOPPED")
    # Only a type DescribeInstancesModification sells is accepted.
    err = api.error("cvm", "ResetInstancesType", InstanceIds=[instance], InstanceType="SA2.MEDIUM4")
    assert err.code == "UnsupportedOperation.UnsupportedChangeInstanceFamily"
    assert api.instance(instance)["InstanceType"] == "S5.MEDIUM4"
    api.cvm("ResetInstancesType", InstanceIds=[instance], InstanceType="M5.MEDIUM16")
    assert api.wait_state([instance], "STOPPED")[instance]["InstanceType"] == "M5.MEDIUM16"

    grow = client.InquiryPriceResizeInstanceDisks(request(models.InquiryPriceResizeInstanceDisksRequest,
                                                          InstanceId=instance, SystemDisk={"DiskSize": 80}))
    assert grow.Price.InstancePrice.UnitPrice == pytest.approx(pricing.DISK_GIB_HOUR["CLOUD_PREMIUM"] * 30, abs=1e-4)
    assert api.error("cvm", "InquiryPriceResizeInstanceDisks", InstanceId=instance,
                     SystemDisk={"DiskSize": 40}).code == "InvalidParameterValue"
    assert api.error("cvm", "InquiryPriceResizeInstanceDisks", InstanceId="ins-zzzzzzzz",
                     SystemDisk={"DiskSize": 80}).code == "InvalidInstanceId.NotFound"
    assert api.instance(instance)["SystemDisk"]["DiskSize"] == 50


def test_zone_configs_user_data_and_limits(api: Api) -> None:
    instance = api.run(1, UserData="TXlVc2VyRGF0YQo=")[0]
    client = typed(api)
    configs = client.DescribeZoneInstanceConfigInfos(request(
        models.DescribeZoneInstanceConfigInfosRequest,
        Filters=[{"Name": "zone", "Values": [ZONE]}, {"Name": "instance-family", "Values": ["S5"]},
                 {"Name": "instance-charge-type", "Values": ["POSTPAID_BY_HOUR"]},
                 {"Name": "sort-keys", "Values": ["cpu:desc"]}])).InstanceTypeQuotaSet
    assert {c.Zone for c in configs} == {ZONE} and {c.InstanceFamily for c in configs} == {"S5"}
    assert [c.Cpu for c in configs] == sorted((c.Cpu for c in configs), reverse=True)
    medium = next(c for c in configs if c.InstanceType == "S5.MEDIUM4")
    assert medium.Status == "SELL" and medium.Price.UnitPrice == pytest.approx(pricing.instance_hourly("S5", 2, 4))
    assert api.error("cvm", "DescribeZoneInstanceConfigInfos",
                     Filters=[{"Name": "zone", "Values": ["ap-shanghai-2"]}]).code == "InvalidZone.MismatchRegion"
    assert api.error("cvm", "DescribeZoneInstanceConfigInfos",
                     Filters=[{"Name": "colour", "Values": ["red"]}]).code == "InvalidFilter"

    attrs = client.DescribeInstancesAttributes(request(models.DescribeInstancesAttributesRequest,
                                                       InstanceIds=[instance], Attributes=["UserData"]))
    assert attrs.InstanceSet[0].Attributes.UserData == "TXlVc2VyRGF0YQo="
    assert api.error("cvm", "DescribeInstancesAttributes", InstanceIds=[instance],
                     Attributes=["Password"]).code == "InvalidParameterValue"
    assert api.error("cvm", "DescribeInstancesAttributes", InstanceIds=["ins-zzzzzzzz"],
                     Attributes=["UserData"]).code == "InvalidInstanceId.NotFound"
    assert api.error("cvm", "DescribeInstancesAttributes", InstanceIds=["bad"],
                     Attributes=["UserData"]).code == "InvalidInstanceId.Malformed"

    limits = client.DescribeInstancesOperationLimit(request(models.DescribeInstancesOperationLimitRequest,
                                                            InstanceIds=[instance], Operation="INSTANCE_DEGRADE"))
    assert [(x.InstanceId, x.LimitCount) for x in limits.InstanceOperationLimitSet] == [(instance, -1)]
    with pytest.raises(TencentCloudSDKException) as refused:
        client.DescribeInstancesOperationLimit(request(models.DescribeInstancesOperationLimitRequest,
                                                       InstanceIds=[instance], Operation="REBOOT"))
    assert refused.value.code == "InvalidParameterValue"


def test_tccli(api: Api) -> None:
    instance = api.run(1, UserData="aGk=")[0]
    price = tccli_json(api.endpoint, SECRET_ID, SECRET_KEY, "cvm", "InquiryPriceRunInstances",
                       "--Placement", json.dumps({"Zone": ZONE}), "--ImageId", IMAGE, "--InstanceType", "S5.SMALL1")
    assert price["Price"]["InstancePrice"]["ChargeUnit"] == "HOUR"
    attrs = tccli_json(api.endpoint, SECRET_ID, SECRET_KEY, "cvm", "DescribeInstancesAttributes",
                       "--InstanceIds", json.dumps([instance]), "--Attributes", json.dumps(["UserData"]))
    assert attrs["InstanceSet"] == [{"InstanceId": instance, "Attributes": {"UserData": "aGk="}}]
    modification = tccli_json(api.endpoint, SECRET_ID, SECRET_KEY, "cvm", "DescribeInstancesModification",
                              "--InstanceIds", json.dumps([instance]))
    assert modification["TotalCount"] > 0
    zones = tccli_json(api.endpoint, SECRET_ID, SECRET_KEY, "cvm", "DescribeZoneInstanceConfigInfos")
    assert zones["InstanceTypeQuotaSet"]
