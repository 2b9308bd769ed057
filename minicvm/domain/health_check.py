"""Tencent's HealthCheck defaults: what a listener (TCP) or a rule (HTTP) gets for each field its request
leaves out. The API stores the structure complete with these, and the data plane's probe falls back to
the same values, so a check configured by hand behaves as one created through the API."""

from __future__ import annotations

from typing import Final

HEALTH_SWITCH: Final = 1
TIME_OUT: Final = 2  # seconds
INTERVAL_TIME: Final = 5  # seconds
HEALTH_NUM: Final = 3  # successes before a target is healthy
UN_HEALTH_NUM: Final = 3  # failures before it is not
# HTTP checks only.
HTTP_CODE: Final = 31  # bit mask: 1 = 1xx, 2 = 2xx, 4 = 3xx, 8 = 4xx, 16 = 5xx (all of them)
HTTP_CHECK_PATH: Final = "/"
HTTP_CHECK_METHOD: Final = "HEAD"
HTTP_VERSION: Final = "HTTP/1.1"
