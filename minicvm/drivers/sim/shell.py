"""The small shell of a simulated guest: what SSH sessions (and later TAT commands) run in a sim
guest. It is not a real shell and says so; it knows only the commands below, over the guest
contract's stores (`/disk/<key>` on the system disk, `/mem/<key>` in memory):

    hostname · uptime · whoami · cat /disk/<key> · cat /mem/<key>
    echo TEXT > /disk/<key> · echo TEXT >> /mem/<key> · rm /disk/<key> · sleep N
    poweroff · reboot · exit [N] · help

Lines may hold several commands separated by `;` or `&&`."""

from __future__ import annotations

import asyncio
import enum
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from minicvm.drivers.sim import keys

BANNER = ("minicvm simulated guest: a small shell, not a real OS (type 'help'). "
          "/disk/<key> lives on the system disk, /mem/<key> in memory.\n")

HELP = """commands of this simulated guest:
  hostname                 the instance's host name
  uptime                   seconds since boot
  whoami                   the login user
  cat /disk/KEY | /mem/KEY print a stored value
  echo TEXT > PATH         store TEXT and a newline (>> appends)
  rm PATH                  delete a key
  sleep SECONDS            wait
  poweroff                 the OS powers itself off (the instance becomes STOPPED)
  reboot                   the OS restarts (new boot id, memory cleared)
  exit [N]                 leave the session
"""


class After(enum.Enum):
    """What the guest does once the command's output is delivered."""

    NOTHING = "nothing"
    EXIT = "exit"
    POWEROFF = "poweroff"
    REBOOT = "reboot"


@dataclass(frozen=True)
class Result:
    output: str
    exit_code: int
    after: After = After.NOTHING
    pause: float = 0.0  # seconds to wait before the output (`sleep`)


class Store(Protocol):
    def get(self, key: bytes) -> bytes | None: ...
    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> bool: ...


class GuestView(Protocol):
    """The parts of a guest the shell reaches."""

    def host_name(self) -> str: ...
    def uptime_seconds(self) -> float: ...
    def store(self, kind: str) -> Store: ...


class _Fail(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _split(line: str) -> list[tuple[str, list[str]]]:
    """Commands with the separator that precedes each (`;` or `&&`)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&>")
    lexer.whitespace_split = True
    commands: list[tuple[str, list[str]]] = []
    sep, words = ";", list[str]()
    for token in lexer:
        if token in (";", "&&"):
            commands.append((sep, words))
            sep, words = token, []
        else:
            words.append(token)
    commands.append((sep, words))
    return [(s, w) for s, w in commands if w]


def _path(guest: GuestView, arg: str) -> tuple[Store, bytes]:
    kind, _, key = arg.lstrip("/").partition("/")
    if kind not in ("disk", "mem") or not key:
        raise _Fail(f"{arg}: only /disk/<key> and /mem/<key> exist in this simulated guest")
    try:
        keys.file_name(key.encode())
    except keys.BadKey as exc:
        raise _Fail(f"{arg}: {exc.reason}") from None
    return guest.store(kind), key.encode()


def _one(guest: GuestView, user: str, words: list[str]) -> Result:
    name, args = words[0], words[1:]
    match name:
        case "hostname":
            return Result(guest.host_name() + "\n", 0)
        case "uptime":
            return Result(f"up {guest.uptime_seconds():.1f} seconds\n", 0)
        case "whoami":
            return Result(user + "\n", 0)
        case "help":
            return Result(HELP, 0)
        case "sleep":
            try:
                seconds = float(args[0]) if args else -1
            except ValueError:
                seconds = -1
            if not 0 <= seconds <= 86400:
                raise _Fail("sleep: usage: sleep SECONDS", 2)
            return Result("", 0, pause=seconds)
        case "true" | ":":
            return Result("", 0)
        case "false":
            return Result("", 1)
        case "poweroff" | "halt" | "shutdown":
            return Result("the system is powering off\n", 0, After.POWEROFF)
        case "reboot":
            return Result("the system is rebooting\n", 0, After.REBOOT)
        case "exit" | "logout":
            try:
                code = int(args[0]) if args else 0
            except ValueError:
                raise _Fail(f"exit: {args[0]}: numeric argument required", 2) from None
            return Result("", code & 0xFF, After.EXIT)
        case "cat":
            out = []
            for arg in args:
                store, key = _path(guest, arg)
                value = store.get(key)
                if value is None:
                    raise _Fail(f"cat: {arg}: No such file or directory")
                out.append(value.decode(errors="replace"))
            return Result("".join(out), 0)
        case "rm":
            for arg in args:
                store, key = _path(guest, arg)
                if not store.delete(key) and "-f" not in args:
                    raise _Fail(f"rm: {arg}: No such file or directory")
            return Result("", 0)
        case "echo":
            if ">" in args or ">>" in args:
                op = ">>" if ">>" in args else ">"
                at = args.index(op)
                if at != len(args) - 2:
                    raise _Fail("echo: redirect to exactly one path", 2)
                text = (" ".join(args[:at]) + "\n").encode()
                store, key = _path(guest, args[-1])
                if op == ">>":
                    text = (store.get(key) or b"") + text
                try:
                    store.put(key, text)
                except Exception as exc:  # a full disk, like a real write
                    raise _Fail(f"echo: {args[-1]}: No space left on device ({type(exc).__name__})") from None
                return Result("", 0)
            return Result(" ".join(args) + "\n", 0)
    raise _Fail(f"{name}: command not found (this simulated guest knows: {_KNOWN})", 127)


_KNOWN = "hostname uptime whoami cat echo rm sleep poweroff reboot exit help"


async def run_script(guest: GuestView, user: str, script: str, emit: Callable[[str], object]) -> Result:
    """Run a script line by line, handing output to `emit` as it comes (stdout and error messages both,
    as a terminal shows them). Stops at `exit`, `poweroff` or `reboot`; the result's exit code is the
    last command's."""
    code = 0
    for line in script.splitlines():
        try:
            commands = _split(line)
        except ValueError as exc:
            emit(f"sh: syntax error: {exc}\n")
            code = 2
            continue
        for sep, words in commands:
            if sep == "&&" and code != 0:
                continue
            try:
                result = _one(guest, user, words)
            except _Fail as fail:
                emit(f"sh: {fail.message}\n")
                code = fail.code
                continue
            if result.pause:
                await asyncio.sleep(result.pause)
            emit(result.output)
            code = result.exit_code
            if result.after is not After.NOTHING:
                return Result("", code, result.after)
    return Result("", code)
