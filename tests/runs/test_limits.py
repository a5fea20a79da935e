"""Limits every surface shares (issue 12, items 9, 10 and 14).

* Inputs are stored once: a data: image becomes one input artifact the runs refer to, never a copy per run;
  image bytes are bounded per request (413) and per user and hour (429).
* A run that cannot finish within its time budget is refused before it is queued (sizes known at submit) or
  fails before the costly node starts (URL inputs); a run killed for time is failed and refunded, not
  requeued; each user's queued+running runs are bounded (429).
* An idempotency key (FractalQ ``_jobId``) reused with a different request is a 409 naming the key; a key whose
  run failed on a server fault may be retried.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from accounts import credits
from accounts.models import Tier, User
from pipelines import services as pipeline_services
from pipelines.nodes.base import ImageValue, NodeType, Port, get_node_type, register
from runs import recovery
from runs.engine import execute_run
from runs.models import Artifact, Run
from tests.runs.conftest import png_bytes, text_graph

pytestmark = pytest.mark.django_db

COSTLY_CALLS = {"n": 0}


@register
class Costly(NodeType):
    """An AI-like node whose declared cost makes the limits easy to reach with tiny images."""

    type = "TEST__COSTLY"
    family = "test"
    inputs = (Port("image", "image"),)
    outputs = (Port("image", "image"),)
    credit_cost = 3
    max_input_pixels = 10_000
    base_seconds = 1.0
    seconds_per_megapixel = 100_000.0  # 1 s per 10 pixels

    def run(self, ctx, inputs, params):
        COSTLY_CALLS["n"] += 1
        return {"image": ImageValue(inputs["image"].image.copy())}


def costly_graph() -> dict:
    return {
        "nodes": [
            {"id": "in", "type": "INPUT__IMAGE", "params": {"name": "image_url"}},
            {"id": "ai", "type": "TEST__COSTLY", "params": {}},
            {"id": "out", "type": "OUTPUT__", "params": {}},
        ],
        "edges": [
            {"from": {"node": "in", "port": "image"}, "to": {"node": "ai", "port": "image"}},
            {"from": {"node": "ai", "port": "image"}, "to": {"node": "out", "port": "result_url"}},
        ],
    }


def data_uri(size=(64, 48), color=(200, 30, 30)) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(size, color)).decode()


def noisy_png(size=(64, 64), seed=1) -> bytes:
    import random

    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3)))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def publish(owner, name, graph):
    pipeline = pipeline_services.create_pipeline(owner, name, graph=graph)
    return pipeline, pipeline_services.publish(pipeline).session_key


def execute(key, body):
    return APIClient().post(f"/api/node/api/{key}/execute", body, format="json")


def fq_error(resp, status, code):
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert body["success"] is False and body["code"] == code, body
    return body


def flux_error(resp, status, code):
    assert resp.status_code == status, resp.content
    assert resp.json()["error"]["code"] == code, resp.content
    return resp.json()["error"]


def fiz_error(resp, status, code):
    """Fizzly answers with its seed's statuses and codes: ours (413, 422, …) become 400 BAD_REQUEST with the
    specific code as details.reason."""
    seed_status = status if status in (400, 401, 402, 403, 404, 429, 500) else 400
    assert resp.status_code == seed_status, resp.content
    body = resp.json()
    assert isinstance(body["error"], str) and "details" in body, body
    if seed_status == status:
        assert body["code"] == code, body
    else:
        assert body["code"] == "BAD_REQUEST" and body["details"]["reason"] == code, body
    return body


@pytest.fixture
def fiz(queue_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Key {queue_key}")
    return client


@pytest.fixture
def queued(settings):
    """Runs stay queued: no worker, no inline execution."""
    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = False
    return settings


def balance(user) -> int:
    return User.objects.get(pk=user.pk).credit_balance


# -- item 9: inputs stored once, bytes bounded -----------------------------------------------------------------


def test_fluxara_count_stores_a_data_image_once_and_the_runs_use_it(eager, pro_client, published):
    uri = data_uri()
    resp = pro_client.post(
        "/api/v1/jobs",
        {"pipeline": "thumbs", "input": {"image_url": uri}, "options": {"count": 3}},
        format="json",
    )
    assert resp.status_code == 201, resp.content
    runs = list(Run.objects.all())
    assert len(runs) == 3 and {r.status for r in runs} == {"completed"}
    refs = {r.inputs["image_url"] for r in runs}
    assert len(refs) == 1 and next(iter(refs)).startswith("art_")
    assert all(len(json.dumps(r.inputs)) < 100 for r in runs)  # an id, not the 8 KB data URI
    stored = Artifact.objects.get(pk=next(iter(refs)))
    assert stored.owner == pro_client.user and stored.run is None and stored.size == len(png_bytes())
    with stored.file.open("rb") as fh:
        assert fh.read() == png_bytes()  # the bytes as sent, not re-encoded
    outputs = Artifact.objects.exclude(pk=stored.pk)
    assert outputs.count() == 3 and {(a.width, a.height) for a in outputs} == {(32, 32)}


def test_the_same_image_sent_again_reuses_its_input_artifact(queued, published):
    _, key = published
    first = execute(key, {"inputs": {"image_url": data_uri()}, "async": True})
    second = execute(key, {"inputs": {"image_url": data_uri()}, "async": True})
    assert first.status_code == second.status_code == 202
    assert Artifact.objects.count() == 1
    assert len({r.inputs["image_url"] for r in Run.objects.all()}) == 1


def test_a_sync_inline_call_with_a_data_image_runs_from_the_stored_input(settings, published):
    settings.RUNS_EAGER = True
    _, key = published
    resp = execute(key, {"inputs": {"image_url": data_uri()}})
    assert resp.status_code == 200, resp.content
    assert Run.objects.get().inputs["image_url"].startswith("art_")


def test_status_updates_never_rewrite_the_inputs(queued, published):
    _, key = published
    job = execute(key, {"inputs": {"image_url": data_uri()}, "async": True}).json()["jobId"]
    with CaptureQueriesContext(connection) as queries:
        assert execute_run(job) == "completed"
    run_writes = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "runs_run"')]
    assert run_writes and not [sql for sql in run_writes if '"inputs"' in sql]


def test_a_bad_data_image_is_refused_at_submit(queued, published):
    _, key = published
    resp = execute(key, {"inputs": {"image_url": "data:image/png;base64,bm90IGFuIGltYWdl"}, "async": True})
    fq_error(resp, 422, "INVALID_IMAGE")
    assert Run.objects.count() == 0


def test_input_bytes_per_request_are_bounded_413(queued, published, pro_client, fiz):
    queued.INPUT_MAX_BYTES_PER_REQUEST = 100
    pipeline, key = published
    fq_error(execute(key, {"inputs": {"image_url": data_uri()}, "async": True}), 413, "PAYLOAD_TOO_LARGE")
    resp = pro_client.post(
        "/api/v1/jobs", {"pipeline": "thumbs", "input": {"image_url": data_uri()}}, format="json"
    )
    flux_error(resp, 413, "payload_too_large")
    resp = fiz.post(
        f"/workflows/{pipeline.owner.username}/thumbs", {"inputs": {"image_url": data_uri()}}, format="json"
    )
    fiz_error(resp, 413, "PAYLOAD_TOO_LARGE")
    assert Run.objects.count() == 0 and Artifact.objects.count() == 0


def test_input_bytes_per_user_and_hour_are_bounded_429(queued, published, fiz):
    pipeline, _ = published
    one, two = noisy_png(seed=1), noisy_png(seed=2)
    queued.INPUT_MAX_BYTES_PER_USER_PER_HOUR = len(one) + len(two) // 2
    url = f"/workflows/{pipeline.owner.username}/thumbs"

    def send(png):
        uri = "data:image/png;base64," + base64.b64encode(png).decode()
        return fiz.post(url, {"inputs": {"image_url": uri}}, format="json")

    assert send(one).status_code == 200
    assert send(one).status_code == 200  # the same bytes again: stored once, counted once
    resp = send(two)
    body = fiz_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert body["retry_after"] >= 1 and int(resp["Retry-After"]) >= 1
    assert "per hour" in body["error"]
    # an hour later the window has moved on
    Artifact.objects.update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    assert send(two).status_code == 200


def test_studio_uploads_count_towards_the_hourly_bound(queued, pro_client):
    one, two = noisy_png(seed=3), noisy_png(seed=4)
    queued.INPUT_MAX_BYTES_PER_USER_PER_HOUR = len(one) + len(two) // 2

    def upload(png):
        return pro_client.post("/api/v1/studio/uploads", {"file": io.BytesIO(png)}, format="multipart")

    assert upload(one).status_code == 201
    resp = upload(two)
    assert resp.status_code == 429 and "per hour" in resp.json()["detail"]
    assert int(resp["Retry-After"]) >= 1


# -- item 10: time budget, oversize inputs, killed runs, share of the workers -------------------------------


def test_nodes_declare_their_largest_input_and_cost():
    upscale = get_node_type("IMAGE__UPSCALE")
    if upscale is None:
        pytest.skip("the AI stack (torch) is not installed")
    params = upscale.resolved_params({})
    assert upscale.max_pixels(params) == 4_000_000
    assert (
        upscale.estimate_seconds(1_000_000, params) > 300
    )  # measured on a CPU worker (bench/upscale_cost.py)
    fast = upscale.resolved_params({"model": "realesr-animevideov3"})
    assert upscale.estimate_seconds(1_000_000, fast) < upscale.estimate_seconds(1_000_000, params)
    assert upscale.output_pixels(100, {"scale": 4}) == 1600
    for name in ("IMAGE__OCR", "IMAGE__NSFW_GATE", "IMAGE__WATERMARK"):
        node_type = get_node_type(name)
        if node_type is not None:
            assert node_type.max_pixels({}) and node_type.estimate_seconds(1_000_000, {}) > 0


def test_fractalq_docs_and_studio_show_the_limit(pro_user, pro_client):
    graph = {
        "nodes": [
            {"id": "in", "type": "INPUT__IMAGE", "params": {"name": "image_url"}},
            {"id": "up", "type": "IMAGE__UPSCALE", "params": {}},
            {"id": "out", "type": "OUTPUT__", "params": {}},
        ],
        "edges": [
            {"from": {"node": "in", "port": "image"}, "to": {"node": "up", "port": "image"}},
            {"from": {"node": "up", "port": "image"}, "to": {"node": "out", "port": "result_url"}},
        ],
    }
    if get_node_type("IMAGE__UPSCALE") is None:
        pytest.skip("the AI stack (torch) is not installed")
    pipeline, key = publish(pro_user, "Upscale 4x", graph)
    limits = APIClient().get(f"/api/node/api/{key}/docs").json()["limits"]
    assert limits["timeBudgetSeconds"] == 480  # 80% of the 600 s worker timeout
    # x4plus at 600 s/MP on a CPU worker: about 0.8 MP fit in the budget, under the node's own 4 MP
    assert 700_000 < limits["maxInputPixels"] < 850_000
    assert limits["maxInputBytes"] > 0
    detail = pro_client.get(f"/api/v1/studio/pipelines/{pipeline.pk}").json()
    assert detail["limits"]["max_input_pixels"] == limits["maxInputPixels"]
    catalog = {n["type"]: n for n in pro_client.get("/api/v1/studio/node-types").json()["node_types"]}
    assert catalog["IMAGE__UPSCALE"]["max_input_pixels"] == 4_000_000
    assert catalog["IMAGE__UPSCALE"]["seconds_per_megapixel"] > 0


def test_a_run_over_the_time_budget_is_refused_before_it_is_queued(queued, pro_user, pro_client, fiz):
    _, key = publish(pro_user, "Costly", costly_graph())
    uri = data_uri((40, 40))  # 1600 px: within the node's 10,000, but ~160 s against a 60 s budget
    queued.RUN_TIME_BUDGET_SECONDS = 60
    body = fq_error(execute(key, {"inputs": {"image_url": uri}, "async": True}), 422, "RUN_TOO_LONG")
    assert "60 s" in body["error"] and body["details"]["max_input_pixels"] < 1600
    resp = pro_client.post("/api/v1/jobs", {"pipeline": "costly", "input": {"image_url": uri}}, format="json")
    flux_error(resp, 422, "invalid_input")
    resp = fiz.post(f"/workflows/{pro_user.username}/costly", {"inputs": {"image_url": uri}}, format="json")
    fiz_error(resp, 422, "RUN_TOO_LONG")
    assert Run.objects.count() == 0 and balance(pro_user) == 500
    # an image that fits is queued
    assert execute(key, {"inputs": {"image_url": data_uri((16, 16))}, "async": True}).status_code == 202


def test_an_image_over_a_nodes_limit_is_refused_naming_the_node(queued, pro_user):
    _, key = publish(pro_user, "Costly", costly_graph())
    queued.RUN_TIME_BUDGET_SECONDS = 10**9
    body = fq_error(
        execute(key, {"inputs": {"image_url": data_uri((200, 100))}, "async": True}), 422, "IMAGE_TOO_LARGE"
    )
    assert body["details"] == {"node": "ai", "pixels": 20_000, "max_pixels": 10_000}
    assert Run.objects.count() == 0


def test_an_uploaded_art_input_is_measured_at_submit(queued, pro_user):
    _, key = publish(pro_user, "Costly", costly_graph())
    queued.RUN_TIME_BUDGET_SECONDS = 60
    execute(key, {"inputs": {"image_url": data_uri((40, 40))}, "async": True})  # stores it, then refuses
    ref = Artifact.objects.get().pk
    fq_error(execute(key, {"inputs": {"image_url": ref}, "async": True}), 422, "RUN_TOO_LONG")


def test_a_url_input_over_budget_fails_when_fetched_before_the_node_runs(eager, pro_user, image_server):
    _, key = publish(pro_user, "Costly", costly_graph())
    eager.RUN_TIME_BUDGET_SECONDS = 60
    url = image_server.add_image("/big.png", png_bytes((40, 40)))
    COSTLY_CALLS["n"] = 0
    body = fq_error(execute(key, {"inputs": {"image_url": url}}), 422, "RUN_TOO_LONG")
    assert body["node"] == "ai" and COSTLY_CALLS["n"] == 0
    run = Run.objects.get()
    assert run.status == "failed" and run.credits_used == 0 and balance(pro_user) == 500
    assert {nr.node_id: nr.status for nr in run.node_runs.all()} == {
        "in": "completed",
        "ai": "failed",
        "out": "skipped",
    }
    url = image_server.add_image("/huge.png", png_bytes((200, 100)))
    eager.RUN_TIME_BUDGET_SECONDS = 10**9
    fq_error(execute(key, {"inputs": {"image_url": url}}), 422, "IMAGE_TOO_LARGE")
    assert COSTLY_CALLS["n"] == 0
    url = image_server.add_image("/small.png", png_bytes((16, 16)))
    assert execute(key, {"inputs": {"image_url": url}}).status_code == 200 and COSTLY_CALLS["n"] == 1


def test_a_run_killed_for_time_fails_and_is_refunded_not_requeued(queued, pro_user):
    queued.RUN_TIME_BUDGET_SECONDS = 30
    queued.MAX_RUN_ATTEMPTS = 3
    _, key = publish(pro_user, "Costly", costly_graph())
    job = execute(key, {"inputs": {"image_url": data_uri((4, 4))}, "async": True}).json()["jobId"]
    again = execute(key, {"inputs": {"image_url": data_uri((4, 4))}, "async": True}).json()["jobId"]
    assert balance(pro_user) == 500 - 2 * 3
    now = timezone.now()
    stale = now - timedelta(seconds=queued.STALE_RUN_SECONDS + 5)
    # killed by the worker timeout: its heartbeat went on until past the budget, then stopped
    Run.objects.filter(pk=job).update(
        status="running", attempts=1, started_at=stale - timedelta(seconds=40), heartbeat_at=stale
    )
    # a worker lost early in the run: requeued as before
    Run.objects.filter(pk=again).update(
        status="running", attempts=1, started_at=stale - timedelta(seconds=5), heartbeat_at=stale
    )
    assert recovery.recover_stale_runs() == {"requeued": 1, "failed": 1}
    run = Run.objects.get(pk=job)
    assert run.status == "failed" and run.error["code"] == "RUN_TIMED_OUT" and "30 s" in run.error["message"]
    assert Run.objects.get(pk=again).status == "queued"
    assert balance(pro_user) == 500 - 3  # the timed-out run's credits are back
    poll = APIClient().get(f"/api/node/api/{key}/jobs/{job}").json()
    assert poll["status"] == "failed" and poll["code"] == "RUN_TIMED_OUT"


def test_each_user_has_a_bounded_share_of_the_workers(queued, make_user, published, fiz):
    queued.RUN_MAX_ACTIVE_PER_USER = {"free": 2, "pro": 3, "ultimate": 5}
    free = make_user(credits_amount=100)
    client = APIClient()
    from tests.conftest import login

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, free)}")
    pipeline, key = published
    pipeline.is_public = True
    pipeline.save(update_fields=["is_public"])
    job = {"pipeline": f"{pipeline.owner.username}/thumbs", "input": {"image_url": "https://e.com/a.png"}}
    flux_error(
        client.post("/api/v1/jobs", {**job, "options": {"count": 3}}, format="json"), 429, "rate_limited"
    )
    assert client.post("/api/v1/jobs", job, format="json").status_code == 201
    assert client.post("/api/v1/jobs", job, format="json").status_code == 201
    resp = client.post("/api/v1/jobs", job, format="json")
    err = flux_error(resp, 429, "rate_limited")
    assert int(resp["Retry-After"]) > 0 and "At most 2" in err["message"]
    assert Run.objects.filter(billed_to=free).count() == 2 and balance(free) == 100 - 2 * 2
    # one finishes: there is room again
    execute_run(Run.objects.filter(billed_to=free).first().pk)
    assert client.post("/api/v1/jobs", job, format="json").status_code == 201

    # the pipeline's owner (pro, 3): FractalQ and Fizzly runs are billed to it too
    owner = pipeline.owner
    body = {"inputs": {"image_url": "https://e.com/a.png"}, "async": True}
    assert execute(key, body).status_code == 202
    fizzly_url = f"/workflows/{owner.username}/thumbs"
    assert fiz.post(fizzly_url, {"inputs": body["inputs"]}, format="json").status_code == 200
    assert execute(key, body).status_code == 202
    fq_error(execute(key, body), 429, "TOO_MANY_ACTIVE_RUNS")
    fiz_error(fiz.post(fizzly_url, {"inputs": body["inputs"]}, format="json"), 429, "RATE_LIMIT_EXCEEDED")


def test_sync_inline_calls_take_no_worker_and_are_not_counted(settings, published_text):
    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = True
    settings.RUN_MAX_ACTIVE_PER_USER = {"free": 0, "pro": 0, "ultimate": 0}
    _, key = published_text
    resp = execute(key, {"inputs": {"command": "hi"}})
    assert resp.status_code == 200, resp.content
    fq_error(execute(key, {"inputs": {"command": "hi"}, "async": True}), 429, "TOO_MANY_ACTIVE_RUNS")


# -- item 14: idempotency-key conflicts and retries after a server fault -----------------------------------


def test_the_same_job_id_with_other_inputs_is_a_conflict(queued, published_text):
    _, key = published_text
    first = execute(key, {"inputs": {"command": "a"}, "async": True, "_jobId": "order-42"})
    assert first.status_code == 202
    body = fq_error(
        execute(key, {"inputs": {"command": "b"}, "async": True, "_jobId": "order-42"}),
        409,
        "IDEMPOTENCY_KEY_CONFLICT",
    )
    assert "order-42" in body["error"] and body["details"]["idempotency_key"] == "order-42"
    # the same request again is still a replay, sync or async
    replay = execute(key, {"inputs": {"command": "a"}, "async": True, "_jobId": "order-42"})
    assert replay.status_code == 202 and replay.json()["jobId"] == first.json()["jobId"]
    assert Run.objects.count() == 1


def test_a_job_id_whose_run_failed_on_a_server_fault_may_be_retried(queued, published):
    pipeline, key = published
    body = {"inputs": {"image_url": "https://e.com/a.png"}, "async": True, "_jobId": "retry-me"}
    first = execute(key, body).json()["jobId"]
    assert balance(pipeline.owner) == 500 - 2
    Run.objects.filter(pk=first).update(status="failed", error={"code": "WORKER_LOST", "status": 500})
    credits.settle(pipeline.owner, first, 0)  # as the engine does when a run fails
    retried = execute(key, body)
    assert retried.status_code == 202
    second = retried.json()["jobId"]
    assert second != first and retried.json()["_jobId"] == "retry-me"
    assert Run.objects.get(pk=first).idempotency_key == ""
    assert Run.objects.get(pk=second).idempotency_key == "retry-me"
    assert balance(pipeline.owner) == 500 - 2  # one charge held, for the new run
    # failed on its input: not retried, the same failed run answers
    Run.objects.filter(pk=second).update(status="failed", error={"code": "INVALID_IMAGE", "status": 422})
    assert execute(key, body).json()["jobId"] == second
    assert Run.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_a_failed_job_id_make_one_new_run(settings, pro_user):
    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = False
    _, key = publish(pro_user, "Echo", text_graph())
    body = {"inputs": {"command": "x"}, "async": True, "_jobId": "burst"}
    first = execute(key, body).json()["jobId"]
    Run.objects.filter(pk=first).update(status="failed", error={"code": "INTERNAL_ERROR", "status": 500})
    barrier = threading.Barrier(8)
    answers = []

    def call():
        close_old_connections()
        try:
            barrier.wait()
            resp = execute(key, body)
            answers.append((resp.status_code, resp.json().get("jobId")))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {s for s, _ in answers} == {202} and len({j for _, j in answers}) == 1
    assert Run.objects.count() == 2 and Run.objects.filter(idempotency_key="burst").count() == 1


def test_free_tier_default_share_is_four(make_user):
    from runs.limits import max_active_runs

    assert max_active_runs(make_user(tier=Tier.FREE)) == 4
    assert max_active_runs(make_user(tier=Tier.PRO)) > 4
