"""The MCP server at /mcp, driven by the official SDK's client over streamable HTTP against a live server
(``live_url``: config.asgi.application on a free port, so the /mcp mount itself is under test)."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from accounts import keys
from accounts.models import ApiKeyKind, Tier, TrustTier
from shaders import desires, services
from tests.shaders.conftest import BAD_CODE, GOOD_CODE, OTHER_CODE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mcp_url(live_url):
    return f"{live_url}/mcp"


def new_key(user, trust=TrustTier.TRUSTED, **kwargs) -> str:
    new = keys.create_api_key(user, "agent", **kwargs)
    new.api_key.trust_tier = trust
    new.api_key.save(update_fields=["trust_tier"])
    return new.raw


def run(coro):
    return asyncio.run(coro)


async def session(url: str, key: str, calls):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return await calls(client)


def data(result):
    assert not result.is_error, result.content
    if result.structured_content is not None:
        value = result.structured_content
        return value["result"] if set(value) == {"result"} else value
    return json.loads(result.content[0].text)


def error_text(result) -> str:
    assert result.is_error
    return result.content[0].text


def test_tools_round_trip(mcp_url, make_user):
    author = make_user(tier=Tier.PRO)
    existing = services.create_shader(
        author, title="Aurora for agents", glsl_code=GOOD_CODE, tags=["sky"], status="published"
    ).shader
    desire = desires.create_desire(author, "a glowing aurora over a lake")
    key = new_key(author)

    async def calls(client):
        out = {"tools": {t.name for t in (await client.list_tools()).tools}}
        out["search"] = data(await client.call_tool("search_shaders", {"query": "aurora"}))
        out["get"] = data(await client.call_tool("get_shader", {"shader_id": str(existing.pk)}))
        out["bad"] = await client.call_tool("create_shader", {"title": "Broken", "glsl_code": BAD_CODE})
        out["created"] = data(
            await client.call_tool(
                "create_shader",
                {"title": "Agent made", "glsl_code": GOOD_CODE, "tags": ["agent"], "status": "published"},
            )
        )
        new_id = out["created"]["id"]
        out["updated"] = data(
            await client.call_tool(
                "update_shader", {"shader_id": new_id, "glsl_code": OTHER_CODE, "change_note": "rounder"}
            )
        )
        out["versions"] = data(await client.call_tool("list_shader_versions", {"shader_id": new_id}))
        out["v1"] = data(
            await client.call_tool("get_shader_version", {"shader_id": new_id, "version_number": 1})
        )
        out["mine"] = data(await client.call_tool("my_shaders", {}))
        out["validate"] = data(await client.call_tool("validate_glsl", {"glsl_code": BAD_CODE}))
        out["desires"] = data(await client.call_tool("list_desires", {}))
        out["desire"] = data(await client.call_tool("get_desire", {"desire_id": str(desire.pk)}))
        out["fulfilled"] = data(
            await client.call_tool("fulfill_desire", {"desire_id": str(desire.pk), "shader_id": new_id})
        )
        out["missing"] = await client.call_tool("get_shader", {"shader_id": "not-a-uuid"})
        return out

    out = run(session(mcp_url, key, calls))
    assert {
        "search_shaders",
        "get_shader",
        "list_shader_versions",
        "get_shader_version",
        "create_shader",
        "update_shader",
        "list_desires",
        "get_desire",
        "fulfill_desire",
        "validate_glsl",
    } <= out["tools"]
    assert [s["title"] for s in out["search"]] == ["Aurora for agents"]
    assert out["get"]["glsl_code"] == GOOD_CODE
    text = error_text(out["bad"])  # "Error executing tool create_shader: {...the API's 422 body...}"
    bad = json.loads(text[text.index("{") :])
    assert bad["status"] == 422 and bad["errors"][0]["line"] == 3
    assert out["created"]["status"] == "published" and out["created"]["current_version"] == 1
    assert out["updated"]["current_version"] == 2 and out["updated"]["glsl_code"] == OTHER_CODE
    assert [v["version_number"] for v in out["versions"]] == [2, 1]
    assert out["versions"][0]["change_note"] == "rounder"
    assert out["v1"]["glsl_code"] == GOOD_CODE
    assert {s["title"] for s in out["mine"]} == {"Aurora for agents", "Agent made"}
    assert out["validate"]["ok"] is False and out["validate"]["errors"][0]["line"] == 3
    assert [d["id"] for d in out["desires"]] == [str(desire.pk)]
    assert out["desire"]["cluster_count"] == 1
    assert out["fulfilled"]["status"] == "fulfilled"
    assert "Shader not found" in error_text(out["missing"])
    # the writes went through the services: versions exist in the database
    assert services.get_visible(author, out["created"]["id"]).versions.count() == 2


def test_drafts_stay_private_over_mcp(mcp_url, make_user):
    owner, other = make_user(tier=Tier.PRO), make_user(tier=Tier.PRO)
    draft = services.create_shader(owner, title="Private", glsl_code=GOOD_CODE, status="draft").shader

    async def calls(client):
        return (
            await client.call_tool("get_shader", {"shader_id": str(draft.pk)}),
            await client.call_tool("update_shader", {"shader_id": str(draft.pk), "title": "Taken"}),
        )

    read, write = run(session(mcp_url, new_key(other), calls))
    assert "Shader not found" in error_text(read) and "Shader not found" in error_text(write)


def test_probation_keys_write_drafts_only(mcp_url, make_user):
    user = make_user(tier=Tier.PRO)
    desire = desires.create_desire(user, "anything")

    async def calls(client):
        return (
            await client.call_tool(
                "create_shader", {"title": "P", "glsl_code": GOOD_CODE, "status": "published"}
            ),
            data(await client.call_tool("create_shader", {"title": "D", "glsl_code": GOOD_CODE})),
            await client.call_tool("fulfill_desire", {"desire_id": str(desire.pk), "shader_id": "x"}),
        )

    published, draft, fulfil = run(session(mcp_url, new_key(user, TrustTier.PROBATION), calls))
    assert "drafts only" in error_text(published)
    assert draft["status"] == "draft"
    assert "may not fulfil" in error_text(fulfil)


def test_http_authentication_and_rate_limit(mcp_url, make_user):
    user = make_user(tier=Tier.PRO)
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    def post(key: str | None, path: str = ""):
        auth = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx2.post(mcp_url + path, json=ping, headers={**headers, **auth}, timeout=30)

    assert post(None).status_code == 401
    assert post("ff_key_made_up").json()["detail"].startswith("A valid fractafrag API key")
    assert post(keys.create_api_key(user, "queue", ApiKeyKind.QUEUE).raw).status_code == 401  # fiz_ keys
    revoked = keys.create_api_key(user, "old")
    keys.revoke_api_key(revoked.api_key)
    assert post(revoked.raw).status_code == 401
    limited = new_key(user, rate_limit_per_hour=3)
    answers = [post(limited) for _ in range(4)]
    assert [r.status_code for r in answers[:3]] == [200, 200, 200], [r.text for r in answers]
    assert answers[2].headers["X-RateLimit-Remaining"] == "0"
    assert answers[3].status_code == 429 and int(answers[3].headers["Retry-After"]) > 0
    assert post(new_key(user), "/anything").status_code == 404


def test_deeply_nested_json_is_refused_not_crashed(mcp_url, make_user):
    """The issue's 100,000-deep array, sent to the MCP surface too: a 4xx, never a 500."""
    key = new_key(make_user(tier=Tier.PRO))
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {key}",
    }
    for body in ("[" * 100_000 + "]" * 100_000, '{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": '
                 + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"):
        resp = httpx2.post(mcp_url, content=body, headers=headers, timeout=30)
        assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:200])
