"""The qemu driver with real VMs: the guest contract, power semantics, changes while stopped, a guest
that dies by itself, re-adoption after a restart, memory admission. A handful of small TCG guests,
one or two at a time (the machine has 2 cores), every one of them killed in a finally.

With CI=true these tests fail instead of skipping when QEMU or the image tools are missing."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from minicvm.domain.keys import fingerprint, generate
from minicvm.drivers.base import (
    DiskSpec,
    GuestError,
    GuestEvent,
    GuestEventKind,
    GuestSpec,
    PowerState,
    StopMode,
    StoppedChanges,
)
from minicvm.drivers.qemu.driver import EXITED_REASON, QemuDriver, guest_config
from minicvm.drivers.qemu.process import qmp_socket_path
from minicvm.drivers.qemu.resources import footprint_mib, guest_memory_mib, guest_vcpus
from minicvm.drivers.sim.guest import Guest
from tests.support.drivers import QEMU_BYTES_PER_GIB, qemu_image_dir

MIB_PER_GIB = QEMU_BYTES_PER_GIB
# Every test run gets its own slice of 127/8 so parallel runs and other suites never collide.
NET = f"127.{100 + os.getpid() % 100}.{os.getpid() % 250}"
_next_host = iter(range(1, 250))


@pytest.fixture(scope="module")
def image_dir() -> Path:
    return qemu_image_dir()


Scenario = Callable[[QemuDriver], Awaitable[None]]


def run(image_dir: Path, data_dir: Path, scenario: Scenario, **options: object) -> None:
    """Run a scenario against a fresh driver; afterwards no VM of this data dir may be left running."""

    async def main() -> None:
        driver = QemuDriver(data_dir, image_dir=image_dir, bytes_per_gib=MIB_PER_GIB, boot_timeout=90,
                            **options)  # type: ignore[arg-type]
        try:
            await scenario(driver)
        finally:
            await driver.close()
            _kill_leftovers(data_dir)

    asyncio.run(main())


def _kill_leftovers(data_dir: Path) -> None:
    """Belt and braces: any QEMU whose pid file is still there is killed by its pid."""
    for pid_file in (data_dir / "qemu").glob("*/vm.json"):
        pid = json.loads(pid_file.read_text())["pid"]
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def make_spec(tag: str, *, data_disk: bool = False, user_data: str | None = None, system_gib: int = 20,
              data_gib: int = 1, memory_gib: int = 1) -> GuestSpec:
    disks = [DiskSpec(f"disk-{tag}s", system_gib, True)]
    if data_disk:
        disks.append(DiskSpec(f"disk-{tag}d", data_gib, False))
    encoded = base64.b64encode(user_data.encode()).decode() if user_data else None
    return GuestSpec(instance_id=f"ins-{tag}", host=f"{NET}.{next(_next_host)}", port=8080, cpu=1,
                     memory_gib=memory_gib, disks=tuple(disks), user_data=encoded, host_name=f"host-{tag}")


def url(spec: GuestSpec, path: str) -> str:
    return f"http://{spec.host}:{spec.port}{path}"


async def facts(client: httpx.AsyncClient, spec: GuestSpec) -> dict:
    response = await client.get(url(spec, "/"))
    assert response.status_code == 200
    return response.json()


def test_sizing_sockets_and_guest_config(tmp_path: Path) -> None:
    """No VM needed: the instance-type mapping, socket paths that fit sun_path, the guest's config."""
    assert [guest_memory_mib(g) for g in (1, 2, 4, 16, 32)] == [80, 80, 128, 512, 1024]
    assert [guest_vcpus(c, host_cpus=2) for c in (1, 2, 4, 8, 32)] == [1, 1, 1, 2, 2]
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 4)
    for root in (tmp_path / "d", deep):
        path = qmp_socket_path(root, "ins-abcdefgh")
        assert len(str(path)) <= 100 and path == qmp_socket_path(root, "ins-abcdefgh")
    spec = make_spec("config", data_disk=True, user_data="minicvm_ignore_power_button: yes\n")
    lines = guest_config(spec, {spec.disks[0].disk_id: 25}).splitlines()
    assert "ignore_power_button=1" in lines and f"instance_id={spec.instance_id}" in lines
    assert f"disk={spec.disks[0].disk_id} 25 1" in lines and f"disk={spec.disks[1].disk_id} 1 0" in lines


