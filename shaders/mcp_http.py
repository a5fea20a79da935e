"""``/mcp`` over HTTP: API-key authentication, the hourly rate limit, and the SDK's streamable HTTP app.

Every request carries ``Authorization: Bearer ff_key_…``. The key is resolved (unknown, revoked and ``fiz_``
keys get 401 ``{"detail"}``), charged to its hourly sliding window — the same window as the key's REST
calls — and handed to the tools through ``shaders.mcp_server.current_key``.

The transport runs stateless, its answers streamed as SSE: any web process can answer any request, like
the rest of the web tier. Daphne does not speak the ASGI lifespan protocol, so the SDK's session manager is
started lazily by the first request (and stopped by a lifespan shutdown where the server sends one).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host
from mcp.server.transport_security import TransportSecuritySettings

from accounts.keys import resolve_api_key
from accounts.models import ApiKey
from accounts.ratelimit import limiter
from accounts.scopes import Scope, key_allows
from shaders.mcp_server import current_base_url, current_key, server

MCP_PATH = "/mcp"
RATE_WINDOW_S = 3600


def _authenticate(raw: str) -> ApiKey | None:
    close_old_connections()
    try:
        key = resolve_api_key(raw)
        return key if key is not None and key_allows(key, (Scope.MCP,)) else None
    finally:
        close_old_connections()


async def _send_json(send: Callable, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


def _bearer(scope: dict) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            parts = value.decode("latin-1").split()
            if len(parts) == 2 and parts[0].lower() == "bearer":
                return parts[1]
    return ""


def _base_url(scope: dict) -> str:
    """``scheme://host[:port]`` as the caller reached this server, by Django's rules: the Host header if
    ALLOWED_HOSTS admits it (else the server's own address), the scheme a trusted proxy names in
    SECURE_PROXY_SSL_HEADER."""
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", [])}
    host = headers.get("host", "")
    if not host or not validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    scheme = scope.get("scheme", "http")
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        forwarded = headers.get(meta_name.removeprefix("HTTP_").replace("_", "-").lower(), "")
        if forwarded:
            scheme = "https" if forwarded.split(",")[0].strip() == secure_value else "http"
    return f"{scheme}://{host}"


class McpApp:
    """ASGI app for ``/mcp``: authenticate, rate-limit, then the SDK's streamable HTTP app."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app: Any = None
        self._runner: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    async def _started_app(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first request, or a new event loop (tests): a fresh session manager
            self._loop, self._app, self._runner, self._lock = loop, None, None, asyncio.Lock()
        if self._app is not None:
            return self._app
        async with self._lock:
            if self._app is None:
                # Bearer keys, not cookies, authenticate here, so DNS rebinding gains an attacker nothing;
                # the Host check would only break deployments behind other host names.
                # Answers stream as SSE (not one JSON body) so that a tool's progress notifications reach
                # the caller while it runs, and a caller that hangs up cancels the call.
                app = server.streamable_http_app(
                    streamable_http_path=MCP_PATH,
                    stateless_http=True,
                    json_response=False,
                    transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
                )
                ready, self._stop = asyncio.Event(), asyncio.Event()
                stop = self._stop

                async def run() -> None:
                    async with server.session_manager.run():
                        ready.set()
                        await stop.wait()

                self._runner = loop.create_task(run())
                waiter = loop.create_task(ready.wait())
                await asyncio.wait({waiter, self._runner}, return_when=asyncio.FIRST_COMPLETED)
                if self._runner.done():
                    waiter.cancel()
                    self._runner.result()  # re-raises why the session manager failed to start
                self._app = app
        return self._app

    async def shutdown(self) -> None:
        if self._stop is not None and self._runner is not None:
            self._stop.set()
            await self._runner
        self._app = self._runner = None

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"].rstrip("/") != MCP_PATH:
            await _send_json(send, 404, {"detail": "Not found"})
            return
        key = await sync_to_async(_authenticate)(_bearer(scope))
        if key is None:
            await _send_json(
                send,
                401,
                {"detail": "A valid fractafrag API key (Bearer ff_key_…) is required"},
                {"WWW-Authenticate": 'Bearer realm="mcp"'},
            )
            return
        result = await sync_to_async(limiter.hit)(
            f"fractafrag:key:{key.pk}", key.rate_limit_per_hour, RATE_WINDOW_S
        )
        if not result.allowed:
            await _send_json(
                send,
                429,
                {"detail": "Rate limit exceeded"},
                {**result.headers(), "Retry-After": str(result.retry_after)},
            )
            return
        app = await self._started_app()
        extra = [(k.lower().encode(), v.encode()) for k, v in result.headers().items()]

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        token, base = current_key.set(key), current_base_url.set(_base_url(scope))
        try:
            await app({**scope, "path": MCP_PATH}, receive, send_with_headers)
        finally:
            current_key.reset(token)
            current_base_url.reset(base)


mcp_app = McpApp()


def is_mcp_path(path: str) -> bool:
    return path == MCP_PATH or path.startswith(MCP_PATH + "/")
