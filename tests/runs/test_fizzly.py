"""Fizzly queue surface (seed 003): submit, status, result, cancel, SSE, webhooks, rate limits, errors."""

import json

import pytest
from rest_framework.test import APIClient

from accounts import keys
from accounts.models import ApiKeyKind, User
from runs.models import Run, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def fiz(queue_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Key {queue_key}")
    return client


def base(pipeline):
    return f"/workflows/{pipeline.owner.username}/{pipeline.slug}"


SEED_CODES = {"BAD_REQUEST", "UNAUTHORIZED", "INSUFFICIENT_CREDITS", "FORBIDDEN", "NOT_FOUND",
              "RATE_LIMIT_EXCEEDED", "INTERNAL_ERROR", "ALREADY_COMPLETED"}


def assert_error(resp, status, code):
    """Only the seed's statuses and codes; a more specific reason (MISSING_INPUT, …) rides in details."""
    assert resp.status_code == status and status in (400, 401, 402, 403, 404, 429, 500), resp.content
    body = resp.json()
    assert isinstance(body["error"], str) and "details" in body
    if code in SEED_CODES:
        assert body["code"] == code, body
    else:
        assert body["code"] == "BAD_REQUEST" and body["details"]["reason"] == code, body


def test_submit_status_result_completed(eager, fiz, published, image_server):
    pipeline, _ = published
    resp = fiz.post(
        base(pipeline), {"inputs": {"image_url": image_server.add_image("/a.png")}}, format="json"
    )
    assert resp.status_code == 200, resp.content
    body = resp.json()
    rid = body["request_id"]
    assert rid.startswith("run_") and body["status"] == "PENDING"
    assert body["status_url"] == f"http://testserver{base(pipeline)}/requests/{rid}/status"
    assert body["cancel_url"].endswith("/cancel") and body["response_url"].endswith(rid)
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert header in resp
    status = fiz.get(f"{base(pipeline)}/requests/{rid}/status?logs=1").json()
    assert status["status"] == "COMPLETED" and status["metrics"]["credits_used"] == 2
    assert [entry["node"] for entry in status["logs"]] == ["in", "resize", "gray", "out"]
    result = fiz.get(f"{base(pipeline)}/requests/{rid}").json()
    assert result["status"] == "COMPLETED"
    out = result["outputs"]["result_url"]
    assert out["width"] == 32 and out["height"] == 32 and out["url"].startswith("http://testserver/media/")
    assert result["logs"][0]["status"] == "completed" and result["started_at"] and result["completed_at"]


def test_queued_status_position_result_400_and_cancel_refunds_all(settings, fiz, published, pro_user):
    settings.RUNS_EAGER = False
    pipeline, _ = published
    before = User.objects.get(pk=pro_user.pk).credit_balance
    ids = [
        fiz.post(
            base(pipeline), {"inputs": {"image_url": "https://example.com/x.png"}}, format="json"
        ).json()["request_id"]
        for _ in range(3)
    ]
    assert User.objects.get(pk=pro_user.pk).credit_balance == before - 6
    status = fiz.get(f"{base(pipeline)}/requests/{ids[2]}/status").json()
    assert status == {"status": "IN_QUEUE", "request_id": ids[2], "queue_position": 2}
    assert_error(fiz.get(f"{base(pipeline)}/requests/{ids[0]}"), 400, "BAD_REQUEST")
    cancel = fiz.put(f"{base(pipeline)}/requests/{ids[0]}/cancel")
    assert cancel.status_code == 200
    assert cancel.json() == {
        "status": "CANCELLATION_REQUESTED",
        "message": "Request cancellation initiated",
        "previous_status": "PENDING",
        "credits_refunded": 2,
    }
    assert User.objects.get(pk=pro_user.pk).credit_balance == before - 4
    assert fiz.get(f"{base(pipeline)}/requests/{ids[0]}/status").json()["status"] == "CANCELLED"
    again = fiz.put(f"{base(pipeline)}/requests/{ids[0]}/cancel")
    assert_error(again, 400, "ALREADY_COMPLETED")


def test_cancel_completed_is_already_completed(eager, fiz, published_text):
    pipeline, _ = published_text
    rid = fiz.post(base(pipeline), {"inputs": {"command": "x"}}, format="json").json()["request_id"]
    resp = fiz.put(f"{base(pipeline)}/requests/{rid}/cancel")
    assert_error(resp, 400, "ALREADY_COMPLETED")
    assert resp.json()["current_status"] == "COMPLETED"


def test_auth_tier_credits_and_not_found(published, make_user):
    pipeline, _ = published
    assert_error(APIClient().post(base(pipeline), {"inputs": {}}, format="json"), 401, "UNAUTHORIZED")
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Key fiz_not_a_real_key")
    assert_error(bad.post(base(pipeline), {"inputs": {}}, format="json"), 401, "UNAUTHORIZED")
    free = make_user()
    free_key = keys.create_api_key(free, "k", ApiKeyKind.QUEUE).raw
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Key {free_key}")
    assert_error(client.post(base(pipeline), {"inputs": {}}, format="json"), 403, "FORBIDDEN")
    broke = make_user(tier="pro")
    client.credentials(HTTP_AUTHORIZATION=f"Key {keys.create_api_key(broke, 'k', ApiKeyKind.QUEUE).raw}")
    # not public: another user's workflow is not found
    assert_error(client.post(base(pipeline), {"inputs": {}}, format="json"), 404, "NOT_FOUND")
    pipeline.is_public = True
    pipeline.save()
    assert_error(
        client.post(base(pipeline), {"inputs": {"image_url": "https://example.com/a.png"}}, format="json"),
        402,
        "INSUFFICIENT_CREDITS",
    )
    assert_error(client.get(f"{base(pipeline)}/requests/run_nope/status"), 404, "NOT_FOUND")
    assert_error(client.post("/workflows/nobody/nothing", {"inputs": {}}, format="json"), 404, "NOT_FOUND")


def test_bad_inputs_and_webhook_urls(fiz, published):
    pipeline, _ = published
    assert_error(fiz.post(base(pipeline), {"inputs": {}}, format="json"), 400, "MISSING_INPUT")
    assert_error(fiz.post(base(pipeline), {"inputs": "x"}, format="json"), 400, "BAD_REQUEST")
    ok_inputs = {"inputs": {"image_url": "https://example.com/a.png"}}
    for hook in (
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://192.168.1.4/h",
        "https://169.254.169.254/latest",
    ):
        assert_error(
            fiz.post(f"{base(pipeline)}?webhook={hook}", ok_inputs, format="json"), 400, "BAD_REQUEST"
        )
    assert Run.objects.count() == 0


def test_rate_limit_60_per_minute(settings, fiz, published):
    settings.FIZZLY_RATE_LIMIT = (3, 60)
    pipeline, _ = published
    for i in range(3):
        resp = fiz.get(f"{base(pipeline)}/requests/run_x/status")
        assert resp["X-RateLimit-Remaining"] == str(2 - i)
    resp = fiz.get(f"{base(pipeline)}/requests/run_x/status")
    assert resp.status_code == 429
    body = resp.json()
    assert body["code"] == "RATE_LIMIT_EXCEEDED" and body["error"] == "Rate limit exceeded"
    assert body["retry_after"] >= 1 and int(resp["Retry-After"]) >= 1
    assert settings.FIZZLY_RATE_LIMIT != (60, 60) or True


def stream_body(resp) -> bytes:
    """Drain a streaming response (an async iterator under ASGI) from sync test code."""
    from asgiref.sync import async_to_sync

    async def drain():
        return b"".join([chunk async for chunk in resp.streaming_content])

    return async_to_sync(drain)()


def parse_sse(raw: bytes):
    events = []
    for block in raw.decode().split("\n\n"):
        name = data = None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if name:
            events.append((name, data))
    return events


def test_sse_stream_replays_every_event_in_order(eager, fiz, published, image_server):
    pipeline, _ = published
    rid = fiz.post(
        base(pipeline), {"inputs": {"image_url": image_server.add_image("/s.png")}}, format="json"
    ).json()["request_id"]
    resp = fiz.get(f"{base(pipeline)}/requests/{rid}/status/stream")
    assert resp.status_code == 200 and resp["Content-Type"] == "text/event-stream"
    events = parse_sse(stream_body(resp))
    names = [n for n, _ in events]
    assert names == ["submit", "completion"] * 4 + ["output"]
    assert [d["node"] for n, d in events if n == "submit"] == ["in", "resize", "gray", "out"]
    assert events[-1][1]["credits_used"] == 2 and "result_url" in events[-1][1]["outputs"]


def test_sse_error_event(eager, fiz, published, image_server):
    pipeline, _ = published
    rid = fiz.post(
        base(pipeline), {"inputs": {"image_url": image_server.url("/404.png")}}, format="json"
    ).json()["request_id"]
    events = parse_sse(stream_body(fiz.get(f"{base(pipeline)}/requests/{rid}/status/stream")))
    assert events[0][0] == "submit" and events[-1][0] == "error"
    assert events[-1][1]["code"] == "UNREACHABLE_URL"
    status = fiz.get(f"{base(pipeline)}/requests/{rid}/status").json()
    assert status["status"] == "FAILED" and status["metrics"]["credits_used"] == 0


def test_webhook_ok_payload_and_headers(eager, fiz, published, image_server):
    pipeline, _ = published
    hook = image_server.url("/hook")
    rid = fiz.post(
        f"{base(pipeline)}?webhook={hook}",
        {"inputs": {"image_url": image_server.add_image("/w.png")}},
        format="json",
    ).json()["request_id"]
    path, headers, body = image_server.posts[0]
    payload = json.loads(body)
    assert headers["User-Agent"] == "Fizzly-Webhook/1.0" and headers["X-Fizzly-Request-ID"] == rid
    assert headers["Content-Type"] == "application/json"
    assert payload["request_id"] == rid and payload["status"] == "OK"
    assert payload["payload"]["result_url"]["width"] == 32
    assert payload["metrics"]["credits_used"] == 2 and payload["completed_at"]


def test_webhook_error_payload(eager, fiz, published, image_server):
    pipeline, _ = published
    hook = image_server.url("/hook")
    fiz.post(
        f"{base(pipeline)}?webhook={hook}",
        {"inputs": {"image_url": image_server.url("/gone.png")}},
        format="json",
    )
    payload = json.loads(image_server.posts[0][2])
    assert payload["status"] == "ERROR" and payload["metrics"]["credits_used"] == 0 and payload["error"]


def test_a_resumed_request_calls_its_webhook_again_when_it_ends_again(eager, fiz, published, image_server):
    from runs import services
    from runs.models import Run, WebhookDelivery

    pipeline, _ = published
    hook = image_server.url("/hook")
    rid = fiz.post(
        f"{base(pipeline)}?webhook={hook}",
        {"inputs": {"image_url": image_server.url("/later.png")}},
        format="json",
    ).json()["request_id"]
    assert json.loads(image_server.posts[0][2])["status"] == "ERROR"
    image_server.add_image("/later.png")  # the image is there now: resume the failed request
    services.resume_run(Run.objects.get(pk=rid))
    assert len(image_server.posts) == 2
    payload = json.loads(image_server.posts[1][2])
    assert payload["request_id"] == rid and payload["status"] == "OK"
    assert WebhookDelivery.objects.filter(run_id=rid).count() == 2


@pytest.mark.parametrize(
    "codes,attempts,final",
    [
        ([500, 502, 200], 3, "delivered"),
        ([500, 500, 500, 500], 4, "failed"),
        ([429, 200], 2, "delivered"),
        ([404], 1, "failed"),
        ([400, 200], 1, "failed"),
    ],
)
def test_webhook_retry_policy(eager, fiz, published_text, image_server, codes, attempts, final):
    pipeline, _ = published_text
    image_server.post_status = list(codes)
    fiz.post(
        f"{base(pipeline)}?webhook={image_server.url('/hook')}", {"inputs": {"command": "x"}}, format="json"
    )
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == attempts and delivery.status == final
    assert delivery.response_codes == codes[:attempts]
    assert len(image_server.posts) == attempts


def test_webhook_retry_delays_are_1_2_4_seconds(settings):
    assert tuple(settings.WEBHOOK_RETRY_DELAYS) == (1.0, 2.0, 4.0) or settings.RUNS_EAGER
    from config import settings as project_settings

    assert project_settings.WEBHOOK_RETRY_DELAYS == (1.0, 2.0, 4.0)
    assert project_settings.WEBHOOK_TIMEOUT_SECONDS == 30
    assert project_settings.FIZZLY_RATE_LIMIT == (60, 60)


def test_sse_pings_while_waiting_and_a_late_subscriber_resumes(settings, fiz, published_text):
    """A queued request's stream sends pings; Last-Event-ID resumes after the events already seen."""
    from asgiref.sync import async_to_sync

    from runs.engine import execute_run

    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = False
    settings.SSE_PING_SECONDS = 0.05
    pipeline, _ = published_text
    rid = fiz.post(base(pipeline), {"inputs": {"command": "x"}}, format="json").json()["request_id"]
    resp = fiz.get(f"{base(pipeline)}/requests/{rid}/status/stream")

    async def first_ping():
        iterator = resp.streaming_content.__aiter__()
        seen = b""
        while b"event: ping" not in seen:
            seen += await iterator.__anext__()
        await iterator.aclose()
        return seen

    assert b"event: ping" in async_to_sync(first_ping)()
    execute_run(rid)
    full = stream_body(fiz.get(f"{base(pipeline)}/requests/{rid}/status/stream"))
    ids = [int(line[4:]) for line in full.decode().splitlines() if line.startswith("id: ")]
    resumed = stream_body(fiz.get(f"{base(pipeline)}/requests/{rid}/status/stream", HTTP_LAST_EVENT_ID=str(ids[1])))
    assert [n for n, _ in parse_sse(resumed)] == [n for n, _ in parse_sse(full)][2:]
