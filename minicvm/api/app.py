"""The wire: verify the signature, pick the service from the credential scope, parse parameters, call
the action, and wrap the result or the error in {"Response": …} with HTTP 200 and exactly
`Content-Type: application/json` (anything else makes the SDK lose the error)."""

from __future__ import annotations

import hmac
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

from minicvm import accounts, ids, principals
from minicvm.accounts import Account
from minicvm.api import params, signing
from minicvm.errors import ApiError
from minicvm.principals import Principal
from minicvm.services.context import Platform
from minicvm.services.dispatch import ListingCache, check_region, find_action, invoke
from minicvm.services.registry import find_service

log = logging.getLogger(__name__)

def envelope(payload: dict[str, Any]) -> bytes:
    return orjson.dumps({"Response": payload})


def error_payload(error: ApiError, request_id: str) -> dict[str, Any]:
    return {"Error": {"Code": error.code, "Message": error.message}, "RequestId": request_id}


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


class ApiEndpoint:
    def __init__(self, cloud: Platform) -> None:
        self.cloud = cloud
        self._accounts: dict[str, Account] = {}
        self._cam_keys: dict[str, tuple[Any, principals.KeyHolder | None]] = {}
        self.listings = ListingCache()

    def _caller(self, secret_id: str, token: str | None) -> tuple[Account, Principal | None, str]:
        """The account, the principal (None for the account's own root key) and the key to verify with. Root
        keys are remembered; CAM keys only while the store is unchanged and STS credentials not at all, so
        that disabling or deleting one, or its expiry, takes effect on the next request."""
        account = self._accounts.get(secret_id)
        if account is not None:
            return account, None, account.secret_key
        holder = self._cam_key(secret_id)
        if holder is not None and holder.active:
            return holder.account, holder.principal, holder.secret_key
        account = None if holder is not None else accounts.by_secret_id(self.cloud.store, secret_id)
        if account is not None:
            self._accounts[secret_id] = account
            return account, None, account.secret_key
        temporary = None if holder is not None else principals.by_temporary_key(self.cloud.store, secret_id)
        if temporary is None:
            raise ApiError("AuthFailure.SecretIdNotFound",
                           "The SecretId is not found or is disabled, please ensure that your SecretId is correct.")
        if not token or not hmac.compare_digest(token.encode(), temporary.token.encode()):
            raise ApiError("AuthFailure.TokenFailure",
                           "A temporary credential needs the X-TC-Token it was issued with.")
        if temporary.expires <= datetime.now(UTC):
            raise ApiError("AuthFailure.TokenFailure",
                           f"The temporary credential expired at {temporary.expires.isoformat()}.")
        return temporary.account, temporary.principal, temporary.secret_key

    def _cam_key(self, secret_id: str) -> principals.KeyHolder | None:
        """A CAM key's holder, remembered while the store is unchanged (any write, a disabled key's included,
        reads it again); not remembered where the store cannot tell (PostgreSQL)."""
        generation = self.cloud.store.generation()
        cached = self._cam_keys.get(secret_id)
        if cached is not None and generation is not None and cached[0] == generation:
            return cached[1]
        holder = principals.by_access_key(self.cloud.store, secret_id)
        if generation is not None:
            if len(self._cam_keys) >= 1024:
                self._cam_keys.clear()
            self._cam_keys[secret_id] = (generation, holder)
        return holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A bare ASGI app: the server hands it every request for `/` directly, without a router or
        middleware in between (they cost more CPU than verifying the signature)."""
        request_id = ids.new_request_id()
        try:
            payload = await self._handle(scope, receive, request_id)
            payload["RequestId"] = request_id
        except ApiError as exc:
            payload = error_payload(exc, request_id)
        except Exception as exc:  # never a 500: the SDK would hide the message behind ServerNetworkError
            log.exception("unhandled error in request %s", request_id)
            internal = ApiError("InternalError", f"An internal error occurred: {exc.__class__.__name__}.")
            payload = error_payload(internal, request_id)
        body = envelope(payload)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        limit = self.cloud.settings.max_body_bytes
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ApiError("RequestSizeLimitExceeded", f"The request body is larger than {limit} bytes.")
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ApiError("InvalidParameter", "The client went away before the request body was complete.")
            body += message.get("body", b"")
            if len(body) > limit:
                raise ApiError("RequestSizeLimitExceeded", f"The request body is larger than {limit} bytes.")
            if not message.get("more_body"):
                return body

    async def _handle(self, scope: Scope, receive: Receive, request_id: str) -> dict[str, Any]:
        method = scope["method"]
        if method not in ("GET", "POST"):
            raise ApiError("UnsupportedProtocol", f"HTTP method {method} is not supported; use POST or GET.")
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:  # the first of repeated headers counts, as Starlette would have it
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        body = await self._read_body(headers, receive) if method == "POST" else b""
        credential = signing.parse_authorization(headers.get("authorization"))
        account, principal, secret_key = self._caller(credential.secret_id, headers.get("x-tc-token"))
        timestamp = headers.get("x-tc-timestamp")
        signing.check_timestamp(timestamp, time.time(), self.cloud.settings.signature_window)
        query = scope.get("query_string", b"").decode("latin-1")
        signing.verify(
            credential,
            secret_key,
            method=method,
            query=query if method == "GET" else "",
            headers={name: headers.get(name, "") for name in (*credential.signed_headers, "x-tc-content-sha256")},
            body=body,
            timestamp=timestamp,
        )

        action_name = headers.get("x-tc-action", "")
        version = headers.get("x-tc-version", "")
        service = find_service(credential.service, action_name, version)
        if service is None:
            raise ApiError("InvalidAction", f"The action `{action_name}` does not exist here (the credential scope "
                                            f"names `{credential.service}`, which is no product either).")
        find_action(service.name, action_name)
        if version != service.version:
            raise ApiError("NoSuchVersion",
                           f"The API version `{version}` does not exist for {service.name}; use {service.version}.")
        region = headers.get("x-tc-region", "")
        check_region(service, action_name, region)
        if method == "POST":
            data = params.parse_json_body(body)
        else:
            data = params.unflatten_query(parse_qsl(query, keep_blank_values=True))
        return await invoke(self.cloud, account, region, request_id, service.name, action_name, data,
                            strict=method == "POST", language=headers.get("x-tc-language", "en-US"),
                            cache=self.listings, principal=principal, source_ip=_client_ip(scope))
