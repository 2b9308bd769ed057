"""`minicvm serve` and the admin commands."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.console import Console

from minicvm import accounts, config
from minicvm.config import Settings

if TYPE_CHECKING:
    from minicvm.store.db import Store

app = typer.Typer(help="minicvm: a Tencent Cloud API 3.0 compatible compute service on one machine.",
                  no_args_is_help=True)
accounts_app = typer.Typer(help="Manage accounts (each has its own AppId and SecretId/SecretKey).")
app.add_typer(accounts_app, name="accounts")
configure_app = typer.Typer(help="Point other tools (tccli) at this server.")
app.add_typer(configure_app, name="configure")
console = Console()


def _flag(option: config.Option) -> Any:
    """The typer option of one setting. Its value is None unless given, so the environment and the default
    (shown by `--help`) apply underneath."""
    decls = [f"{option.flag}/--no-{option.flag[2:]}"] if option.kind is bool else [option.flag]
    return typer.Option(None, *decls, help=option.help, show_default=option.shown_default,
                        metavar=option.metavar or None)


def _with_settings_flags(names: list[str] | None = None) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a `(**flags)` command one flag per setting (or per setting named), so a new field of
    Settings is a new flag without anyone writing it twice."""
    chosen = [o for o in config.options() if names is None or o.name in names]

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        fixed = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
        params = fixed + [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=_flag(o),
                                            annotation=Optional[o.kind]) for o in chosen]  # noqa: UP045 - typer reads it
        func.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
        func.__annotations__ = {**{p.name: p.annotation for p in params}, "return": None}
        return func

    return decorate


def _load(**flags: Any) -> Settings:
    try:
        return Settings.load(**flags)
    except config.SettingError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _version(value: bool) -> None:
    if value:
        console.print(f"minicvm {version('minicvm')}")
        raise typer.Exit()


@app.callback()
def _main(show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                            help="Print minicvm's version and exit.")) -> None:
    """minicvm: a Tencent Cloud API 3.0 compatible compute service on one machine."""


@app.command()
@_with_settings_flags()
def serve(**flags: Any) -> None:
    """Serve the API, the console and everything else until interrupted. Every flag can also be set through
    the environment variable of the same name (MINICVM_ and upper case, e.g. MINICVM_BOOT_SECONDS)."""
    import uvicorn

    from minicvm.api.connections import guarded_protocol, limits_from
    from minicvm.claims import ClaimRefused, Claims
    from minicvm.cloud import Cloud
    from minicvm.fdlimit import raise_fd_limit
    from minicvm.server import build_app

    settings = _load(**flags)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    claims = Claims()
    try:
        claims.data_dir(settings.data_dir)
        claims.network("guest network", "--guest-network", settings.guest_network)
        claims.network("CLB network", "--clb-network", settings.clb_network)
        listener = claims.port(settings.host, settings.port)
    except ClaimRefused as exc:
        console.print(f"[red]minicvm: {exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    raise_fd_limit()
    cloud = Cloud.open(settings)
    account = accounts.ensure_default(cloud.store, settings.data_dir)
    for line in banner(settings, account.secret_id, account.secret_key):
        console.print(line, highlight=False)
    app_ = build_app(cloud, settings.keep_guests_running)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            cloud.begin_shutdown()
            exit_soon()
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

    uv_config = uvicorn.Config(app_, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                               loop="uvloop", http=guarded_protocol(limits_from(settings)),
                               # uvicorn annotates it int but waits it out with call_later, which takes fractions.
                               timeout_keep_alive=settings.idle_timeout,  # type: ignore[arg-type]
                               timeout_graceful_shutdown=5,
                               proxy_headers=False, server_header=False, backlog=4096)
    Server(uv_config).run(sockets=[listener])


EXIT_DEADLINE = 10.0  # seconds from SIGINT/SIGTERM to the process being gone, whatever it was doing


def exit_soon() -> None:
    """A stop asked for by a signal ends within EXIT_DEADLINE even when a step of shutting down (or of a
    start-up still running) does not: what is left in flight is finished at the next start, as after kill -9."""
    import os
    import threading

    if getattr(exit_soon, "armed", False):
        os._exit(1)  # a second signal: now
    exit_soon.armed = True  # type: ignore[attr-defined]
    timer = threading.Timer(EXIT_DEADLINE, os._exit, args=(1,))
    timer.daemon = True
    timer.start()


def banner(settings: Settings, secret_id: str, secret_key: str) -> list[str]:
    """What `serve` prints at start: where everything is, and how each client is pointed at it (the SDKs
    default to HTTPS and Tencent's hostnames, so each needs the endpoint and plain HTTP spelled its way)."""
    endpoint = f"{settings.host}:{settings.port}"
    url = f"http://{endpoint}"
    return [
        f"[bold]minicvm[/bold] serving on {url}",
        "  region:    ap-guangzhou (also ap-shanghai, ap-beijing)",
        f"  SecretId:  {secret_id}",
        f"  SecretKey: {secret_key}",
        f"  console:   {url}/console/  (sign in with the SecretId and SecretKey)",
        f"  data dir:  {settings.data_dir.resolve()}   database: {settings.db_url.split('@')[-1]}",
        f"  driver:    {settings.driver}",
        "Point clients at it:",
        f"  tccli:     tccli cvm DescribeInstances --endpoint {url} --region ap-guangzhou "
        "--secretId <SecretId> --secretKey <SecretKey>",
        "             or once for every service: minicvm configure tccli [--profile NAME]",
        f'  Python:    HttpProfile(protocol="http", endpoint="{endpoint}")',
        f'  Node.js:   profile: {{ httpProfile: {{ protocol: "http://", endpoint: "{endpoint}" }} }}',
        f'  Go:        cpf.HttpProfile.Scheme = "HTTP"; cpf.HttpProfile.Endpoint = "{endpoint}"',
        f'  Java:      httpProfile.setProtocol(HttpProfile.REQ_HTTP); httpProfile.setEndpoint("{endpoint}")',
    ]


STORE_SETTINGS = ["data_dir", "database_url"]


def _store(**flags: Any) -> Store:
    from minicvm.store.db import Store, migrate

    settings = _load(**flags)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_url)
    migrate(store.engine)
    return store


