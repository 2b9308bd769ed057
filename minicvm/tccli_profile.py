"""tccli profiles that send every service to one minicvm server.

`tccli configure set cvm.endpoint …` moves one service; every other one still goes to the real cloud
(`tccli clb …` silently leaves the machine). A profile written here lists every service tccli knows, each
pointed at minicvm, so a service minicvm does not serve gets minicvm's error instead of an answer from
Tencent Cloud."""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

# tccli names the Auto Scaling module `autoscaling`; its API (and minicvm's registry) call it `as`.
_MODULE_OF_SERVICE = {"as": "autoscaling"}


@dataclass(frozen=True)
class TccliProfile:
    name: str
    endpoint: str  # http://host:port
    secret_id: str
    secret_key: str
    region: str = "ap-guangzhou"


def valid_name(name: str) -> bool:
    """A profile name is a file name in ~/.tccli: no separators, nothing hidden."""
    return bool(re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}", name))


def tccli_home(home: Path | None = None) -> Path:
    return (home or Path(os.path.expanduser("~"))) / ".tccli"


def served_modules() -> dict[str, str]:
    """The services minicvm serves, by tccli module name, with the version minicvm answers."""
    from minicvm import services
    from minicvm.services.registry import SERVICES

    services.load()
    return {_MODULE_OF_SERVICE.get(name, name): service.version for name, service in SERVICES.items()}


def tccli_modules() -> dict[str, str]:
    """Every module of the tccli installed beside minicvm with its default version ({} without tccli)."""
    try:
        with warnings.catch_warnings():  # tccli imports the deprecated `imp`; not the caller's concern
            warnings.simplefilter("ignore", DeprecationWarning)
            from tccli.loaders import Loader
    except ImportError:
        return {}
    return {module: versions[0] for module, versions in Loader().get_available_services().items() if versions}


def write(profile: TccliProfile, home: Path | None = None) -> Path:
    """Write `<home>/.tccli/<name>.configure` and `.credential`. Every module of an existing profile
    (written by `tccli configure`, perhaps by another tccli than the one beside minicvm) and every module
    tccli knows here points at minicvm; served modules get minicvm's version, others keep theirs."""
    if not valid_name(profile.name):
        raise ValueError(f"{profile.name!r} is not a tccli profile name")
    directory = tccli_home(home)
    directory.mkdir(parents=True, exist_ok=True)
    configure = directory / f"{profile.name}.configure"
    data: dict[str, object] = {}
    if configure.exists():
        try:
            loaded = json.loads(configure.read_text())
        except ValueError:
            loaded = {}
        if isinstance(loaded, dict):
            data = loaded
    sys_param = data.get("_sys_param")
    sys_param = dict(sys_param) if isinstance(sys_param, dict) else {}
    sys_param.setdefault("output", "json")
    sys_param["region"] = profile.region
    versions = tccli_modules()
    for module, entry in data.items():
        if module != "_sys_param" and isinstance(entry, dict) and entry.get("version"):
            versions[module] = str(entry["version"])
    versions.update(served_modules())
    data["_sys_param"] = sys_param
    for module, version in sorted(versions.items()):
        data[module] = {"endpoint": profile.endpoint, "version": version}
    configure.write_text(json.dumps(data, indent=4))
    credential = directory / f"{profile.name}.credential"
    credential.write_text(json.dumps({"secretId": profile.secret_id, "secretKey": profile.secret_key}, indent=4))
    credential.chmod(0o600)
    return configure


def remove(name: str, home: Path | None = None) -> None:
    for suffix in (".configure", ".credential"):
        (tccli_home(home) / f"{name}{suffix}").unlink(missing_ok=True)
