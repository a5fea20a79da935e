"""Fizzly as a client written against its seed sees it (issue: every surface held to its seed).

A real SSE client library (httpx-sse) reads the stream, with reconnection by Last-Event-ID; completion events
carry the node's output URL as the seed's browser example reads it; answers use only the seed's statuses and
codes, its own 404 for unknown paths and rate-limit headers even on 401s."""

from __future__ import annotations

import httpx
import pytest
from asgiref.sync import async_to_sync
from httpx_sse import aconnect_sse

from accounts.models import Tier
from config.asgi import application
from runs.models import Run, RunStatus
from tests.runs.test_fizzly import base

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fiz(queue_key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Key {queue_key}")
    client.raw_key = queue_key
    return client


def read_sse(url: str, key: str, last_event_id: str | None = None) -> list:
    """Every event of the stream at ``url``, read by httpx-sse (it sends Accept: text/event-stream)."""

    async def run():
        headers = {"Authorization": f"Key {key}"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            async with aconnect_sse(client, "GET", url, headers=headers) as source:
                assert source.response.status_code == 200
                return [event async for event in source.aiter_sse()]

    return async_to_sync(run)()


def test_a_real_sse_client_reads_the_stream_and_resumes(eager, fiz, published, image_server):
    pipeline, _ = published
    url = image_server.add_image("/sse.png")
    rid = fiz.post(base(pipeline), {"inputs": {"image_url": url}}, format="json").json()["request_id"]
    events = read_sse(f"{base(pipeline)}/requests/{rid}/status/stream", fiz.raw_key)
    assert [e.event for e in events] == ["submit", "completion"] * 4 + ["output"]
    assert all(e.id for e in events)
    # the seed's browser example reads e.data.output.url on completion
    completions = {e.json()["node"]: e.json()["output"] for e in events if e.event == "completion"}
    for node in ("resize", "gray"):
        out = completions[node]
        assert out["url"].startswith("http://testserver/media/") and "signature=" in out["url"]
        assert out["width"] == 32 and out["height"] == 32
    from django.test import Client

    path = completions["gray"]["url"].removeprefix("http://testserver")
    assert Client().get(path).status_code == 200
    # reconnecting with Last-Event-ID resumes after the events already seen
    resumed = read_sse(f"{base(pipeline)}/requests/{rid}/status/stream", fiz.raw_key, events[3].id)
    assert [e.id for e in resumed] == [e.id for e in events[4:]]
    # after the last event there is nothing more: 204 stops an EventSource from reconnecting for ever
    done = fiz.get(f"{base(pipeline)}/requests/{rid}/status/stream", HTTP_LAST_EVENT_ID=events[-1].id)
    assert done.status_code == 204


def test_stream_errors_are_json_in_fizzlys_shape_whatever_the_accept(fiz, published):
    pipeline, _ = published
    resp = fiz.get(f"{base(pipeline)}/requests/run_nope/status/stream", HTTP_ACCEPT="text/event-stream")
    assert resp.status_code == 404 and resp.json()["code"] == "NOT_FOUND"


def test_only_the_seeds_statuses_and_codes(fiz, published, settings):
    pipeline, _ = published
    settings.RUN_TIME_BUDGET_SECONDS = 0.001
    resp = fiz.post(base(pipeline), {"inputs": {"image_url": "data:image/png;base64,xx"}}, format="json")
    assert resp.status_code == 400 and resp.json()["code"] == "BAD_REQUEST"
    assert resp.json()["details"]["reason"]


def test_unmatched_paths_answer_in_fizzlys_shape_with_rate_limit_headers(fiz, published):
    pipeline, _ = published
    resp = fiz.get(f"{base(pipeline)}/requests/run_x/nothing/here")
    assert resp.status_code == 404
    assert set(resp.json()) >= {"error", "code", "details"} and resp.json()["code"] == "NOT_FOUND"
    assert resp["X-RateLimit-Limit"] == "60"
    anonymous = fiz.__class__().get(f"{base(pipeline)}/requests/run_x/status")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "UNAUTHORIZED"
    assert int(anonymous["X-RateLimit-Remaining"]) >= 0 and anonymous["X-RateLimit-Limit"] == "60"


def test_result_of_a_failed_request_says_it_failed(eager, fiz, published, image_server):
    pipeline, _ = published
    rid = fiz.post(
        base(pipeline), {"inputs": {"image_url": image_server.url("/missing.png")}}, format="json"
    ).json()["request_id"]
    assert Run.objects.get(pk=rid).status == RunStatus.FAILED
    resp = fiz.get(f"{base(pipeline)}/requests/{rid}")
    body = resp.json()
    assert resp.status_code == 400 and body["error"].startswith("Request failed")
    assert body["details"]["status"] == "FAILED" and body["details"]["error_code"]


def test_cancel_of_a_finished_request_uses_one_casing(eager, fiz, published, image_server):
    pipeline, _ = published
    rid = fiz.post(
        base(pipeline), {"inputs": {"image_url": image_server.add_image("/c.png")}}, format="json"
    ).json()["request_id"]
    body = fiz.put(f"{base(pipeline)}/requests/{rid}/cancel").json()
    assert body["code"] == "ALREADY_COMPLETED" and body["current_status"] == "COMPLETED"
    assert body["details"]["current_status"] == "COMPLETED"


def test_timestamps_are_the_seeds(eager, fiz, published, image_server):
    pipeline, _ = published
    rid = fiz.post(
        base(pipeline), {"inputs": {"image_url": image_server.add_image("/t.png")}}, format="json"
    ).json()["request_id"]
    body = fiz.get(f"{base(pipeline)}/requests/{rid}").json()
    for stamp in [body["started_at"], body["completed_at"], *(e["started_at"] for e in body["logs"])]:
        assert stamp.endswith("Z") and "." not in stamp and "+" not in stamp, stamp


def test_free_users_are_refused_with_the_seeds_403(make_user, published):
    from rest_framework.test import APIClient

    from accounts import keys
    from accounts.models import ApiKeyKind

    pipeline, _ = published
    free = make_user(tier=Tier.FREE)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Key {keys.create_api_key(free, 'q', ApiKeyKind.QUEUE).raw}")
    resp = client.post(base(pipeline), {"inputs": {}}, format="json")
    assert resp.status_code == 403 and resp.json()["code"] == "FORBIDDEN"


def test_status_says_whether_the_webhook_was_delivered(eager, fiz, published, image_server):
    pipeline, _ = published
    hook = image_server.url("/hook")
    resp = fiz.post(
        f"{base(pipeline)}?webhook={hook}",
        {"inputs": {"image_url": image_server.add_image("/w.png")}},
        format="json",
    )
    rid = resp.json()["request_id"]
    status = fiz.get(f"{base(pipeline)}/requests/{rid}/status").json()
    assert set(status["delivery"]) >= {"status", "attempts", "last_status_code"}
    assert status["delivery"]["status"] == "delivered" and status["delivery"]["attempts"] == 1
    assert status["delivery"]["last_status_code"] == 200
    plain = fiz.post(
        base(pipeline), {"inputs": {"image_url": image_server.add_image("/v.png")}}, format="json"
    )
    assert "delivery" not in fiz.get(f"{base(pipeline)}/requests/{plain.json()['request_id']}/status").json()
