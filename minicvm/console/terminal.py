"""The console's "Log in" window: a page with a terminal, and the websocket that bridges it to the
instance's console through the driver. Both need the console session of the instance's account; the
websocket also refuses pages of other origins (the cookie alone would let another site's script in)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlsplit

import sqlalchemy as sa
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from minicvm.accounts import Account
from minicvm.cloud import Cloud
from minicvm.domain import lifecycle as lc
from minicvm.drivers.base import GuestError
from minicvm.store.tables import instances

# xterm.js styles its rows with a <style> element of its own: this page allows inline styles, no more.
TERMINAL_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
MAX_MESSAGE = 64 * 1024


class _Socket:
    """The websocket as the driver's ConsoleStream."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    async def receive(self) -> str | None:
        try:
            message = await self.ws.receive_text()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return None
        return message[:MAX_MESSAGE]

    async def send(self, text: str) -> None:
        await self.ws.send_text(text)


class Terminal:
    def __init__(self, cloud: Cloud, session: Callable[[HTTPConnection], Account | None],
                 page: Callable[..., str]) -> None:
        self.cloud = cloud
        self.session = session
        self.page = page

    def _state(self, account: Account, instance_id: str) -> str | None:
        with self.cloud.store.read() as conn:
            return conn.execute(sa.select(instances.c.state).where(
                instances.c.id == instance_id, instances.c.account_id == account.id)).scalar()

    def _refusal(self, ws: WebSocket) -> tuple[int, str] | None:
        account = self.session(ws)
        origin = ws.headers.get("origin")
        if account is None or (origin is not None and urlsplit(origin).netloc != ws.headers.get("host")):
            return 4401, "sign in to the console first"
        state = self._state(account, ws.path_params["instance_id"])
        if state is None:
            return 4404, "no such instance"
        if state != lc.RUNNING:
            return 4409, f"the instance is {state}: its console is off"
        return None

    async def window(self, request: Request) -> Response:
        account = self.session(request)
        if account is None:
            return RedirectResponse("/console/login", status_code=303)
        instance_id = request.path_params["instance_id"]
        if self._state(account, instance_id) is None:
            return Response("no such instance", status_code=404)
        response = HTMLResponse(self.page("terminal.html", instance=instance_id))
        response.headers["Content-Security-Policy"] = TERMINAL_CSP
        return response

    async def socket(self, ws: WebSocket) -> None:
        refusal = self._refusal(ws)
        # Accepted and then closed with the reason, so that the window can show why (a refused handshake
        # reaches the page as a bare 1006).
        await ws.accept()
        if refusal is not None:
            await ws.close(code=refusal[0], reason=refusal[1])
            return
        instance_id = ws.path_params["instance_id"]
        try:
            await self.cloud.driver.attach_console(instance_id, _Socket(ws))
        except GuestError as exc:
            await ws.send_text(f"\r\n[{exc}]\r\n")
        except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
            return
        try:
            await ws.close()
        except RuntimeError:
            pass  # the browser left first
