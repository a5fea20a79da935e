"""The fractafrag MCP server at ``/mcp``: tools for AI agents, the official SDK's streamable HTTP transport.

Every request carries ``Authorization: Bearer ff_key_…``. ``McpAuth`` resolves the key (revoked and ``fiz_``
keys are refused with 401), charges it to the key's hourly sliding window — the same window its REST calls
use — and hands it to the tools through a context variable. The key's trust tier decides what an agent
may do: a key on probation writes drafts only; trusted and premium keys may publish and fulfil desires.

The transport runs stateless with JSON responses: any web process can answer any request, like the rest
of the web tier. Tools reach the ORM through ``sync_to_async`` only.

Daphne does not speak the ASGI lifespan protocol, so the SDK's session manager is started lazily by the
first request (and stopped by a lifespan shutdown where the server sends one).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings

from accounts.keys import resolve_api_key
from accounts.models import ApiKey, ApiKeyKind, TrustTier
from accounts.ratelimit import limiter
from config.errors import CanvasflowError
from shaders import desires, feed, glsl, services
from shaders.models import ShaderStatus
from shaders.serializers import (
    DesireSerializer,
    ShaderDetailSerializer,
    ShaderSummarySerializer,
    ShaderVersionSerializer,
    ShaderVersionSummarySerializer,
)

MCP_PATH = "/mcp"
RATE_WINDOW_S = 3600
PUBLISHING_TIERS = {TrustTier.TRUSTED, TrustTier.PREMIUM}
MAX_LIMIT = 50

current_key: contextvars.ContextVar[ApiKey | None] = contextvars.ContextVar("mcp_api_key", default=None)

server = MCPServer(
    "fractafrag",
    title="fractafrag shaders",
    instructions=(
        "Browse and write GLSL shaders on fractafrag. Shaders are Shadertoy-style: define "
        "void mainImage(out vec4 fragColor, in vec2 fragCoord) using iResolution, iTime, iMouse, "
        "iChannel0..3. "
        "create_shader and update_shader validate the code and report errors by line. Keys on probation "
        "write drafts only."
    ),
)


# --- plumbing -------------------------------------------------------------------------------------


def _key() -> ApiKey:
    key = current_key.get()
    if key is None:  # pragma: no cover - McpAuth always sets it
        raise ToolError("Not authenticated")
    return key


def _orm(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` in Django's sync thread, with connection hygiene and our errors as tool errors."""

    def call(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        except CanvasflowError as exc:
            detail = {"detail": exc.message, "status": exc.status, **exc.details}
            raise ToolError(json.dumps(detail, default=str)) from exc
        finally:
            close_old_connections()

    return sync_to_async(call, thread_sensitive=True)


def _summaries(shaders: Any) -> list[dict]:
    return [dict(s) for s in ShaderSummarySerializer(shaders, many=True).data]


def _detail(shader: Any, warnings: list | None = None) -> dict:
    body = dict(ShaderDetailSerializer(shader).data)
    if warnings is not None:
        body["warnings"] = [w.as_dict() for w in warnings]
    return json.loads(json.dumps(body, default=str))


def _jsonable(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))


def _page(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(int(limit), MAX_LIMIT)), max(0, int(offset))


def _may_publish(key: ApiKey, status: str | None) -> None:
    if status == ShaderStatus.PUBLISHED and key.trust_tier not in PUBLISHING_TIERS:
        raise ToolError(
            f"This key's trust tier ({key.trust_tier}) may create drafts only; "
            "publishing needs a trusted or premium key"
        )


# --- tools: reading -------------------------------------------------------------------------------


@server.tool()
async def search_shaders(
    query: str = "",
    tags: list[str] | None = None,
    shader_type: str | None = None,
    sort: str = "trending",
    limit: int = 20,
    offset: int = 0,
) -> list[dict]:
    """Search published shaders by title (and tags, type). sort: trending | new | top."""
    if sort not in services.SORTS:
        raise ToolError("sort must be one of trending, new, top")
    limit, offset = _page(limit, offset)

    def run() -> list[dict]:
        qs = services.search(
            q=query.strip(),
            tags=services.normalize_tags(tags or []),
            shader_type=shader_type or None,
            sort=sort,
        )
        return _jsonable(_summaries(qs[offset : offset + limit]))

    return await _orm(run)()


@server.tool()
async def similar_shaders(shader_id: str, limit: int = 10) -> list[dict]:
    """Published shaders that share tags with the given one, most overlapping first."""
    key = _key()
    limit, _ = _page(limit, 0)

    def run() -> list[dict]:
        shader = services.get_visible(key.user, shader_id)
        return _jsonable(_summaries(feed.similar(shader, limit)))

    return await _orm(run)()


@server.tool()
async def my_shaders(status: str | None = None, limit: int = 20, offset: int = 0) -> list[dict]:
    """Shaders owned by this key's user (draft, published, archived)."""
    key = _key()
    limit, offset = _page(limit, offset)
    if status is not None and status not in ShaderStatus.values:
        raise ToolError("status must be draft, published or archived")
    return await _orm(
        lambda: _jsonable(_summaries(services.mine(key.user, status)[offset : offset + limit]))
    )()


