"""The HTTP server: the API at `/`, and minicvm's own small surfaces beside it."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from minicvm import services
from minicvm.api.app import ApiEndpoint
from minicvm.cloud import Cloud
from minicvm.console.routes import routes as console_routes
from minicvm.metrics import per_resource_allowed, render

log = logging.getLogger(__name__)


def tune_gc() -> None:
    """Thousands of guests, listeners and pooled connections are long-lived objects; with default settings
    every full collection walks all of them while a listing allocates its 100 views (measured: DescribeInstances
    of 100 took ~60 % longer in a server holding 1,000 guests). Freeze what exists after start-up and collect
    the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


class Front:
    """What uvicorn calls. API requests (path `/`) go straight to the endpoint: automation polls it in
    tight loops, and Starlette's router and middleware cost as much CPU per request as the API's own work
    (measured ~0.5 → ~0.3 ms per DescribeRegions). Everything else, lifespan included, goes to Starlette."""

    def __init__(self, api: ApiEndpoint, app: ASGIApp) -> None:
        self.api = api
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/":
            if scope["method"] == "GET" and is_browser_visit(scope):
                await send({"type": "http.response.start", "status": 302,
                            "headers": [(b"location", b"/console/"), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
            await self.api(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def is_browser_visit(scope: Scope) -> bool:
    """Someone opened the server's address in a browser: a page is wanted and nothing is signed (SDKs
    and tccli always send Authorization; a browser asks for text/html)."""
    headers = dict(scope["headers"])
    return b"authorization" not in headers and b"text/html" in headers.get(b"accept", b"")


def build_app(cloud: Cloud, keep_guests_running: bool = False) -> Front:
    services.load()
    api = ApiEndpoint(cloud)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await cloud.start()
        tune_gc()
        try:
            yield
        finally:
            await cloud.stop(keep_running=keep_guests_running)

    async def healthz(_request: object) -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    async def metrics(request: Request) -> Response:
        detail = per_resource_allowed(cloud.settings.metrics_token, request.headers.get("authorization"))
        return Response(render(cloud, detail), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        *console_routes(cloud),
    ]
    return Front(api, Starlette(routes=routes, lifespan=lifespan))
