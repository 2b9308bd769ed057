"""The guest image: Debian's cloud kernel plus an initramfs of busybox-static, the project's init and
its guest agent. Built once into a cache directory and rebuilt only when the guest sources change.

    python -m minicvm.drivers.qemu.image [DIR]     # what `make guest-image` runs

Building needs: apt-get (to fetch the kernel package), dpkg, gcc (static glibc), busybox-static."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import lzma
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from minicvm.drivers.qemu.kmod import module_closure, strip_signature

GUEST_SOURCES = Path(__file__).parent / "guest"
KERNEL_META_PACKAGE = "linux-image-cloud-amd64"
# What the guest loads, in any order: module_closure() adds the dependencies and sorts them.
GUEST_MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "qemu_fw_cfg", "evdev", "button")
# Bump when the layout of the image changes in a way the sources' digest does not show.
IMAGE_FORMAT = "2"
KERNEL_LAYOUT = "2"  # the kernel cache: kernel-v<N>/{boot-kernel, modules/, version}
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


class ImageError(Exception):
    """The guest image could not be built (the message says what is missing)."""


@dataclass(frozen=True)
class GuestImage:
    directory: Path

    @property
    def kernel(self) -> Path:
        """An uncompressed vmlinux with a PVH entry point when the kernel has one, else the bzImage."""
        return self.directory / f"kernel-v{KERNEL_LAYOUT}" / "boot-kernel"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"


def default_image_dir(data_dir: Path) -> Path:
    """`MINICVM_GUEST_IMAGE_DIR` (shared by `make guest-image`, tests and servers) or the data dir's."""
    env = os.environ.get("MINICVM_GUEST_IMAGE_DIR")
    return Path(env) if env else data_dir / "guest-image"


