"""The README's code blocks, pointed at a test server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.support.server import SECRET_ID, SECRET_KEY

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def localise(text: str, server: Any) -> str:
    return (text.replace("127.0.0.1:4566", server.endpoint).replace("<SecretId>", SECRET_ID)
            .replace("<SecretKey>", SECRET_KEY))
