"""The HealthCheck structure: documented ranges and defaults, checked once here and stored complete."""

from __future__ import annotations

from typing import Any

from minicvm.domain import health_check as d
from minicvm.errors import ApiError
from minicvm.services.clb.models import HealthCheckStruct

FIELDS = ("HealthSwitch", "TimeOut", "IntervalTime", "HealthNum", "UnHealthNum", "HttpCode", "HttpCheckPath",
          "HttpCheckDomain", "HttpCheckMethod", "CheckPort", "ContextType", "SendContext", "RecvContext", "CheckType",
          "HttpVersion", "SourceIpType", "ExtendedCode")
# Check types minicvm's data plane can run, by where the check lives.
CHECK_TYPES = {"TCP": ("TCP", "HTTP"), "HTTP": ("HTTP",)}
DEFAULTS = {"HealthSwitch": d.HEALTH_SWITCH, "TimeOut": d.TIME_OUT, "IntervalTime": d.INTERVAL_TIME,
            "HealthNum": d.HEALTH_NUM, "UnHealthNum": d.UN_HEALTH_NUM}
HTTP_DEFAULTS = {"HttpCode": d.HTTP_CODE, "HttpCheckPath": d.HTTP_CHECK_PATH, "HttpCheckMethod": d.HTTP_CHECK_METHOD}


def _range(name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise ApiError("InvalidParameterValue.Range", f"`HealthCheck.{name}` must be {low}-{high}; got {value}.")


def normalise(given: HealthCheckStruct | None, kind: str, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The complete HealthCheck for a TCP listener (kind "TCP") or an HTTP rule (kind "HTTP"); fields not
    given keep their current value, else Tencent's default. Unused fields are None, as DescribeListeners
    shows them."""
    merged: dict[str, Any] = {f: None for f in FIELDS}
    merged.update(DEFAULTS)
    if kind == "HTTP":
        merged.update(HTTP_DEFAULTS, CheckType="HTTP", HttpVersion=d.HTTP_VERSION)
    else:
        merged["CheckType"] = "TCP"
    if current:
        merged.update(current)
    if given is not None:
        merged.update({k: v for k, v in given.model_dump().items() if v is not None})
    if merged["HealthSwitch"] not in (0, 1):
        raise ApiError("InvalidParameterValue", "`HealthCheck.HealthSwitch` is 0 (off) or 1 (on).")
    _range("TimeOut", merged["TimeOut"], 2, 60)
    _range("IntervalTime", merged["IntervalTime"], 2, 300)
    _range("HealthNum", merged["HealthNum"], 2, 10)
    _range("UnHealthNum", merged["UnHealthNum"], 2, 10)
    if merged["TimeOut"] >= merged["IntervalTime"]:
        raise ApiError("InvalidParameterValue", "`HealthCheck.TimeOut` must be shorter than `IntervalTime`.")
    if merged["CheckType"] not in CHECK_TYPES[kind]:
        raise ApiError("InvalidParameterValue",
                       f"`HealthCheck.CheckType` must be one of {', '.join(CHECK_TYPES[kind])} here.")
    if merged["CheckType"] == "HTTP":
        # An HTTP check on a TCP listener starts from TCP's fields, where these are None.
        merged.update({k: v for k, v in HTTP_DEFAULTS.items() if merged[k] in (None, "")})
        _range("HttpCode", merged["HttpCode"], 1, 31)
        if not merged["HttpCheckPath"].startswith("/") or len(merged["HttpCheckPath"]) > 200:
            raise ApiError("InvalidParameterValue", "`HealthCheck.HttpCheckPath` must start with '/' (at most 200).")
        merged["HttpCheckMethod"] = merged["HttpCheckMethod"].upper()
        if merged["HttpCheckMethod"] not in ("HEAD", "GET"):
            raise ApiError("InvalidParameterValue", "`HealthCheck.HttpCheckMethod` is HEAD or GET.")
        if kind == "TCP" and not merged["HttpCheckDomain"]:
            raise ApiError("InvalidParameterValue", "An HTTP check on a TCP listener needs `HttpCheckDomain`.")
    if merged["CheckPort"] is not None:
        if merged["CheckPort"] == -1:
            merged["CheckPort"] = None
        elif kind == "HTTP":
            raise ApiError("InvalidParameterValue", "`HealthCheck.CheckPort` is for TCP/UDP listeners only.")
        else:
            _range("CheckPort", merged["CheckPort"], 1, 65535)
    if merged["CheckType"] == "CUSTOM" or merged["SendContext"] or merged["RecvContext"]:
        raise ApiError("UnsupportedOperation", "Custom (CUSTOM) health checks are not supported by minicvm.")
    return merged