@accounts_app.command("create")
@_with_settings_flags(STORE_SETTINGS)
def accounts_create(name: str, **flags: Any) -> None:
    """Add an account; prints its AppId, SecretId and SecretKey."""
    store = _store(**flags)
    try:
        account = accounts.create(store, name)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"AppId:     {account.app_id}\nSecretId:  {account.secret_id}\nSecretKey: {account.secret_key}")


@accounts_app.command("set-password")
@_with_settings_flags(STORE_SETTINGS)
def accounts_set_password(
    name: str,
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 help="The console password (at least 8 characters)."),
    **flags: Any,
) -> None:
    """Set the console password of an account (the console also accepts its SecretId/SecretKey)."""
    from minicvm.domain.passwords import hash_password

    if len(password) < 8:
        console.print("[red]the password must be at least 8 characters[/red]")
        raise typer.Exit(1)
    if not accounts.set_console_password(_store(**flags), name, hash_password(password)):
        console.print(f"[red]no account named {name!r}[/red]")
        raise typer.Exit(1)
    console.print(f"console password set for {name}")


@accounts_app.command("list")
@_with_settings_flags(STORE_SETTINGS)
def accounts_list(**flags: Any) -> None:
    """List accounts with their AppId and SecretId."""
    import sqlalchemy as sa

    from minicvm.store.tables import accounts as table

    store = _store(**flags)
    with store.read() as conn:
        for row in conn.execute(sa.select(table).order_by(table.c.id)):
            console.print(f"{row.name}\tAppId {row.app_id}\t{row.secret_id}")


@configure_app.command("tccli")
@_with_settings_flags(["host", "port", *STORE_SETTINGS])
def configure_tccli(
    profile: str = typer.Option("default", help="The tccli profile to write (~/.tccli/NAME.configure and .credential)."),
    account: str = typer.Option(accounts.DEFAULT_NAME, help="Whose SecretId/SecretKey the profile carries."),
    region: str = typer.Option("ap-guangzhou", help="The profile's region."),
    **flags: Any,
) -> None:
    """Write a tccli profile in which every service tccli knows (cvm, cbs, vpc, clb, as, tag, sts, …) points
    at this server, so that no tccli command with that profile reaches the real cloud."""
    from minicvm import tccli_profile

    if not tccli_profile.valid_name(profile):
        console.print(f"[red]--profile: {profile!r} is not a profile name[/red] (letters, digits, '.', '_' and '-')")
        raise typer.Exit(2)
    settings = _load(**flags)
    store = _store(**{name: flags.get(name) for name in STORE_SETTINGS})
    found = (accounts.ensure_default(store, settings.data_dir) if account == accounts.DEFAULT_NAME
             else accounts.by_name(store, account))
    if found is None:
        console.print(f"[red]no account named {account!r}[/red] (see `minicvm accounts list`)")
        raise typer.Exit(1)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    endpoint = f"http://{host}:{settings.port}"
    path = tccli_profile.write(tccli_profile.TccliProfile(profile, endpoint, found.secret_id, found.secret_key, region))
    console.print(f"wrote {path}: every service → {endpoint}, account {found.name}", soft_wrap=True, highlight=False)
    hint = "" if profile == "default" else f" --profile {profile}"
    console.print(f"try:  tccli cvm DescribeInstances{hint}", highlight=False)
    # tccli itself resets the Auto Scaling endpoint of every profile to Tencent's whenever it runs.
    console.print(f"note: tccli puts `as` back on Tencent's endpoint at every run; for Auto Scaling add the endpoint:\n"
                  f"      tccli as DescribeAutoScalingGroups{hint} --endpoint {endpoint}", highlight=False, soft_wrap=True)


def main() -> None:
    app()
