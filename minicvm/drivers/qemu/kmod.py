"""Kernel modules without depmod: read each module's `depends=` from its ELF `.modinfo` section and
order the closure so that every module comes after what it needs (virtio_ring before virtio, …)."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path


def modinfo(path: Path) -> dict[str, str]:
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise ValueError(f"{path.name} is not a 64-bit ELF module")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_offset = sections[shstrndx][4]
    for name_index, _type, _flags, _addr, offset, size, *_ in sections:
        end = data.index(b"\0", names_offset + name_index)
        if data[names_offset + name_index:end] == b".modinfo":
            fields = data[offset:offset + size].split(b"\0")
            return dict(f.decode(errors="replace").split("=", 1) for f in fields if b"=" in f)
    return {}


def module_closure(modules_root: Path, wanted: Iterable[str]) -> list[Path]:
    """`wanted` plus everything they depend on, dependencies first. Built-in modules need nothing."""
    index = {p.name.split(".ko")[0].replace("-", "_"): p for p in modules_root.rglob("*.ko*")}
    ordered: list[Path] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        name = name.replace("-", "_")
        if name in seen:
            return
        if name in chain:
            raise ValueError(f"module dependency cycle: {' -> '.join(chain + (name,))}")
        path = index.get(name)
        if path is None:
            raise ValueError(f"kernel module {name} not found under {modules_root}")
        if path.suffix != ".ko":
            raise ValueError(f"{path.name}: compressed modules are not supported by busybox insmod here")
        for dep in filter(None, modinfo(path).get("depends", "").split(",")):
            visit(dep, chain + (name,))
        seen.add(name)
        ordered.append(path)

    for name in wanted:
        visit(name, ())
    return ordered


SIGNATURE_MARKER = b"~Module signature appended~\n"


def strip_signature(module: bytes) -> bytes:
    """The module without its appended signature: the guest kernel (which does not enforce
    signatures) then skips an RSA verification per module, slow under TCG."""
    if not module.endswith(SIGNATURE_MARKER):
        return module
    info_end = len(module) - len(SIGNATURE_MARKER)
    (sig_len,) = struct.unpack(">I", module[info_end - 4:info_end])
    return module[:info_end - 12 - sig_len]
