"""`minicvm serve` and the admin commands."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

from minicvm import accounts
from minicvm.config import Settings

app = typer.Typer(help="minicvm: a Tencent Cloud API 3.0 compatible compute service on one machine.",
                  no_args_is_help=True)
accounts_app = typer.Typer(help="Manage accounts (each has its own AppId and SecretId/SecretKey).")
app.add_typer(accounts_app, name="accounts")
console = Console()

DataDir = typer.Option(None, "--data-dir", help="Where the database, disks and logs live [default: .minicvm].")
DatabaseUrl = typer.Option(None, "--database-url", help="postgresql://… (default: SQLite under the data dir).")


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to listen on [default: 127.0.0.1]."),
    port: int = typer.Option(None, help="Port to listen on [default: 4566]."),
    data_dir: Path = DataDir,
    database_url: str = DatabaseUrl,
    driver: str = typer.Option(None, help="Hypervisor driver: sim (in-process guests) | qemu (real VMs) [default: sim]."),
    qemu_accel: str = typer.Option(None, help="qemu: kvm | tcg | auto (probe once per host) [default: auto]."),
    qemu_memory_mib: int = typer.Option(None, help="qemu: memory budget for guests, MiB [default: 3/4 of RAM]."),
    boot_seconds: float = typer.Option(None, help="Simulated boot time [default: 1.0]."),
    shutdown_seconds: float = typer.Option(None, help="Simulated OS shutdown time [default: 0.5]."),
    soft_stop_timeout: float = typer.Option(None, help="How long a SOFT stop waits for the guest [default: 5]."),
    guest_network: str = typer.Option(None, help="First loopback address for guests [default: 127.64.0.0]."),
    async_op_seconds: float = typer.Option(None, help="Time a disk attach or EIP bind takes [default: 0.2]."),
    sim_bytes_per_gib: int = typer.Option(None, help="Bytes a simulated disk holds per GiB [default: 2**30]."),
    clb_network: str = typer.Option(None, help="First loopback address for load balancer VIPs [default: 127.32.0.0]."),
    drain_seconds: float = typer.Option(None, help="Drain CLB targets before planned stops, seconds [default: 0 = off]."),
    clb_time_scale: float = typer.Option(None, help="Multiply health-check intervals/timeouts by this [default: 1]."),
    as_interval: float = typer.Option(None, help="Seconds between Auto Scaling passes [default: 1]."),
    keep_guests_running: bool = typer.Option(False, help="Leave guests running when the server stops."),
    log_level: str = typer.Option("info", help="Log level."),
) -> None:
    """Serve the API (and everything else) until interrupted."""
    import uvicorn

    from minicvm.cloud import Cloud
    from minicvm.server import build_app, raise_fd_limit

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.load(host=host, port=port, data_dir=data_dir, database_url=database_url, driver=driver,
                             boot_seconds=boot_seconds, shutdown_seconds=shutdown_seconds,
                             soft_stop_timeout=soft_stop_timeout, guest_network=guest_network,
                             async_op_seconds=async_op_seconds, sim_bytes_per_gib=sim_bytes_per_gib,
                             clb_network=clb_network, drain_seconds=drain_seconds, clb_time_scale=clb_time_scale,
                             as_interval=as_interval, qemu_accel=qemu_accel, qemu_memory_mib=qemu_memory_mib)
    raise_fd_limit()
    cloud = Cloud.open(settings)
    account = accounts.ensure_default(cloud.store, settings.data_dir)
    console.print(f"[bold]minicvm[/bold] serving on http://{settings.host}:{settings.port}")
    console.print("  region:    ap-guangzhou (also ap-shanghai, ap-beijing)")
    console.print(f"  SecretId:  {account.secret_id}")
    console.print(f"  SecretKey: {account.secret_key}")
    console.print(f"  data dir:  {settings.data_dir.resolve()}   database: {settings.db_url.split('@')[-1]}")
    console.print(f"  driver:    {settings.driver}")
    app_ = build_app(cloud, keep_guests_running)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            cloud.begin_shutdown()
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

    config = uvicorn.Config(app_, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            loop="uvloop", http="httptools", timeout_graceful_shutdown=5,
                            proxy_headers=False, server_header=False)
    Server(config).run()


def _store(data_dir: Path | None, database_url: str | None):  # type: ignore[no-untyped-def]
    from minicvm.store.db import Store, migrate

    settings = Settings.load(data_dir=data_dir, database_url=database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_url)
    migrate(store.engine)
    return store


@accounts_app.command("create")
def accounts_create(name: str, data_dir: Path = DataDir, database_url: str = DatabaseUrl) -> None:
    """Add an account; prints its AppId, SecretId and SecretKey."""
    store = _store(data_dir, database_url)
    try:
        account = accounts.create(store, name)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"AppId:     {account.app_id}\nSecretId:  {account.secret_id}\nSecretKey: {account.secret_key}")


@accounts_app.command("set-password")
def accounts_set_password(
    name: str,
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 help="The console password (at least 8 characters)."),
    data_dir: Path = DataDir,
    database_url: str = DatabaseUrl,
) -> None:
    """Set the console password of an account (the console also accepts its SecretId/SecretKey)."""
    from minicvm.domain.passwords import hash_password

    if len(password) < 8:
        console.print("[red]the password must be at least 8 characters[/red]")
        raise typer.Exit(1)
    if not accounts.set_console_password(_store(data_dir, database_url), name, hash_password(password)):
        console.print(f"[red]no account named {name!r}[/red]")
        raise typer.Exit(1)
    console.print(f"console password set for {name}")


@accounts_app.command("list")
def accounts_list(data_dir: Path = DataDir, database_url: str = DatabaseUrl) -> None:
    """List accounts with their AppId and SecretId."""
    import sqlalchemy as sa

    from minicvm.store.tables import accounts as table

    store = _store(data_dir, database_url)
    with store.read() as conn:
        for row in conn.execute(sa.select(table).order_by(table.c.id)):
            console.print(f"{row.name}\tAppId {row.app_id}\t{row.secret_id}")


def main() -> None:
    app()
