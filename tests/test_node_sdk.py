"""The official Node.js SDK (pinned in tests/node/package.json, installed by `make test`) runs the shutdown
story (tests/node/story.js) against a real server, with the endpoint set the way the SDK itself expects
(`endpoint` without a scheme, `protocol: "http://"`)."""

from __future__ import annotations

import os
import subprocess

from tests.support.node import NODE_DIR, node_or_skip
from tests.support.server import SECRET_ID, SECRET_KEY


def test_shutdown_story_through_the_node_sdk(server) -> None:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    # The Node SDK sends every request through $http_proxy (it has no no_proxy handling): keep it direct.
    env.update(MINICVM_ENDPOINT=server.endpoint, MINICVM_SECRET_ID=SECRET_ID, MINICVM_SECRET_KEY=SECRET_KEY)
    result = subprocess.run([node_or_skip(), str(NODE_DIR / "story.js")], cwd=NODE_DIR, env=env, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "story: done" in result.stdout
