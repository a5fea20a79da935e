"""Every published pipeline a key's owner may call, as a tool of the MCP server at ``/mcp``.

A key with the ``pipelines:run`` scope (besides ``mcp``) sees one tool per pipeline: its own published
pipelines, then public ones (``MCP_PIPELINE_TOOLS_MAX`` in all). A tool is named ``owner__slug``; its input
schema is the newest version's inputs as JSON Schema (pipelines.json_schemas), its description the
pipeline's. Calling it submits a run like any surface does (credits reserved and settled, the shared limits
of runs.limits; the MCP endpoint's per-key window counts the call), follows the run's events and reports
each node's end as a progress notification, and answers the outputs: text as text, other values as JSON
text, images inline as image content up to ``MCP_INLINE_IMAGE_BYTES`` and as a link to the file above it.
A caller that hangs up or cancels the call cancels the run; so does a run past ``MCP_PIPELINE_WAIT_SECONDS``.

config.asgi plugs :data:`PROVIDER` into the server (shaders.mcp_server knows no runs).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import anyio
from django.conf import settings
from django.db.models import Case, IntegerField, Q, Value, When
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ImageContent, ResourceLink, TextContent
from mcp_types import Tool as MCPTool

from accounts.models import ApiKey
from accounts.scopes import Scope, key_allows
from config.tool_calls import orm_call
from pipelines.json_schemas import input_json_schema
from pipelines.models import Pipeline
from runs import artifacts, services
from runs.api.common import BaseURL, base_url_option
from runs.events import follow
from runs.models import TERMINAL, Artifact, Run, RunStatus, Surface

SEPARATOR = "__"
NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME = 64


def tool_name(pipeline: Pipeline) -> str:
    """``owner__slug`` in the characters tool names allow; a long one is cut and keeps a hash of the whole."""
    name = NAME_CHARS.sub("_", f"{pipeline.owner.username}{SEPARATOR}{pipeline.slug}")
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9]}_{digest}"
    return name


def callable_pipelines(user: Any) -> list[Pipeline]:
    """The published pipelines ``user`` may call: their own first, then public ones, newest first; one per
    tool name (two whose names sanitize alike: the first)."""
    published = (
        Pipeline.objects.filter(Q(owner=user) | Q(is_public=True))
        .filter(versions__isnull=False)
        .select_related("owner")
        .distinct()
        .annotate(others=Case(When(owner=user, then=Value(0)), default=Value(1), output_field=IntegerField()))
        .order_by("others", "-updated_at")
    )
    chosen: dict[str, Pipeline] = {}
    for pipeline in published[: settings.MCP_PIPELINE_TOOLS_MAX]:
        chosen.setdefault(tool_name(pipeline), pipeline)
    return list(chosen.values())


def describe(pipeline: Pipeline, version: Any) -> str:
    about = (pipeline.description or "").strip()
    cost = f"{version.credit_cost} credit{'s' if version.credit_cost != 1 else ''} per call"
    owner = pipeline.owner.username
    head = f"Run the Canvasflow pipeline “{pipeline.name}” by {owner} (version {version.number}; {cost})."
    return f"{head} {about}".strip()


def as_tool(pipeline: Pipeline) -> MCPTool | None:
    version = pipeline.latest_version
    if version is None:
        return None
    return MCPTool(
        name=tool_name(pipeline),
        title=pipeline.name,
        description=describe(pipeline, version),
        inputSchema=input_json_schema(version.input_schema or {}, version.input_examples),
        _meta={
            "canvasflow/pipeline": f"{pipeline.owner.username}/{pipeline.slug}",
            "version": version.number,
        },
    )


class PipelineTools:
    def handles(self, name: str) -> bool:
        return SEPARATOR in name

    async def list_tools(self, key: ApiKey) -> list[MCPTool]:
        if not key_allows(key, (Scope.PIPELINES_RUN,)):
            return []

        def tools() -> list[MCPTool]:
            return [t for t in (as_tool(p) for p in callable_pipelines(key.user)) if t is not None]

        return await orm_call(tools)()

    async def call_tool(
        self, key: ApiKey, name: str, arguments: dict[str, Any], context: Context, base_url: str
    ) -> CallToolResult:
        if not key_allows(key, (Scope.PIPELINES_RUN,)):
            raise ToolError(f"This API key does not have the scope {Scope.PIPELINES_RUN}")
        run = await orm_call(self._submit)(key, name, arguments, base_url)
        try:
            run = await self._follow(run, context)
        except TimeoutError:
            with anyio.CancelScope(shield=True):
                await orm_call(_cancel)(run.pk)
            raise ToolError(
                f"Run {run.pk} did not finish within {settings.MCP_PIPELINE_WAIT_SECONDS} s and was cancelled"
            ) from None
        except BaseException:
            # The caller hung up or cancelled the call: nothing will read the result, so nothing should run.
            with anyio.CancelScope(shield=True):
                await orm_call(_cancel)(run.pk)
            raise
        return await orm_call(self._result)(run, base_url)

    def _submit(self, key: ApiKey, name: str, arguments: dict[str, Any], base_url: str) -> Run:
        pipeline = next((p for p in callable_pipelines(key.user) if tool_name(p) == name), None)
        if pipeline is None or pipeline.latest_version is None:
            raise ToolError(f"Unknown tool: {name}")
        return services.submit_run(
            pipeline=pipeline,
            version=pipeline.latest_version,
            billed_to=key.user,
            requested_by=key.user,
            surface=Surface.MCP,
            inputs=arguments,
            options=base_url_option(BaseURL(base_url)),
        ).run

    async def _follow(self, run: Run, context: Context) -> Run:
        total = max(1, len(run.graph.get("nodes", [])))
        done = 0
        with anyio.fail_after(settings.MCP_PIPELINE_WAIT_SECONDS):
            async for event in follow(run.pk, 0):
                if event.type == "node.completed":
                    done += 1
                    await context.report_progress(done, total, f"{event.node_id} done")
                elif event.type == "node.progress" and event.data.get("progress") is not None:
                    fraction = float(event.data["progress"]) / 100
                    await context.report_progress(
                        min(done + fraction, total), total, f"{event.node_id} running"
                    )
        return await orm_call(Run.objects.get)(pk=run.pk)

    def _result(self, run: Run, base_url: str) -> CallToolResult:
        summary: dict[str, Any] = {"run_id": run.pk, "status": run.status, "credits_used": run.credits_used}
        if run.status != RunStatus.COMPLETED:
            error = run.error or {}
            summary.update(error=error.get("message") or run.status, code=error.get("code"))
            return CallToolResult(
                content=[TextContent(type="text", text=json.dumps(summary))],
                structuredContent=summary,
                isError=True,
            )
        request = BaseURL(base_url)
        ids = [v["artifact_id"] for v in run.outputs.values() if v.get("type") == "image"]
        stored = {a.pk: a for a in Artifact.objects.filter(pk__in=ids)}
        content: list[Any] = []
        outputs: dict[str, Any] = {}
        for key, value in run.outputs.items():
            if value.get("type") == "image":
                art = stored.get(value.get("artifact_id"))
                if art is None:
                    continue
                url = artifacts.public_url(art, request)
                outputs[key] = url
                content.append(image_content(key, art, url))
            else:
                outputs[key] = value.get("value")
                text = value.get("value")
                content.append(
                    TextContent(type="text", text=text if isinstance(text, str) else json.dumps(text))
                )
        summary["outputs"] = outputs
        return CallToolResult(content=content, structuredContent=summary, isError=False)


def image_content(key: str, art: Artifact, url: str) -> ImageContent | ResourceLink:
    if art.size and art.size <= settings.MCP_INLINE_IMAGE_BYTES:
        with art.file.open("rb") as fh:
            data = fh.read()
        return ImageContent(type="image", data=base64.b64encode(data).decode(), mimeType=art.content_type)
    return ResourceLink(
        type="resource_link",
        name=key,
        uri=url,
        mimeType=art.content_type,
        size=art.size or None,
        description=f"{key}: {art.width}×{art.height} {art.content_type}",
    )


def _cancel(run_id: str) -> None:
    run = Run.objects.get(pk=run_id)
    if run.status not in TERMINAL:
        services.cancel_run(run)


PROVIDER = PipelineTools()
