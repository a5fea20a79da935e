"""FractalQ surface (seed 000): execute (sync/async, _jobId), docs, job polling, error shapes."""

import threading

import pytest
from django.db import close_old_connections, connection
from rest_framework.test import APIClient

from accounts.models import User
from pipelines import services as pipeline_services
from runs.models import Artifact, Run, WebhookDelivery

pytestmark = pytest.mark.django_db


def execute(key, body, client=None):
    return (client or APIClient()).post(f"/api/node/api/{key}/execute", body, format="json")


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert body["success"] is False and body["code"] == code and isinstance(body["error"], str)


def test_sync_execute_returns_outputs_with_absolute_urls(eager, published, image_server):
    pipeline, key = published
    url = image_server.add_image("/cat.png")
    resp = execute(key, {"inputs": {"image_url": url}})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["success"] is True and isinstance(body["executionMs"], int)
    result_url = body["outputs"]["result_url"]
    assert result_url.startswith("http://testserver/media/artifacts/")
    artifact = Artifact.objects.get()
    assert (artifact.width, artifact.height) == (32, 32) and artifact.content_type == "image/png"
    from PIL import Image

    with artifact.file.open("rb") as fh:
        img = Image.open(fh)
        assert img.size == (32, 32) and img.mode == "L"
    pipeline.owner.refresh_from_db()
    run = Run.objects.get()
    assert run.credits_used == 2 and run.status == "completed"


def test_docs_describe_the_published_version(published):
    _, key = published
    resp = APIClient().get(f"/api/node/api/{key}/docs")
    assert resp.status_code == 200
    body = resp.json()
    assert body["success"] is True and body["apiKey"] == key
    assert body["apiUrl"] == f"http://testserver/api/node/api/{key}/execute"
    assert body["inputSchema"] == {
        "image_url": {
            "type": "string",
            "format": "uri",
            "required": True,
            "description": "Image URL to process",
        }
    }
    assert body["outputSchema"]["result_url"]["type"] == "string"
    assert body["inputExamples"] == {"image_url": "https://example.com/image.jpg"}


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({}, 400, "MISSING_INPUT"),
        ({"inputs": {}}, 400, "MISSING_INPUT"),
        ({"inputs": {"image_url": 5}}, 400, "INVALID_INPUT"),
        # keys no input node takes are ignored (the seed's example sends `command` too): image_url is missing
        ({"inputs": {"extra": 1}}, 400, "MISSING_INPUT"),
        ({"inputs": "nope"}, 400, "INVALID_REQUEST"),
        ({"inputs": {"image_url": "ftp://example.com/a.png"}}, 422, "INVALID_INPUT"),
        ({"inputs": {"image_url": "https://example.com/a.png"}, "async": "yes"}, 400, "INVALID_REQUEST"),
        (
            {
                "inputs": {"image_url": "https://example.com/a.png"},
                "async": True,
                "callbackUrl": "http://example.com/cb",
            },
            400,
            "INVALID_CALLBACK_URL",
        ),
        (
            {
                "inputs": {"image_url": "https://example.com/a.png"},
                "async": True,
                "callbackUrl": "https://10.0.0.8/cb",
            },
            400,
            "INVALID_CALLBACK_URL",
        ),
    ],
)
def test_bad_requests(published, body, status, code):
    _, key = published
    assert_error(execute(key, body), status, code)
    assert Run.objects.count() == 0


def test_malformed_json_and_unknown_key(published):
    _, key = published
    resp = APIClient().generic(
        "POST", f"/api/node/api/{key}/execute", "{oops", content_type="application/json"
    )
    assert_error(resp, 400, "BAD_REQUEST")
    assert_error(execute("fq_doesnotexist", {"inputs": {}}), 404, "NOT_FOUND")
    assert_error(APIClient().get("/api/node/api/fq_doesnotexist/docs"), 404, "NOT_FOUND")


def test_unpublished_pipeline_key_is_404(pro_user):
    pipeline = pipeline_services.create_pipeline(pro_user, "Draft only")
    key = pipeline_services.issue_session_key(pipeline)
    assert_error(execute(key, {"inputs": {}}), 404, "NOT_FOUND")


def test_unreachable_image_is_422_and_not_charged(eager, published, image_server):
    pipeline, key = published
    before = User.objects.get(pk=pipeline.owner_id).credit_balance
    resp = execute(key, {"inputs": {"image_url": image_server.url("/missing.png")}})
    assert_error(resp, 422, "UNREACHABLE_URL")
    assert resp.json()["node"] == "in"
    assert User.objects.get(pk=pipeline.owner_id).credit_balance == before
    assert Run.objects.get().status == "failed"