def test_guest_contract_disk_survives_memory_does_not(image_dir: Path, tmp_path: Path) -> None:
    spec = make_spec("contract", data_disk=True)
    data_id = spec.disks[1].disk_id

    async def scenario(driver: QemuDriver) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            await driver.start(spec)
            assert await driver.power_state(spec.instance_id) is PowerState.RUNNING
            first = await facts(client, spec)
            sim_guest = Guest(spec, {d.disk_id: tmp_path / "sim" / d.disk_id for d in spec.disks}, 1 << 30)
            assert first.keys() == sim_guest.describe().keys()  # the same guest contract as the sim
            assert first["InstanceId"] == spec.instance_id and first["Driver"] == "qemu"
            assert first["BootCount"] == 1 and first["CPU"] == 1 and first["MemoryGiB"] == 1
            assert first["HostName"] == "host-contract" and first["IgnorePowerButton"] is False
            assert [(d["DiskId"], d["SizeGiB"], d["System"]) for d in first["Disks"]] == [
                (spec.disks[0].disk_id, 20, True), (data_id, 1, False)]
            assert (await client.get(url(spec, "/healthz"))).status_code == 200
            assert (await client.put(url(spec, "/disk/kept"), content=b"on disk")).status_code == 204
            assert (await client.put(url(spec, "/mem/lost"), content=b"in memory")).status_code == 204
            put_data = await client.put(url(spec, f"/disk/data?disk={data_id}"), content=b"x" * 1000)
            assert put_data.status_code == 204
            assert (await client.get(url(spec, "/disk/nope?disk=disk-nothere"))).status_code == 404
            # The data disk is 16 MiB of ext4: 15 MiB more cannot fit, like a full disk.
            full = await client.put(url(spec, f"/disk/big?disk={data_id}"), content=b"z" * (15 << 20))
            assert full.status_code == 507
            used = {d["DiskId"]: d["UsedBytes"] for d in (await facts(client, spec))["Disks"]}
            assert used[data_id] == 1000

            began = time.monotonic()
            assert await driver.stop(spec.instance_id, StopMode.SOFT, 10) is True
            assert time.monotonic() - began < 5
            assert await driver.power_state(spec.instance_id) is PowerState.OFF
            with pytest.raises(httpx.TransportError):
                await client.get(url(spec, "/healthz"), timeout=2)

            await driver.start(spec)
            second = await facts(client, spec)
            assert second["BootCount"] == 2 and second["BootId"] != first["BootId"]
            assert (await client.get(url(spec, "/disk/kept"))).content == b"on disk"
            assert (await client.get(url(spec, "/mem/lost"))).status_code == 404
            assert (await client.get(url(spec, f"/disk/data?disk={data_id}"))).content == b"x" * 1000
            assert (await client.delete(url(spec, "/disk/kept"))).status_code == 204
            assert (await client.get(url(spec, "/disk/kept"))).status_code == 404
            assert await driver.stop(spec.instance_id, StopMode.HARD, 0) is True
            assert await driver.power_state(spec.instance_id) is PowerState.OFF

    run(image_dir, tmp_path / "data", scenario)


def test_guest_ignoring_the_power_button_needs_a_hard_stop(image_dir: Path, tmp_path: Path) -> None:
    spec = make_spec("ignorer", user_data="#cloud-config\nminicvm_ignore_power_button: true\n")

    async def scenario(driver: QemuDriver) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            await driver.start(spec)
            assert (await facts(client, spec))["IgnorePowerButton"] is True
            assert await driver.stop(spec.instance_id, StopMode.SOFT, 1.5) is False
            assert await driver.power_state(spec.instance_id) is PowerState.RUNNING
            assert (await client.get(url(spec, "/healthz"))).status_code == 200
            began = time.monotonic()
            assert await driver.stop(spec.instance_id, StopMode.HARD, 0) is True
            assert time.monotonic() - began < 3
            assert await driver.power_state(spec.instance_id) is PowerState.OFF

    run(image_dir, tmp_path / "data", scenario)


