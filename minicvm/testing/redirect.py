"""Send every Tencent Cloud SDK request made in this process to minicvm instead of the real cloud.

User code under test builds its clients the ordinary way (default endpoints such as
`cvm.tencentcloudapi.com`, credentials from the environment or a profile) and cannot be changed. The one
place every request of the Python SDK passes through is `ApiRequest.send_request`, whatever kind of
client built it and whenever it was built, so that is where a request bound for a Tencent Cloud host is
taken: for a service minicvm serves it goes to minicvm over plain HTTP with its `Host` header and
signature untouched (minicvm verifies the signature over the Host as sent and takes the service from the
credential scope); for any other service it is refused with `UnservedServiceError` before a socket is
opened. A second guard, an audit hook, refuses name lookups of Tencent Cloud hosts while a redirect is
active, so code that goes around the SDK cannot reach the real cloud either."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

TENCENT_API_DOMAIN = "tencentcloudapi.com"
# Plain HTTP to minicvm must not be sent through a proxy taken from HTTP_PROXY.
_NO_PROXY = {"http": None, "https": None}


class UnservedServiceError(RuntimeError):
    """A request for a Tencent Cloud service minicvm does not serve, stopped before it left the process.
    Deliberately not a TencentCloudSDKException: code that handles SDK errors must not swallow it."""


def is_tencent_host(host: str | None) -> bool:
    host = (host or "").lower().rstrip(".")
    return host == TENCENT_API_DOMAIN or host.endswith("." + TENCENT_API_DOMAIN)


def service_of_host(host: str) -> str:
    """`cvm` of cvm.tencentcloudapi.com, cvm.ap-guangzhou.tencentcloudapi.com, cvm.intl.tencentcloudapi.com."""
    return host.lower().split(".", 1)[0]


def served_versions() -> dict[str, str]:
    """The services minicvm serves, each with its API version."""
    from minicvm import services
    from minicvm.services.registry import SERVICES

    services.load()
    return {name: service.version for name, service in SERVICES.items()}


def served_services() -> frozenset[str]:
    return frozenset(served_versions())


@dataclass(frozen=True)
class Target:
    endpoint: str  # host:port of a minicvm server
    services: frozenset[str]


class Redirect:
    """Active from creation until `stop()` (or the end of a `with` block). Redirects nest: the newest
    active one decides."""

    def __init__(self, endpoint: str, services: Iterable[str] | None = None) -> None:
        self.target = Target(endpoint.removeprefix("http://").rstrip("/"),
                             frozenset(services) if services is not None else served_services())
        self._session: Any = None
        _install()
        with _lock:
            _stack.append(self)

    def stop(self) -> None:
        with _lock:
            if self in _stack:
                _stack.remove(self)
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> Redirect:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def refuse(self, service: str, host: str) -> UnservedServiceError:
        served = ", ".join(sorted(self.target.services))
        return UnservedServiceError(
            f"this process is redirected to minicvm at {self.target.endpoint}, which does not serve the "
            f"`{service}` service (request for {host}); it was stopped before leaving the process so that "
            f"nothing reaches the real Tencent Cloud. minicvm serves: {served}.")

    def send(self, api_request: Any, req_inter: Any) -> Any:
        """What the SDK's ApiRequest would have done, towards minicvm: same method, headers and body."""
        import requests
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        if self._session is None:
            self._session = requests.Session()
        url = f"http://{self.target.endpoint}/"
        if req_inter.method == "GET":
            url += "?" + req_inter.data
            body = None
        elif req_inter.method == "POST":
            body = req_inter.data
        else:
            raise TencentCloudSDKException("ClientParamsError", "Method only support (GET, POST)")
        try:
            response = self._session.request(req_inter.method, url, data=body, headers=req_inter.header,
                                             timeout=api_request.req_timeout, proxies=_NO_PROXY, stream=True)
        except requests.RequestException as exc:
            raise TencentCloudSDKException("ClientNetworkError", str(exc)) from exc
        api_request.request_size = len(body or b"")
        return response


_lock = threading.Lock()
_stack: list[Redirect] = []
_installed = False


def current() -> Redirect | None:
    with _lock:
        return _stack[-1] if _stack else None


def _install() -> None:
    """Patch the SDK once per process; the patch does nothing while no redirect is active."""
    global _installed
    with _lock:
        if _installed:
            return
        from tencentcloud.common.http.request import ApiRequest

        original = ApiRequest.send_request

        def send_request(self: Any, req_inter: Any) -> Any:
            redirect = current()
            host = urlsplit(self._handle_host(req_inter.host)).hostname
            if redirect is None or not is_tencent_host(host):
                return original(self, req_inter)
            assert host is not None
            service = service_of_host(host)
            if service not in redirect.target.services:
                raise redirect.refuse(service, host)
            return redirect.send(self, req_inter)

        ApiRequest.send_request = send_request
        sys.addaudithook(_refuse_lookups)
        _installed = True


def _refuse_lookups(event: str, args: tuple[Any, ...]) -> None:
    # Audit hooks cannot be removed, so this one checks whether a redirect is active each time.
    if event == "socket.getaddrinfo" and _stack:
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if isinstance(host, str) and is_tencent_host(host):
            redirect = _stack[-1]
            raise redirect.refuse(service_of_host(host), host)


def redirect(endpoint: str | None = None, services: Iterable[str] | None = None) -> Redirect:
    """Redirect this process's Tencent Cloud SDK requests to the minicvm at `endpoint` (host:port;
    default: $MINICVM_ENDPOINT, else 127.0.0.1:4566, where `minicvm serve` listens). Use it as a context
    manager or call `.stop()`."""
    import os

    return Redirect(endpoint or os.environ.get("MINICVM_ENDPOINT") or "127.0.0.1:4566", services)
