"""Node.js and the official Node.js SDK (pinned in tests/node/package.json, installed by `make node-sdk`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent.parent / "node"


def node_or_skip() -> str:
    """The node binary; skips when node or the SDK is missing, fails instead under CI=true."""
    node = shutil.which("node")
    installed = (NODE_DIR / "node_modules" / "tencentcloud-sdk-nodejs-cvm").is_dir()
    if node is None or not installed:
        why = "node is not installed" if node is None else "the Node.js SDK is not installed (run `make node-sdk`)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return node