def test_corrupt_image_is_422(eager, published, image_server):
    _, key = published
    image_server.routes["/bad.png"] = (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\nnot really", 0)
    assert_error(execute(key, {"inputs": {"image_url": image_server.url("/bad.png")}}), 422, "INVALID_IMAGE")


def test_insufficient_credits_is_402(eager, published, image_server):
    pipeline, key = published
    User.objects.filter(pk=pipeline.owner_id).update(credit_balance=1)
    assert_error(
        execute(key, {"inputs": {"image_url": image_server.add_image("/a.png")}}), 402, "INSUFFICIENT_CREDITS"
    )


def test_rate_limit_429(settings, published_text):
    settings.FRACTALQ_RATE_LIMIT = (2, 60)
    _, key = published_text
    for _ in range(2):
        resp = execute(key, {"inputs": {"command": "hi"}})
        assert resp.status_code == 200 and resp["X-RateLimit-Limit"] == "2"
    resp = execute(key, {"inputs": {"command": "hi"}})
    assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert int(resp["Retry-After"]) >= 1


def test_text_pipeline_runs_inline(published_text):
    _, key = published_text
    resp = execute(key, {"inputs": {"command": "enhance and upscale"}})
    assert resp.status_code == 200
    assert resp.json()["outputs"] == {"echo": "enhance and upscale"}


def test_async_then_poll_and_job_id_idempotency(published_text, settings):
    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = False
    _, key = published_text
    first = execute(key, {"inputs": {"command": "a"}, "async": True, "_jobId": "job-abc-123"})
    assert first.status_code == 202
    job = first.json()["jobId"]
    again = execute(key, {"inputs": {"command": "a"}, "async": True, "_jobId": "job-abc-123"})
    assert again.json()["jobId"] == job and Run.objects.count() == 1
    poll = APIClient().get(f"/api/node/api/{key}/jobs/{job}")
    assert poll.status_code == 200 and poll.json()["status"] == "queued"
    from runs.engine import execute_run

    execute_run(job)
    poll = APIClient().get(f"/api/node/api/{key}/jobs/{job}").json()
    assert (
        poll["status"] == "completed" and poll["outputs"] == {"echo": "a"} and poll["_jobId"] == "job-abc-123"
    )
    assert APIClient().get(f"/api/node/api/{key}/jobs/run_nope").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_job_ids_make_one_run(settings, pro_user):
    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = False
    from tests.runs.conftest import text_graph

    pipeline = pipeline_services.create_pipeline(pro_user, "Echo", graph=text_graph())
    key = pipeline_services.publish(pipeline).session_key
    barrier = threading.Barrier(8)
    job_ids = []

    def call():
        close_old_connections()
        try:
            barrier.wait()
            resp = execute(key, {"inputs": {"command": "x"}, "async": True, "_jobId": "same-id"})
            job_ids.append((resp.status_code, resp.json().get("jobId")))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(job_ids) == 8 and {s for s, _ in job_ids} == {202}
    assert len({j for _, j in job_ids}) == 1
    assert Run.objects.count() == 1
    pro_user.refresh_from_db()
    assert pro_user.credit_balance == 500  # text pipeline is free; nothing double-reserved


def test_sync_never_answers_202_when_no_worker_starts_the_run(settings, published_text):
    """The seed reserves 202 for async: true; a sync caller whose run no worker starts in time gets a 429
    (the run cancelled, nothing charged) instead of a job id it did not ask for."""
    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = False
    settings.SYNC_WAIT_SECONDS = 0.2
    _, key = published_text
    resp = execute(key, {"inputs": {"command": "slow"}})
    assert_error(resp, 429, "WORKERS_BUSY")
    assert int(resp["Retry-After"]) >= 1
    run = Run.objects.get(pk=resp.json()["details"]["jobId"])
    assert run.status == "cancelled"


def test_callback_delivered_with_job_id(eager, published_text, image_server, monkeypatch):
    _, key = published_text
    url = image_server.url("/callback")
    resp = execute(key, {"inputs": {"command": "cb"}, "async": True, "callbackUrl": url, "_jobId": "j1"})
    assert resp.status_code == 202
    path, headers, body = image_server.posts[0]
    import json

    payload = json.loads(body)
    assert payload["success"] is True and payload["outputs"] == {"echo": "cb"} and payload["_jobId"] == "j1"
    assert WebhookDelivery.objects.get().status == "delivered"


def test_rotate_key_revokes_old_key_at_once(published_text):
    pipeline, key = published_text
    new = pipeline_services.issue_session_key(pipeline)
    assert_error(execute(key, {"inputs": {"command": "x"}}), 404, "NOT_FOUND")
    assert execute(new, {"inputs": {"command": "x"}}).status_code == 200
