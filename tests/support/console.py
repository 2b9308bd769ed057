"""The console's HTTP surface without a browser: sign in with the login form (its CSRF cookie and
field), then call the JSON endpoints with the session cookie and the page's CSRF token."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.server import SECRET_ID, SECRET_KEY


def form_csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


class ConsoleClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
        self.csrf = ""

    def login_form(self) -> str:
        return form_csrf(self.http.get("/console/login").text)

    def sign_in(self, secret_id: str = SECRET_ID, secret_key: str = SECRET_KEY, **fields: str) -> httpx.Response:
        self.http.cookies.clear()  # a fresh sign-in: a live session would redirect the form away
        form = {"csrf": self.login_form(), **({"SecretId": secret_id, "SecretKey": secret_key} if not fields else fields)}
        answer = self.http.post("/console/login", data=form)
        if answer.status_code == 303:
            page = self.http.get("/console/")
            found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
            assert found
            self.csrf = found.group(1)
        return answer

    def call(self, service: str, action: str, region: str = "ap-guangzhou", **params: Any) -> dict[str, Any]:
        answer = self.http.post("/console/api/call", headers={"X-CSRF-Token": self.csrf},
                                json={"Service": service, "Action": action, "Region": region, "Params": params})
        assert answer.status_code == 200, answer.text
        return answer.json()["Response"]

    def close(self) -> None:
        self.http.close()
