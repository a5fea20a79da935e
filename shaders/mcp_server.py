"""The fractafrag MCP server's tools (official SDK, ``MCPServer``); shaders.mcp_http serves it at ``/mcp``.

Besides the shader tools below, providers registered by other parts of the site add tools of their own per
calling key (:class:`ToolProvider`: the pipelines a key's owner may call, runs.api.mcp_tools).

Each call runs as the user of the API key that shaders.mcp_http authenticated (``current_key``). The key's
trust tier decides what an agent may do: a key on probation writes drafts only; trusted and premium keys
may publish and fulfil desires. Tools reach the ORM through ``sync_to_async`` only, and every rule is a
call into the same services as the REST endpoints.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from mcp_types import Tool as MCPTool

from accounts.models import ApiKey, TrustTier
from accounts.scopes import Scope, key_allows
from config.tool_calls import orm_call
from shaders import desires, feed, glsl, services
from shaders.models import ShaderStatus
from shaders.serializers import (
    DesireSerializer,
    ShaderDetailSerializer,
    ShaderSummarySerializer,
    ShaderVersionSerializer,
    ShaderVersionSummarySerializer,
)

PUBLISHING_TIERS = {TrustTier.TRUSTED, TrustTier.PREMIUM}
MAX_LIMIT = 50

current_key: contextvars.ContextVar[ApiKey | None] = contextvars.ContextVar("mcp_api_key", default=None)
# The site's address as the caller reached it (``https://host``), for absolute URLs in tool results.
current_base_url: contextvars.ContextVar[str] = contextvars.ContextVar("mcp_base_url", default="")


class ToolProvider(Protocol):
    """Tools that depend on who calls: listed per key, called by name. Another part of the site plugs its own
    in with :func:`register_tool_provider` (config.asgi adds the published pipelines), so this module knows
    nothing of them."""

    def handles(self, name: str) -> bool: ...

    async def list_tools(self, key: ApiKey) -> list[MCPTool]: ...

    async def call_tool(
        self, key: ApiKey, name: str, arguments: dict[str, Any], context: Context, base_url: str
    ) -> CallToolResult: ...


TOOL_PROVIDERS: list[ToolProvider] = []


def register_tool_provider(provider: ToolProvider) -> None:
    if provider not in TOOL_PROVIDERS:
        TOOL_PROVIDERS.append(provider)


class FractafragServer(MCPServer):
    """The SDK's server, its fixed tools followed by each provider's tools for the calling key."""

    async def list_tools(self) -> list[MCPTool]:
        tools = await super().list_tools()
        key = current_key.get()
        if key is not None:
            for provider in TOOL_PROVIDERS:
                tools += await provider.list_tools(key)
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> CallToolResult | Any:
        key = current_key.get()
        provider = next((p for p in TOOL_PROVIDERS if p.handles(name)), None)
        if provider is None or key is None or context is None:
            return await super().call_tool(name, arguments, context)
        return await provider.call_tool(key, name, arguments, context, current_base_url.get())


server = FractafragServer(
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


def _key(scope: str = Scope.SHADERS_READ) -> ApiKey:
    """The calling key, if it holds ``scope`` (the MCP scope only opens the door; each tool needs its own)."""
    key = current_key.get()
    if key is None:  # pragma: no cover - shaders.mcp_http sets it for every request
        raise ToolError("Not authenticated")
    if not key_allows(key, (scope,)):
        raise ToolError(f"This API key does not have the scope {scope}")
    return key


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

    return await orm_call(run)()


@server.tool()
async def similar_shaders(shader_id: str, limit: int = 10) -> list[dict]:
    """Published shaders that share tags with the given one, most overlapping first."""
    key = _key()
    limit, _ = _page(limit, 0)

    def run() -> list[dict]:
        shader = services.get_visible(key.user, shader_id)
        return _jsonable(_summaries(feed.similar(shader, limit)))

    return await orm_call(run)()


@server.tool()
async def my_shaders(status: str | None = None, limit: int = 20, offset: int = 0) -> list[dict]:
    """Shaders owned by this key's user (draft, published, archived)."""
    key = _key()
    limit, offset = _page(limit, offset)
    if status is not None and status not in ShaderStatus.values:
        raise ToolError("status must be draft, published or archived")
    return await orm_call(
        lambda: _jsonable(_summaries(services.mine(key.user, status)[offset : offset + limit]))
    )()


@server.tool()
async def get_shader(shader_id: str) -> dict:
    """A shader with its GLSL code and metadata."""
    key = _key()
    return await orm_call(lambda: _detail(services.get_visible(key.user, shader_id)))()


@server.tool()
async def list_shader_versions(shader_id: str) -> list[dict]:
    """A shader's version history, newest first."""
    key = _key()

    def run() -> list[dict]:
        shader = services.get_visible(key.user, shader_id)
        versions = shader.versions.select_related("created_by").order_by("-number")
        return _jsonable(ShaderVersionSummarySerializer(versions, many=True).data)

    return await orm_call(run)()


@server.tool()
async def get_shader_version(shader_id: str, version_number: int) -> dict:
    """The GLSL code and metadata of one version."""
    key = _key()

    def run() -> dict:
        shader = services.get_visible(key.user, shader_id)
        return _jsonable(ShaderVersionSerializer(services.get_version(shader, version_number)).data)

    return await orm_call(run)()


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
    key = _key(Scope.SHADERS_WRITE)
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

    return await orm_call(run)()


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
    key = _key(Scope.SHADERS_WRITE)
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

    return await orm_call(run)()


# --- tools: desires -------------------------------------------------------------------------------


@server.tool()
async def list_desires(
    status: str = "open", min_heat: float = 0.0, limit: int = 20, offset: int = 0
) -> list[dict]:
    """Bounties people want shaders for, hottest first."""
    limit, offset = _page(limit, offset)
    return await orm_call(
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

    return await orm_call(run)()


@server.tool()
async def fulfill_desire(desire_id: str, shader_id: str) -> dict:
    """Link one of your published shaders to an open desire."""
    key = _key(Scope.SHADERS_WRITE)
    if key.trust_tier not in PUBLISHING_TIERS:
        raise ToolError(f"This key's trust tier ({key.trust_tier}) may not fulfil desires")

    def run() -> dict:
        desire = desires.fulfill(key.user, desire_id, shader_id)
        return _jsonable({**DesireSerializer(desire).data, **desires.cluster_context(desire)})

    return await orm_call(run)()