@server.tool()
async def get_shader(shader_id: str) -> dict:
    """A shader with its GLSL code and metadata."""
    key = _key()
    return await _orm(lambda: _detail(services.get_visible(key.user, shader_id)))()


@server.tool()
async def list_shader_versions(shader_id: str) -> list[dict]:
    """A shader's version history, newest first."""
    key = _key()

    def run() -> list[dict]:
        shader = services.get_visible(key.user, shader_id)
        versions = shader.versions.select_related("created_by").order_by("-number")
        return _jsonable(ShaderVersionSummarySerializer(versions, many=True).data)

    return await _orm(run)()


@server.tool()
async def get_shader_version(shader_id: str, version_number: int) -> dict:
    """The GLSL code and metadata of one version."""
    key = _key()

    def run() -> dict:
        shader = services.get_visible(key.user, shader_id)
        return _jsonable(ShaderVersionSerializer(services.get_version(shader, version_number)).data)

    return await _orm(run)()


@server.tool()
async def validate_glsl(glsl_code: str) -> dict:
    """Check mainImage code without saving it: {ok, errors: [{line, message}], warnings}."""
    result = await sync_to_async(glsl.validate, thread_sensitive=False)(glsl_code)
    return {"ok": result.ok, **result.as_dict()}


# --- tools: writing -------------------------------------------------------------------------------


@server.tool()
async def create_shader(
    title: str,
    glsl_code: str,
    description: str = "",
    tags: list[str] | None = None,
    shader_type: str = "2d",
    status: str = "draft",
) -> dict:
    """Create a shader (validated; errors come back by line). status: draft | published."""
    key = _key()
    _may_publish(key, status)
    if status not in (ShaderStatus.DRAFT, ShaderStatus.PUBLISHED):
        raise ToolError("status must be draft or published")
    if shader_type not in ("2d", "3d", "audio-reactive"):
        raise ToolError("shader_type must be 2d, 3d or audio-reactive")

    def run() -> dict:
        saved = services.create_shader(
            key.user,
            title=title[:120],
            glsl_code=glsl_code,
            description=description[:4000],
            tags=tags or [],
            shader_type=shader_type,
            status=status,
            change_note="Created through MCP",
        )
        return _detail(saved.shader, saved.warnings)

    return await _orm(run)()


@server.tool()
async def update_shader(
    shader_id: str,
    glsl_code: str | None = None,
    title: str | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
    shader_type: str | None = None,
    status: str | None = None,
    change_note: str = "",
) -> dict:
    """Update your shader; a change of code or metadata becomes a new version."""
    key = _key()
    _may_publish(key, status)
    if status is not None and status not in ShaderStatus.values:
        raise ToolError("status must be draft, published or archived")
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("glsl_code", glsl_code),
            ("title", title),
            ("description", description),
            ("tags", tags),
            ("shader_type", shader_type),
            ("status", status),
        )
        if value is not None
    }
    changes["change_note"] = change_note or "Updated through MCP"

    def run() -> dict:
        saved = services.update_shader(key.user, shader_id, changes)
        return _detail(saved.shader, saved.warnings)

    return await _orm(run)()


# --- tools: desires -------------------------------------------------------------------------------


@server.tool()
async def list_desires(
    status: str = "open", min_heat: float = 0.0, limit: int = 20, offset: int = 0
) -> list[dict]:
    """Bounties people want shaders for, hottest first."""
    limit, offset = _page(limit, offset)
    return await _orm(
        lambda: _jsonable(
            DesireSerializer(
                desires.list_desires(status, float(min_heat))[offset : offset + limit], many=True
            ).data
        )
    )()


@server.tool()
async def get_desire(desire_id: str) -> dict:
    """One desire with its cluster context (cluster_count, similar desires)."""

    def run() -> dict:
        desire = desires.get_desire(desire_id)
        return _jsonable({**DesireSerializer(desire).data, **desires.cluster_context(desire)})

    return await _orm(run)()


@server.tool()
async def fulfill_desire(desire_id: str, shader_id: str) -> dict:
    """Link one of your published shaders to an open desire."""
    key = _key()
    if key.trust_tier not in PUBLISHING_TIERS:
        raise ToolError(f"This key's trust tier ({key.trust_tier}) may not fulfil desires")

    def run() -> dict:
        desire = desires.fulfill(key.user, desire_id, shader_id)
        return _jsonable({**DesireSerializer(desire).data, **desires.cluster_context(desire)})

    return await _orm(run)()


# --- ASGI: authentication, rate limit, lazy start -------------------------------------------------


def _authenticate(raw: str) -> ApiKey | None:
    close_old_connections()
    try:
        key = resolve_api_key(raw)
        return key if key is not None and key.kind == ApiKeyKind.FRACTAFRAG else None
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
                app = server.streamable_http_app(
                    streamable_http_path=MCP_PATH,
                    stateless_http=True,
                    json_response=True,
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

        token = current_key.set(key)
        try:
            await app({**scope, "path": MCP_PATH}, receive, send_with_headers)
        finally:
            current_key.reset(token)


mcp_app = McpApp()


def is_mcp_path(path: str) -> bool:
    return path == MCP_PATH or path.startswith(MCP_PATH + "/")
