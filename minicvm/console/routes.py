"""HTTP surface of the console.

Pages: GET /console/login, POST /console/login, POST /console/logout, GET /console/ (the app),
GET /console/static/*.
JSON (session cookie required; POST needs the header X-CSRF-Token):
  GET  /console/api/me
  POST /console/api/call                {Service, Action, Region, Params} -> {"Response": …} as the API answers
  GET  /console/api/instances           ?region=&offset=&limit=&state=&name=&ids=a,b -> DescribeInstances + per-instance
                                        "Console": {Actions: {action: {Allowed, Reason, Code, ForceStopAllowed}},
                                                    StopCharging: {Allowed, Reason}}
  GET  /console/api/instances/{id}      ?region= -> {Instance, Disks, Addresses, LoadBalancers, AutoScaling, Log}
  GET  /console/api/lifecycle           -> the lifecycle table (domain/lifecycle.py table()): per action and state
                                        the verdict, and the steps, transitional and final state it leads to
  GET  /console/api/clb/{lb}/counters   -> per-listener / per-target request counters
  GET  /console/api/events              -> Server-Sent Events: the account's instance/health events
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import math
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute

from minicvm import accounts, ids
from minicvm.accounts import Account
from minicvm.api.app import error_payload
from minicvm.cloud import Cloud
from minicvm.console import sessions, views
from minicvm.console.terminal import Terminal
from minicvm.console.throttle import LoginThrottle
from minicvm.domain import lifecycle
from minicvm.domain.catalog import REGIONS
from minicvm.errors import ApiError
from minicvm.services.dispatch import invoke

STATIC = Path(__file__).parent / "static"
DEFAULT_REGION = "ap-guangzhou"
HEARTBEAT = 15.0
MAX_FORM = 16 * 1024
STATIC_NAME = re.compile(r"[A-Za-z0-9_-]+\.(?:js|css|svg)")


async def _form(request: Request) -> dict[str, str]:
    """The sign-in and sign-out forms are small url-encoded bodies; parsed here so that the console needs
    no multipart library (Starlette's request.form() does). Anything else reads as an empty form."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def _page(name: str, **values: str) -> str:
    text = (STATIC / name).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return text


# Password hashing (scrypt, ~50 ms of CPU) runs on these threads, never on the event loop that serves
# the API; beyond MAX_PENDING_LOGINS queued sign-ins the rest are turned away at once.
LOGIN_THREADS = 2
MAX_PENDING_LOGINS = 16


class Console:
    def __init__(self, cloud: Cloud, secure_cookies: bool = False) -> None:
        self.cloud = cloud
        self.secure = secure_cookies
        self.lifecycle_table = lifecycle.table()
        self.throttle = LoginThrottle()
        self.hasher = ThreadPoolExecutor(LOGIN_THREADS, thread_name_prefix="console-login")
        self.pending_logins = 0

    # -- sessions -----------------------------------------------------------------------------------

    def _session(self, request: HTTPConnection) -> tuple[Account, str, str] | None:
        token = request.cookies.get(sessions.COOKIE)
        found = sessions.lookup(self.cloud.store, token)
        if found is None:
            return None
        account = accounts.by_id(self.cloud.store, found[0])
        return (account, found[1], token or "") if account else None

    def _guard(self, request: Request, write: bool) -> tuple[Account, str] | Response:
        found = self._session(request)
        if found is None:
            return JSONResponse({"Error": {"Code": "AuthFailure.SessionExpired", "Message": "Please sign in."}},
                                status_code=401)
        account, csrf, _ = found
        if write and not sessions.csrf_ok(csrf, request.headers.get("x-csrf-token")):
            return JSONResponse({"Error": {"Code": "AuthFailure.CsrfTokenInvalid",
                                           "Message": "The request lacks a valid CSRF token; reload the page."}},
                                status_code=403)
        return account, csrf

    def _set_cookie(self, response: Response, name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True, samesite="strict",
                            secure=self.secure)

    async def login_page(self, request: Request) -> Response:
        if self._session(request) is not None:
            return RedirectResponse("/console/", status_code=303)
        return self._login_form("", 200)

    def _login_form(self, error: str, status: int, form: dict[str, str] | None = None) -> Response:
        """The sign-in page; after a failed attempt the SecretId or account name typed stays (never a secret),
        so that only the key or password needs typing again."""
        csrf = sessions.new_token()
        typed = form or {}
        response = HTMLResponse(_page("login.html", csrf=csrf, error=error, secret_id=typed.get("SecretId", "")[:128],
                                      account_name=typed.get("AccountName", "")[:128]), status_code=status)
        self._set_cookie(response, sessions.LOGIN_CSRF_COOKIE, csrf, max_age=3600)
        return response

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        expected = request.cookies.get(sessions.LOGIN_CSRF_COOKIE, "")
        if not expected or not sessions.csrf_ok(expected, str(form.get("csrf", ""))):
            return self._login_form("The sign-in form expired; please try again.", 403)
        who = form.get("SecretId") or form.get("AccountName") or ""
        keys = LoginThrottle.keys(request.client.host if request.client else "", who)
        wait = self.throttle.wait_seconds(*keys)
        if wait > 0:
            return self._login_form(f"Too many failed sign-ins: try again in {math.ceil(wait)} s.", 429, form)
        if self.pending_logins >= MAX_PENDING_LOGINS:
            return self._login_form("Too many sign-ins at once: try again in a moment.", 429, form)
        self.pending_logins += 1
        try:
            account = await asyncio.get_running_loop().run_in_executor(
                self.hasher, sessions.authenticate, self.cloud.store, form.get("SecretId", ""),
                form.get("SecretKey", ""), form.get("AccountName", ""), form.get("Password", ""))
        finally:
            self.pending_logins -= 1
        if account is None:
            self.throttle.failed(*keys)
            return self._login_form("Sign-in failed: the credentials are not right.", 401, form)
        self.throttle.succeeded(*keys)
        token, _ = sessions.create(self.cloud.store, account)
        response = RedirectResponse("/console/", status_code=303)
        self._set_cookie(response, sessions.COOKIE, token, max_age=int(sessions.LIFETIME.total_seconds()))
        response.delete_cookie(sessions.LOGIN_CSRF_COOKIE, path="/console")
        return response

    async def logout(self, request: Request) -> Response:
        found = self._session(request)
        if found is not None:
            form = await _form(request)
            given = request.headers.get("x-csrf-token") or str(form.get("csrf", ""))
            if not sessions.csrf_ok(found[1], given):
                return JSONResponse({"Error": {"Code": "AuthFailure.CsrfTokenInvalid", "Message": "Bad CSRF token."}},
                                    status_code=403)
            sessions.destroy(self.cloud.store, found[2])
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(sessions.COOKIE, path="/console")
        return response

    async def app(self, request: Request) -> Response:
        found = self._session(request)
        if found is None:
            return RedirectResponse("/console/login", status_code=303)
        account, csrf, _ = found
        return HTMLResponse(_page("index.html", csrf=csrf, account=account.name))

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not STATIC_NAME.fullmatch(name):
            return Response("not found", status_code=404)
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file() or path.suffix not in (".js", ".css", ".svg"):
            return Response("not found", status_code=404)
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    # -- JSON -----------------------------------------------------------------------------------------

    async def me(self, request: Request) -> Response:
        guard = self._guard(request, write=False)
        if isinstance(guard, Response):
            return guard
        account, _ = guard
        return JSONResponse({"Account": account.name, "AppId": account.app_id, "Regions": list(REGIONS),
                             "DefaultRegion": DEFAULT_REGION})

    async def _call(self, account: Account, region: str, service: str, action: str, params: dict[str, Any]
                    ) -> dict[str, Any]:
        return await invoke(self.cloud, account, region, ids.new_request_id(), service, action, params)

    async def call(self, request: Request) -> Response:
        guard = self._guard(request, write=True)
        if isinstance(guard, Response):
            return guard
        account, _ = guard
        request_id = ids.new_request_id()
        try:
            body = orjson.loads(await request.body() or b"{}")  # a depth limit of its own, unlike json
            if not isinstance(body, dict) or not isinstance(body.get("Params", {}), dict):
                raise ApiError("InvalidRequest", "Send {Service, Action, Region, Params}.")
            result = await invoke(self.cloud, account, str(body.get("Region", DEFAULT_REGION)), request_id,
                                  str(body.get("Service", "")), str(body.get("Action", "")), body.get("Params", {}))
            payload = {**result, "RequestId": request_id}
        except ApiError as exc:
            payload = error_payload(exc, request_id)
        except ValueError:
            payload = error_payload(ApiError("InvalidRequest", "The body is not valid JSON."), request_id)
        return JSONResponse({"Response": payload})

    async def instances(self, request: Request) -> Response:
        guard = self._guard(request, write=False)
        if isinstance(guard, Response):
            return guard
        account, _ = guard
        q = request.query_params
        filters = []
        if q.get("state"):
            filters.append({"Name": "instance-state", "Values": [q["state"]]})
        if q.get("name"):
            filters.append({"Name": "instance-name", "Values": [q["name"]]})
        try:
            params: dict[str, Any] = {"Offset": int(q.get("offset", "0") or 0), "Limit": int(q.get("limit", "20") or 20)}
            if q.get("ids"):
                # Dialogs re-read just the instances they act on, so that what they offer is current.
                params["InstanceIds"] = [i for i in q["ids"].split(",") if i]
            elif filters:
                params["Filters"] = filters
            result = await self._call(account, q.get("region", DEFAULT_REGION), "cvm", "DescribeInstances", params)
        except (ApiError, ValueError) as exc:
            error = exc if isinstance(exc, ApiError) else ApiError("InvalidParameter", str(exc))
            return JSONResponse({"Error": {"Code": error.code, "Message": error.message}}, status_code=400)
        for inst in result["InstanceSet"]:
            inst["Console"] = views.permissions(inst)
        return JSONResponse(result)

    async def instance(self, request: Request) -> Response:
        guard = self._guard(request, write=False)
        if isinstance(guard, Response):
            return guard
        account, _ = guard
        region = request.query_params.get("region", DEFAULT_REGION)
        instance_id = request.path_params["instance_id"]
        try:
            found = await self._call(account, region, "cvm", "DescribeInstances", {"InstanceIds": [instance_id]})
            if not found["InstanceSet"]:
                return JSONResponse({"Error": {"Code": "InvalidInstanceId.NotFound",
                                               "Message": f"{instance_id} does not exist."}}, status_code=404)
            inst = found["InstanceSet"][0]
            inst["Console"] = views.permissions(inst)
            disks = await self._call(account, region, "cbs", "DescribeDisks",
                                     {"Filters": [{"Name": "instance-id", "Values": [instance_id]}], "Limit": 100})
            addresses = await self._call(account, region, "vpc", "DescribeAddresses", {"Filters": [
                {"Name": "instance-id", "Values": [instance_id]}, {"Name": "address-type", "Values": ["WanIP", "EIP"]}]})
            scaling = await self._call(account, region, "as", "DescribeAutoScalingInstances", {"InstanceIds": [instance_id]})
        except ApiError as exc:
            return JSONResponse({"Error": {"Code": exc.code, "Message": exc.message}}, status_code=400)
        return JSONResponse({
            "Instance": inst, "Disks": disks["DiskSet"], "Addresses": addresses["AddressSet"],
            "LoadBalancers": views.memberships(self.cloud, account.id, instance_id),
            "AutoScaling": (scaling["AutoScalingInstanceSet"] or [None])[0],
            "Log": views.instance_log(self.cloud, account.id, instance_id),
        })

    async def lifecycle(self, request: Request) -> Response:
        guard = self._guard(request, write=False)
        if isinstance(guard, Response):
            return guard
        # The console's only source for where an action leads: it keeps no copy of the table.
        return JSONResponse(self.lifecycle_table)

    async def counters(self, request: Request) -> Response:
        guard = self._guard(request, write=False)
        if isinstance(guard, Response):
            return guard
        account, _ = guard
        lb_id = request.path_params["lb_id"]
        rows = views.lb_counters(self.cloud, account.id, lb_id) if ids.is_well_formed(lb_id, "lb") else None
        if rows is None:
            return JSONResponse({"Error": {"Code": "InvalidParameter.LBIdNotFound", "Message": "No such load balancer."}},
                                status_code=404)
        return JSONResponse({"Counters": rows})

    async def events(self, request: Request) -> Response:
        guard = self._guard(request, write=False)
        if isinstance(guard, Response):
            return guard
        account, _ = guard
        queue = self.cloud.bus.subscribe()

        async def stream() -> Any:
            try:
                yield "retry: 2000\n\n"
                while not self.cloud.closing.is_set():
                    try:
                        event = await asyncio.wait_for(queue.get(), HEARTBEAT)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if event.get("type") == "closing":
                        break  # the server is stopping: end the stream so shutdown need not wait for it
                    if event.get("account_id") == account.id:
                        public = {k: v for k, v in event.items() if k != "account_id"}
                        yield f"data: {json.dumps(public)}\n\n"
            finally:
                self.cloud.bus.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# The console's pages load only its own scripts, styles and API, and may not be framed by another site
# (clickjacking its shutdown buttons); every console answer carries these.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _with_page_headers(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        response = await handler(request)
        response.headers.update(PAGE_HEADERS)
        return response

    return wrapped


def routes(cloud: Cloud) -> list[BaseRoute]:
    console = Console(cloud)

    async def root(_request: Request) -> Response:
        return RedirectResponse("/console/", status_code=307)

    table: list[tuple[str, Callable[[Request], Awaitable[Response]], list[str] | None]] = [
        ("/console", root, None),
        ("/console/", console.app, None),
        ("/console/login", console.login_page, ["GET"]),
        ("/console/login", console.login, ["POST"]),
        ("/console/logout", console.logout, ["POST"]),
        ("/console/static/{name}", console.static, None),
        ("/console/api/me", console.me, None),
        ("/console/api/call", console.call, ["POST"]),
        ("/console/api/instances", console.instances, None),
        ("/console/api/instances/{instance_id}", console.instance, None),
        ("/console/api/lifecycle", console.lifecycle, None),
        ("/console/api/clb/{lb_id}/counters", console.counters, None),
        ("/console/api/events", console.events, None),
    ]
    terminal = Terminal(cloud, lambda conn: (found[0] if (found := console._session(conn)) else None), _page)
    table.append(("/console/instances/{instance_id}/terminal", terminal.window, ["GET"]))
    pages: list[BaseRoute] = [Route(path, _with_page_headers(handler), methods=methods)
                              for path, handler, methods in table]
    return [*pages, WebSocketRoute("/console/instances/{instance_id}/terminal/ws", terminal.socket)]