def test_changes_while_stopped_are_seen_at_the_next_boot(image_dir: Path, tmp_path: Path) -> None:
    spec = make_spec("changes", data_disk=True)
    public, _ = generate("test-key")
    grown = GuestSpec(**{**spec.__dict__, "disks": (DiskSpec(spec.disks[0].disk_id, 30, True),
                                                    DiskSpec(spec.disks[1].disk_id, 3, False))})

    async def scenario(driver: QemuDriver) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            await driver.start(spec)
            assert (await client.put(url(spec, "/disk/before"), content=b"written")).status_code == 204
            # A hard stop leaves the journal dirty: the host side must replay it before editing.
            assert await driver.stop(spec.instance_id, StopMode.HARD, 0) is True
            await driver.apply_while_stopped(spec, StoppedChanges(
                password_hash="$6$salt$hash", password_changed_at="2026-01-02T03:04:05Z", login_user="ubuntu",
                authorized_keys=(public,), disk_sizes={spec.disks[0].disk_id: 30, spec.disks[1].disk_id: 3}))
            await driver.start(grown)
            seen = await facts(client, grown)
            assert seen["LoginUser"] == "ubuntu"
            assert seen["PasswordChangedAt"] == "2026-01-02T03:04:05Z"
            assert seen["KeyFingerprints"] == [fingerprint(public)]
            assert [d["SizeGiB"] for d in seen["Disks"]] == [30, 3]
            assert (await client.get(url(spec, "/disk/before"))).content == b"written"
            # 3 "GiB" = 48 MiB now: 15 MiB fits where it did not at 1 "GiB".
            data = spec.disks[1].disk_id
            assert (await client.put(url(spec, f"/disk/big?disk={data}"), content=b"z" * (15 << 20))).status_code == 204
            with pytest.raises(GuestError, match="stopped"):
                await driver.apply_while_stopped(grown, StoppedChanges(disk_sizes={data: 4}))

    run(image_dir, tmp_path / "data", scenario)


def test_restart_readopts_running_guests_and_sees_them_die(image_dir: Path, tmp_path: Path) -> None:
    spec = make_spec("adopted")
    data_dir = tmp_path / "data"

    async def scenario(first: QemuDriver) -> None:
        await first.start(spec)
        pid = first.vms[spec.instance_id].pid
        await first.close(keep_running=True)  # minicvm stops but leaves its guests running
        second = QemuDriver(data_dir, image_dir=image_dir, bytes_per_gib=MIB_PER_GIB)
        try:
            assert await second.power_state(spec.instance_id) is PowerState.RUNNING
            assert second.vms[spec.instance_id].pid == pid
            await second.start(spec)  # already on: returns at once
            began = time.monotonic()
            assert await second.stop(spec.instance_id, StopMode.SOFT, 10) is True  # through the old QMP socket
            assert time.monotonic() - began < 5

            await second.start(spec)
            events: list[GuestEvent] = []
            second.subscribe(events.append)
            vm = second.vms[spec.instance_id]
            os.kill(vm.pid, signal.SIGKILL)  # the guest dies by itself: no SHUTDOWN, the monitor just closes
            deadline = time.monotonic() + 1
            while not events:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            assert events == [GuestEvent(spec.instance_id, GuestEventKind.WENT_OFF, EXITED_REASON)]
            assert await second.power_state(spec.instance_id) is PowerState.OFF
            assert not vm.pid_file.exists() and not vm.qmp_socket.exists()
            await second.sweep()
            assert len(events) == 1
        finally:
            await second.close()

    run(image_dir, data_dir, scenario)


def test_memory_admission_and_address_clash(image_dir: Path, tmp_path: Path) -> None:
    one = make_spec("admitted")
    two = make_spec("refused")
    budget = footprint_mib(guest_memory_mib(1)) + 50  # room for one small guest, not two

    async def scenario(driver: QemuDriver) -> None:
        await driver.start(one)
        with pytest.raises(GuestError) as refused:
            await driver.start(two)
        assert str(refused.value).startswith("ResourceInsufficient.SpecifiedInstanceType:")
        assert two.instance_id in str(refused.value)
        assert await driver.power_state(two.instance_id) is PowerState.OFF
        await driver.destroy(one.instance_id)
        assert not (driver.state_root / one.instance_id).exists()

        # Somebody else holds the guest's address: QEMU gives up at once and nothing is left behind.
        with socket.socket() as squatter:
            squatter.bind((two.host, two.port))
            squatter.listen()
            began = time.monotonic()
            with pytest.raises(GuestError, match="could not listen"):
                await driver.start(two)
            assert time.monotonic() - began < 10
            assert await driver.power_state(two.instance_id) is PowerState.OFF
            assert not list((driver.state_root).glob("*/vm.json"))

    run(image_dir, tmp_path / "data", scenario, memory_budget_mib=budget)