def sources_digest() -> str:
    digest = hashlib.sha256(IMAGE_FORMAT.encode())
    for path in sorted(GUEST_SOURCES.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def is_current(directory: Path) -> bool:
    image = GuestImage(directory)
    stamp = directory / "stamp"
    return (image.kernel.is_file() and image.initrd.is_file() and stamp.is_file()
            and stamp.read_text().strip() == sources_digest())


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One builder at a time, across processes (tests, servers and make may race)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_image(directory: Path) -> GuestImage:
    """The cached image, built first if it is missing or stale. Blocking: call it in a thread."""
    if is_current(directory):
        return GuestImage(directory)
    with _locked(directory):
        if not is_current(directory):
            build(directory)
    return GuestImage(directory)


def _run(args: list[str], cwd: Path | None = None, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(args, cwd=cwd, check=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    except FileNotFoundError:
        raise ImageError(f"{args[0]} is not installed (needed to build the guest image)") from None
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-3:]
        raise ImageError(f"{' '.join(args[:3])} failed: {' / '.join(detail)}") from None


def build(directory: Path) -> GuestImage:
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=directory) as tmp_name:
        tmp = Path(tmp_name)
        kernel_dir = _kernel(directory)
        version = (kernel_dir / "version").read_text().strip()
        root = tmp / "root"
        _populate_root(root, kernel_dir, version)
        initrd = tmp / "initrd.img"
        _pack(root, initrd)
        initrd.replace(directory / "initrd.img")
        (directory / "stamp").write_text(sources_digest() + "\n")
    return GuestImage(directory)


def _kernel(directory: Path) -> Path:
    """Boot kernel + modules of the current linux-image-cloud-amd64, fetched once and kept."""
    kernel_dir = directory / f"kernel-v{KERNEL_LAYOUT}"
    if (kernel_dir / "version").is_file():
        return kernel_dir
    for stale in directory.glob("kernel*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="kernel-", dir=directory) as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # apt drops privileges to _apt for the download when it can
        try:
            package = _download_kernel(tmp)
        except ImageError:
            if os.geteuid() != 0:
                raise
            _run(["apt-get", "update", "-q"])  # stale or missing package lists: refresh once, retry
            package = _download_kernel(tmp)
        debs = list(tmp.glob("*.deb"))
        if not debs:
            raise ImageError(f"apt-get download {package} produced no package")
        extracted = tmp / "x"
        _run(["dpkg", "-x", str(debs[0]), str(extracted)])
        vmlinuz = sorted((extracted / "boot").glob("vmlinuz-*"))
        if not vmlinuz:
            raise ImageError(f"{package} holds no kernel")
        version = vmlinuz[0].name.removeprefix("vmlinuz-")
        modules_root = next(p for p in (extracted / "lib/modules" / version, extracted / "usr/lib/modules" / version)
                            if p.is_dir())
        staged = tmp / "kernel"
        (staged / "modules").mkdir(parents=True)
        config = extracted / "boot" / f"config-{version}"
        pvh = config.is_file() and "CONFIG_PVH=y" in config.read_text(errors="replace").splitlines()
        vmlinux = _decompress_bzimage(vmlinuz[0].read_bytes()) if pvh else None
        if vmlinux is not None:
            (staged / "boot-kernel").write_bytes(vmlinux)
        else:
            shutil.copyfile(vmlinuz[0], staged / "boot-kernel")
        order = module_closure(modules_root, GUEST_MODULES)
        for path in order:
            shutil.copyfile(path, staged / "modules" / path.name)
        (staged / "modules" / "load-order").write_text("".join(p.name + "\n" for p in order))
        (staged / "version").write_text(version + "\n")
        shutil.rmtree(kernel_dir, ignore_errors=True)
        staged.rename(kernel_dir)
    return kernel_dir


def _download_kernel(into: Path) -> str:
    """apt-get download the kernel package that linux-image-cloud-amd64 currently points at."""
    depends = _run(["apt-cache", "depends", KERNEL_META_PACKAGE]).stdout.decode()
    package = next((line.split(":", 1)[1].strip() for line in depends.splitlines()
                    if line.strip().startswith("Depends:") and "linux-image-" in line), None)
    if package is None:
        raise ImageError(f"apt-cache does not know {KERNEL_META_PACKAGE} (run apt-get update)")
    _run(["apt-get", "download", "-q", package], cwd=into)
    return package


def _decompress_bzimage(bzimage: bytes) -> bytes | None:
    """The vmlinux inside a bzImage. QEMU boots it through its PVH entry point, which skips the
    decompressor and saves ~0.4 s of emulated CPU per boot under TCG. None if it cannot be had."""
    if bzimage[0x202:0x206] != b"HdrS":
        return None
    setup_sectors = bzimage[0x1F1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", bzimage, 0x248)
    start = (setup_sectors + 1) * 512 + payload_offset
    payload = bzimage[start:start + payload_length]
    # Except for gzip, the kernel build appends the uncompressed size (32-bit little endian).
    (size,) = struct.unpack("<I", payload[-4:])
    try:
        if payload[:2] == b"\x1f\x8b":
            data = gzip.decompress(payload)
            size = len(data)
        elif payload[:6] == b"\xfd7zXZ\x00":
            data = lzma.decompress(payload[:-4])
        elif payload[:4] in (b"\x02\x21\x4c\x18", b"\x28\xb5\x2f\xfd"):  # LZ4 legacy, zstd
            tool = "lz4" if payload[0] == 0x02 else "zstd"
            data = subprocess.run([tool, "-d", "-c"], input=payload[:-4], capture_output=True).stdout
        else:
            return None
    except (OSError, ValueError, EOFError, lzma.LZMAError):
        return None
    return data if data[:4] == b"\x7fELF" and len(data) == size else None


def _busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        # A dynamic binary names its loader (PT_INTERP) within its first page.
        if path.is_file() and b"ld-linux" not in path.read_bytes()[:4096]:
            return path
    raise ImageError("a static busybox is needed: apt-get install busybox-static")


def _populate_root(root: Path, kernel_dir: Path, version: str) -> None:
    for name in ("bin", "sbin", "dev", "proc", "sys", "run", "tmp", "mnt", "etc/acpi/PWRF", "lib/modules"):
        (root / name).mkdir(parents=True, exist_ok=True)
    busybox = root / "bin" / "busybox"
    shutil.copyfile(_busybox(), busybox)
    busybox.chmod(0o755)
    applets = _run([str(busybox), "--list"]).stdout.decode().split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    agent = root / "sbin" / "minicvm-agent"
    sources = sorted(str(p) for p in GUEST_SOURCES.glob("*.c"))
    _run(["gcc", "-static", "-Os", "-s", "-Wall", "-o", str(agent), *sources])
    for source, target in (("init", "init"), ("power-button", "etc/acpi/PWRF/00000080")):
        shutil.copyfile(GUEST_SOURCES / source, root / target)
        (root / target).chmod(0o755)
    for module in (kernel_dir / "modules").iterdir():
        content = module.read_bytes()
        (root / "lib" / "modules" / module.name).write_bytes(strip_signature(content) if module.suffix == ".ko" else content)
    (root / "etc" / "kernel-version").write_text(version + "\n")


def _pack(root: Path, out: Path) -> None:
    """newc cpio via busybox (hosts here have no cpio); uncompressed, which boots faster under TCG."""
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    listing = ("\n".join(names) + "\n").encode()
    with open(out, "wb") as sink:
        try:
            subprocess.run([str(_busybox()), "cpio", "-o", "-H", "newc", "-R", "0:0"], cwd=root, input=listing,
                           stdout=sink, stderr=subprocess.PIPE, check=True)
        except subprocess.CalledProcessError as exc:
            raise ImageError(f"busybox cpio failed: {exc.stderr.decode(errors='replace').strip()}") from None


def main(argv: list[str]) -> int:
    from minicvm.drivers.qemu.accel import detect_accel

    directory = Path(argv[0]) if argv else default_image_dir(Path(".minicvm"))
    try:
        image = ensure_image(directory)
        accel = detect_accel(image)
    except ImageError as exc:
        print(f"guest image: {exc}", file=sys.stderr)
        return 1
    size = (image.kernel.stat().st_size + image.initrd.stat().st_size) / 1e6
    print(f"guest image ready in {directory} ({size:.1f} MB, accelerator: {accel})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
