"""The process's file-descriptor limit, shared by the server and the standalone data plane."""

from __future__ import annotations

import resource


def raise_fd_limit() -> None:
    """Every guest, listener, client and backend connection holds a descriptor, and the usual soft limit
    (1024) runs out long before the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
