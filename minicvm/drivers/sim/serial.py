"""The serial console of a simulated guest, as the console's "Log in" window shows it: a `login:` prompt
that checks the user and password the guest read at boot (like SSH's password check), then the small
shell (shell.py). The terminal sends keystrokes; the line discipline here echoes them, handles
backspace, Ctrl-C and Ctrl-D, and hides the password."""

from __future__ import annotations

import asyncio
from typing import Any

from minicvm.domain.passwords import check_password
from minicvm.drivers.base import ConsoleStream
from minicvm.drivers.sim import shell
from minicvm.drivers.sim.login import password_hash

MAX_LINE = 4096
MAX_FAILED_LOGINS = 5


class _Lines:
    def __init__(self, stream: ConsoleStream) -> None:
        self.stream = stream
        self.pending = ""

    async def read(self, echo: bool) -> str | None:
        """One line; None at Ctrl-D on an empty line or when the terminal closes."""
        line = ""
        while True:
            if not self.pending:
                chunk = await self.stream.receive()
                if chunk is None:
                    return None
                self.pending = chunk
            ch, self.pending = self.pending[0], self.pending[1:]
            if ch in "\r\n":
                if ch == "\r" and self.pending.startswith("\n"):
                    self.pending = self.pending[1:]
                await self.stream.send("\r\n")
                return line
            if ch in "\x7f\b":
                if line:
                    line = line[:-1]
                    if echo:
                        await self.stream.send("\b \b")
            elif ch == "\x03":
                await self.stream.send("^C\r\n")
                return ""
            elif ch == "\x04":
                if not line:
                    return None
            elif ch >= " " and len(line) < MAX_LINE:
                line += ch
                if echo:
                    await self.stream.send(ch)


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


async def session(guest: Any, stream: ConsoleStream) -> None:
    """Serve one terminal until it closes, logs out, or the guest powers off or reboots."""
    lines = _Lines(stream)
    config = guest.config
    login_user = config.get("login_user") or "root"
    accepted = password_hash(config)
    await stream.send(_crlf(f"\n{shell.BANNER}\n"))
    failures = 0
    while True:
        await stream.send(f"{guest.host_name()} login: ")
        user = await lines.read(echo=True)
        if user is None:
            return
        if not user:
            continue
        await stream.send("Password: ")
        password = await lines.read(echo=False)
        if password is None:
            return
        ok = (user == login_user and accepted is not None
              and await asyncio.to_thread(check_password, password, accepted))
        if ok:
            break
        failures += 1
        await stream.send("\r\nLogin incorrect\r\n")
        if failures >= MAX_FAILED_LOGINS:
            return
    while True:
        await stream.send(f"{user}@{guest.host_name()}:~# ")
        line = await lines.read(echo=True)
        if line is None:
            await stream.send("logout\r\n")
            return
        out: list[str] = []
        result = await shell.run_script(guest, user, line, out.append)
        await stream.send(_crlf("".join(out)))
        if result.after is not shell.After.NOTHING:
            guest.after_shell(result.after)
            return
