"""Put first on PYTHONPATH by minicvm's test helpers (`MiniCvm.environment()`): Python subprocesses of a
test — tccli among them — redirect their Tencent Cloud SDK requests to minicvm as the test process does.
A tccli profile alone cannot do it for every service: tccli rewrites the Auto Scaling endpoint of every
profile back to Tencent's on each run. Does nothing unless MINICVM_ENDPOINT is set and the SDK is
installed; then runs the sitecustomize this one shadows, if there is one."""

import importlib.machinery
import importlib.util
import os
import sys


def _redirect() -> None:
    if not os.environ.get("MINICVM_ENDPOINT") or importlib.util.find_spec("tencentcloud") is None:
        return
    try:
        from minicvm.testing.redirect import redirect
    except ImportError:  # a Python without minicvm (another venv): nothing to do here
        return
    services = os.environ.get("MINICVM_SERVICES")
    redirect(os.environ["MINICVM_ENDPOINT"], services.split(",") if services else None)


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    others = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_redirect()
_chain()
