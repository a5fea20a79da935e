"""Published pipelines as MCP tools (runs.api.mcp_tools), driven by the official ``mcp`` SDK client over
streamable HTTP against a live server (tests.live: config.asgi.application, so the /mcp mount is under
test)."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
import time

import httpx2
import pytest
from django.db import connections
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

from accounts import keys
from accounts.models import Tier, User
from accounts.scopes import Scope
from pipelines import services as pipeline_services
from runs.models import Run, RunStatus, Surface
from tests import live
from tests.runs.conftest import png_bytes, resize_graph, text_graph

pytestmark = pytest.mark.django_db(transaction=True)

AGENT_SCOPES = [Scope.MCP, Scope.PIPELINES_RUN, Scope.SHADERS_READ]


@pytest.fixture
def mcp_url():
    with live.serve() as url:
        yield f"{url}/mcp"


@pytest.fixture
def maker(make_user):
    user = make_user(tier=Tier.PRO, credits_amount=100, username="maker")
    echo = pipeline_services.create_pipeline(
        user, "Echo", graph=text_graph(), description="Says back what it is told."
    )
    pipeline_services.publish(echo)
    pipeline_services.publish(pipeline_services.create_pipeline(user, "Thumbs", graph=resize_graph()))
    pipeline_services.create_pipeline(user, "Draft only", graph=text_graph())  # never published
    return user


@pytest.fixture
def others(make_user):
    other = make_user(tier=Tier.PRO, username="other")
    shared = pipeline_services.create_pipeline(other, "Shared", graph=resize_graph())
    shared.is_public = True
    shared.save(update_fields=["is_public"])
    pipeline_services.publish(shared)
    pipeline_services.publish(pipeline_services.create_pipeline(other, "Secret", graph=text_graph()))
    return other


def agent_key(user, scopes=AGENT_SCOPES) -> str:
    return keys.create_api_key(user, "agent", scopes=scopes).raw


async def session(url: str, key: str, calls):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return await calls(client)


def run(coro):
    return asyncio.run(coro)


def test_tools_list_the_pipelines_the_key_may_call(mcp_url, maker, others):
    async def calls(client):
        return {t.name: t for t in (await client.list_tools()).tools}

    tools = run(session(mcp_url, agent_key(maker), calls))
    assert {"maker__echo", "maker__thumbs", "other__shared", "search_shaders"} <= set(tools)
    assert not {"other__secret", "maker__draft-only"} & set(tools)
    echo, thumbs = tools["maker__echo"], tools["maker__thumbs"]
    assert "Says back what it is told." in echo.description and "credit" in echo.description
    assert echo.input_schema["properties"]["command"]["type"] == "string"
    assert thumbs.input_schema["required"] == ["image_url"]
    assert "data: URI" in thumbs.input_schema["properties"]["image_url"]["description"]
    assert thumbs.input_schema["additionalProperties"] is False

    # a key made for shaders only (no pipelines:run) sees no pipeline and may call none
    async def shader_only(client):
        names = {t.name for t in (await client.list_tools()).tools}
        return names, await client.call_tool("maker__echo", {"command": "x"})

    names, refused = run(session(mcp_url, agent_key(maker, [Scope.MCP, Scope.SHADERS_READ]), shader_only))
    assert "search_shaders" in names and not any("__" in n for n in names)
    assert refused.is_error and "pipelines:run" in refused.content[0].text


def test_calling_a_tool_runs_the_pipeline_and_answers_text_and_images(mcp_url, maker, settings):
    settings.RUNS_EAGER = True
    before = User.objects.get(pk=maker.pk).credit_balance
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes((50, 40))).decode()

    async def calls(client):
        return (
            await client.call_tool("maker__echo", {"command": "hello, agent"}),
            await client.call_tool("maker__thumbs", {"image_url": data_uri}),
        )

    echo, thumbs = run(session(mcp_url, agent_key(maker), calls))
    assert not echo.is_error and echo.content[0].type == "text" and echo.content[0].text == "hello, agent"
    assert echo.structured_content["outputs"] == {"echo": "hello, agent"}
    assert not thumbs.is_error and thumbs.content[0].type == "image"
    assert thumbs.content[0].mime_type == "image/png"
    image = Image.open(io.BytesIO(base64.b64decode(thumbs.content[0].data)))
    assert image.size == (32, 32)
    runs = Run.objects.filter(surface=Surface.MCP).order_by("created_at")
    assert [r.status for r in runs] == [RunStatus.COMPLETED, RunStatus.COMPLETED]
    spent = sum(r.credits_used for r in runs)
    assert spent > 0 and User.objects.get(pk=maker.pk).credit_balance == before - spent


def test_a_large_image_comes_as_a_link_to_the_file(mcp_url, maker, settings):
    settings.RUNS_EAGER = True
    settings.MCP_INLINE_IMAGE_BYTES = 10
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()

    async def calls(client):
        return await client.call_tool("maker__thumbs", {"image_url": data_uri})

    result = run(session(mcp_url, agent_key(maker), calls))
    link = result.content[0]
    assert link.type == "resource_link" and link.mime_type == "image/png" and link.name == "result_url"
    assert str(link.uri).startswith(mcp_url.removesuffix("/mcp") + "/media/")
    fetched = httpx2.get(str(link.uri), timeout=30)
    assert fetched.status_code == 200 and Image.open(io.BytesIO(fetched.content)).size == (32, 32)


def test_progress_notifications_while_the_run_goes(mcp_url, maker, settings):
    settings.RUNS_EAGER = False
    from runs.engine import execute_run

    def worker():
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                queued = Run.objects.filter(status=RunStatus.QUEUED, surface=Surface.MCP).first()
                if queued is not None:
                    time.sleep(0.3)
                    execute_run(queued.pk)
                    return
                time.sleep(0.05)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    progress = []

    async def on_progress(done, total, message):
        progress.append((done, total, message))

    async def calls(client):
        return await client.call_tool("maker__echo", {"command": "slowly"}, progress_callback=on_progress)

    result = run(session(mcp_url, agent_key(maker), calls))
    thread.join(timeout=20)
    assert not result.is_error and result.content[0].text == "slowly"
    assert progress and progress[-1][0] == progress[-1][1] == 2, progress  # t, out
    assert [p[2] for p in progress] == ["t done", "out done"]


def test_a_caller_that_hangs_up_cancels_the_run(mcp_url, maker, settings):
    settings.RUNS_EAGER = False  # no worker: the run waits in the queue until the caller gives up
    before = User.objects.get(pk=maker.pk).credit_balance

    async def calls(client):
        call = asyncio.create_task(client.call_tool("maker__echo", {"command": "never mind"}))
        for _ in range(200):
            if await asyncio.to_thread(Run.objects.filter(surface=Surface.MCP).exists):
                break
            await asyncio.sleep(0.05)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    run(session(mcp_url, agent_key(maker), calls))
    deadline = time.monotonic() + 10
    while Run.objects.get(surface=Surface.MCP).status != RunStatus.CANCELLED and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Run.objects.get(surface=Surface.MCP).status == RunStatus.CANCELLED
    assert (
        User.objects.get(pk=maker.pk).credit_balance == before
    )  # a run cancelled in the queue costs nothing


def test_bad_input_no_credits_and_unknown_tools_are_tool_errors(mcp_url, maker, make_user, others, settings):
    settings.RUNS_EAGER = True

    async def calls(client):
        return (
            await client.call_tool("maker__thumbs", {}),
            await client.call_tool("maker__nothing", {"command": "x"}),
            await client.call_tool("other__secret", {"command": "x"}),
        )

    missing, unknown, private = run(session(mcp_url, agent_key(maker), calls))
    assert missing.is_error and "MISSING_INPUT" in missing.content[0].text
    assert unknown.is_error and "Unknown tool" in unknown.content[0].text
    assert private.is_error and "Unknown tool" in private.content[0].text

    broke = make_user(
        tier=Tier.FREE, username="broke"
    )  # no credits, calling a public pipeline that costs some
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()

    async def no_credits(client):
        return await client.call_tool("other__shared", {"image_url": data_uri})

    refused = run(session(mcp_url, agent_key(broke), no_credits))
    assert refused.is_error and '"status": 402' in refused.content[0].text
