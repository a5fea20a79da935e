"""FractalQ (seed 000) and Fluxara (seed 001) held to their seeds (issue 14): what a client written against
each seed does, line by line, and what it must get back."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from pipelines import services as pipeline_services
from pipelines.nodes.base import NodeError
from runs.models import Run, WebhookDelivery
from tests.runs.conftest import resize_graph

pytestmark = pytest.mark.django_db

Z_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def execute(key, body):
    return APIClient().post(f"/api/node/api/{key}/execute", body, format="json")


def assert_fq_error(resp, status, code):
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert body["success"] is False and body["code"] == code and isinstance(body["error"], str)
    return body


def single_node_graph(node_type: str, output: str, port: str) -> dict:
    return {
        "nodes": [
            {
                "id": "in",
                "type": "INPUT__IMAGE",
                "params": {"name": "image_url"},
                "position": {"x": 0, "y": 0},
            },
            {"id": "n", "type": node_type, "params": {}, "position": {"x": 200, "y": 0}},
            {"id": "out", "type": "OUTPUT__", "params": {}, "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "from": {"node": "in", "port": "image"}, "to": {"node": "n", "port": "image"}},
            {"id": "e2", "from": {"node": "n", "port": port}, "to": {"node": "out", "port": output}},
        ],
    }


def publish(user, name, graph):
    pipeline = pipeline_services.create_pipeline(user, name, graph=graph)
    return pipeline, pipeline_services.publish(pipeline).session_key


# -- FractalQ item 2: the seed's own example request --------------------------------------------------


def test_seed_example_request_runs_and_reports_the_ignored_input(eager, published, image_server):
    """The seed's example sends image_url plus command to a pipeline whose only input node is INPUT__IMAGE."""
    _, key = published
    url = image_server.add_image("/seed.png")
    resp = execute(key, {"inputs": {"image_url": url, "command": "enhance and upscale"}})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["success"] is True and body["outputs"]["result_url"].startswith("http://testserver/")
    assert body["ignoredInputs"] == ["command"]
    assert Run.objects.get().inputs == {"image_url": url}
    docs = APIClient().get(f"/api/node/api/{key}/docs").json()
    assert (
        "ignored" in docs["inputRules"]["unknownInputs"]
        and "ignoredInputs" in docs["inputRules"]["unknownInputs"]
    )


def test_no_ignored_inputs_key_when_every_input_is_used(published_text):
    _, key = published_text
    assert "ignoredInputs" not in execute(key, {"inputs": {"command": "x"}}).json()


# -- FractalQ item 1: a sync caller gets outputs or a seed error code, never 202 ---------------------------


def test_sync_run_past_its_time_budget_is_a_500_and_cancelled(settings, published_text, monkeypatch):
    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = False
    settings.RUN_TIME_BUDGET_SECONDS = 0.3
    _, key = published_text

    def worker_starts(run):  # a worker picks the run up and never finishes within the budget
        Run.objects.filter(pk=run.pk).update(status="running", started_at=timezone.now())

    monkeypatch.setattr("runs.services.enqueue_run", worker_starts)
    resp = execute(key, {"inputs": {"command": "slow"}})
    body = assert_fq_error(resp, 500, "RUN_TIMED_OUT")
    assert body["error"].startswith("AI processing failed")
    run = Run.objects.get(pk=body["details"]["jobId"])
    assert run.cancel_requested


def test_sync_waits_for_a_run_that_a_worker_finishes(settings, published_text, monkeypatch):
    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = False
    settings.SYNC_WAIT_SECONDS = 0.05  # only the wait for a worker to start it; the run then has its budget
    _, key = published_text

    def worker(run):
        from runs.engine import execute_run

        execute_run(run.pk)

    monkeypatch.setattr("runs.services.enqueue_run", worker)
    resp = execute(key, {"inputs": {"command": "done"}})
    assert resp.status_code == 200 and resp.json()["outputs"] == {"echo": "done"}


def test_docs_state_how_long_a_sync_call_waits(settings, published):
    settings.SYNC_WAIT_SECONDS = 12
    _, key = published
    docs = APIClient().get(f"/api/node/api/{key}/docs").json()
    assert docs["limits"]["syncQueueWaitSeconds"] == 12 and docs["limits"]["timeBudgetSeconds"] > 0
    assert "RUN_TIMED_OUT" in docs["inputRules"]["sync"]


# -- item 4: a server fault is the seed's 500 on every surface -----------------------------------------


def test_node_error_classification_is_one_rule():
    assert NodeError("bad image", "INVALID_IMAGE").http_status == 422
    assert NodeError("flaky", "OCR_FAILED", retryable=True).http_status == 500
    assert NodeError("no weights", "MODEL_UNAVAILABLE", server_fault=True).http_status == 500


def _break_watermark(monkeypatch):
    from pipelines.ml import watermark

    def missing():
        raise FileNotFoundError("var/models/watermark.pt")

    monkeypatch.setattr(watermark, "get_detector", missing)


def _break_nsfw(monkeypatch):
    from pipelines.ml import nsfw

    def missing(image):
        raise nsfw.NsfwUnavailable("open_nsfw weights missing")

    monkeypatch.setattr(nsfw, "nsfw_score", missing)


def _break_ocr(monkeypatch):
    from pipelines.ml import ocr

    def missing():
        raise ocr.OcrUnavailable("tesseract not installed")

    monkeypatch.setattr(ocr, "get_pipeline", missing)


@pytest.mark.parametrize(
    "node_type,port,breaker,code",
    [
        ("IMAGE__WATERMARK", "count", _break_watermark, "MODEL_UNAVAILABLE"),
        ("IMAGE__NSFW_GATE", "nsfw_score", _break_nsfw, "MODEL_UNAVAILABLE"),
        ("IMAGE__OCR", "text", _break_ocr, "OCR_UNAVAILABLE"),
    ],
)
def test_missing_model_is_a_500_ai_processing_failed(
    eager, pro_user, pro_client, image_server, monkeypatch, node_type, port, breaker, code
):
    from pipelines.nodes.base import get_node_type

    if get_node_type(node_type) is None:
        pytest.skip(f"{node_type} is not installed here")
    breaker(monkeypatch)
    pipeline, key = publish(pro_user, f"broken {node_type}", single_node_graph(node_type, "result", port))
    url = image_server.add_image("/m.png")
    body = assert_fq_error(execute(key, {"inputs": {"image_url": url}}), 500, code)
    assert body["error"].startswith("AI processing failed")
    job = pro_client.post(
        "/api/v1/jobs", {"pipeline": pipeline.slug, "input": {"image_url": url}}, format="json"
    ).json()
    detail = pro_client.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert detail["status"] == "failed" and detail["error"]["code"] == code.lower()


# -- item 12: /docs types every output as what it is ----------------------------------------------------


def test_docs_type_json_outputs_by_their_schema(pro_user):
    from pipelines.nodes.base import get_node_type

    if get_node_type("IMAGE__OCR") is None:
        pytest.skip("OCR is not installed here")
    _, key = publish(pro_user, "Read", single_node_graph("IMAGE__OCR", "lines", "lines"))
    docs = APIClient().get(f"/api/node/api/{key}/docs").json()
    lines = docs["outputSchema"]["lines"]
    assert lines["type"] == "array" and lines["items"]["properties"]["text"] == {"type": "string"}


def test_every_node_output_has_a_typed_schema():
    from pipelines.nodes.base import registry

    for node_type in registry().values():
        for port in node_type.outputs:
            assert port.json_schema().get("type"), f"{node_type.type}.{port.name} has no JSON type"


def test_image_output_description_reads_well(published):
    _, key = published
    description = (
        APIClient().get(f"/api/node/api/{key}/docs").json()["outputSchema"]["result_url"]["description"]
    )
    assert "URL of the The" not in description and description.startswith("URL of the image")


# -- item 10: FractalQ's own User-Agent; item 11: delivery on the job status ------------------------------


def test_callback_has_fractalq_identity_and_job_shows_delivery(eager, published_text, image_server):
    _, key = published_text
    url = image_server.url("/cb")
    job = execute(key, {"inputs": {"command": "x"}, "async": True, "callbackUrl": url}).json()["jobId"]
    _, headers, body = image_server.posts[0]
    assert headers["User-Agent"] == "FractalQ-Callback/1.0" and headers["X-FractalQ-Job-ID"] == job
    assert "X-Fizzly-Request-ID" not in headers
    assert json.loads(body)["success"] is True
    delivery = APIClient().get(f"/api/node/api/{key}/jobs/{job}").json()["delivery"]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert delivery["lastStatusCode"] == 200 and Z_TIME.match(delivery["deliveredAt"])


def test_job_shows_a_callback_given_up(eager, published_text, image_server):
    _, key = published_text
    image_server.post_status = [500, 500, 500, 500]
    url = image_server.url("/down")
    job = execute(key, {"inputs": {"command": "x"}, "async": True, "callbackUrl": url}).json()["jobId"]
    delivery = APIClient().get(f"/api/node/api/{key}/jobs/{job}").json()["delivery"]
    assert delivery == {
        "status": "given_up",
        "attempts": 4,
        "lastStatusCode": 500,
        "lastError": None,
        "deliveredAt": None,
    }
    assert WebhookDelivery.objects.get().status == "failed"


def test_job_delivery_pending_then_none_without_callback(settings, published_text, image_server):
    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = False
    settings.FETCH_ALLOW_LOOPBACK = True
    _, key = published_text
    url = image_server.url("/later")
    job = execute(key, {"inputs": {"command": "x"}, "async": True, "callbackUrl": url}).json()["jobId"]
    poll = APIClient().get(f"/api/node/api/{key}/jobs/{job}").json()
    assert poll["delivery"]["status"] == "pending" and poll["delivery"]["attempts"] == 0
    plain = execute(key, {"inputs": {"command": "y"}, "async": True}).json()["jobId"]
    assert APIClient().get(f"/api/node/api/{key}/jobs/{plain}").json()["delivery"] is None


def test_delivery_helper_for_fizzly_is_snake_case(eager, published_text, image_server):
    from runs.api.common import webhook_delivery

    _, key = published_text
    url = image_server.url("/cb2")
    job = execute(key, {"inputs": {"command": "x"}, "async": True, "callbackUrl": url}).json()["jobId"]
    delivery = webhook_delivery(Run.objects.get(pk=job))
    assert delivery["status"] == "delivered" and delivery["last_status_code"] == 200


# -- item 10: the owner's spending cap per session key ----------------------------------------------------


def test_spending_cap_set_in_studio_stops_the_key(eager, published, image_server, pro_client):
    pipeline, key = published  # 2 credits a run
    url = f"/api/v1/studio/pipelines/{pipeline.pk}/session-key"
    resp = pro_client.patch(url, {"spending_cap": {"credits_per_day": 3}}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["spending_cap"] == {"credits_per_day": 3, "credits_per_month": None}
    image = image_server.add_image("/cap.png")
    assert execute(key, {"inputs": {"image_url": image}}).status_code == 200
    before = User.objects.get(pk=pipeline.owner_id).credit_balance
    resp = execute(key, {"inputs": {"image_url": image}})
    body = assert_fq_error(resp, 429, "SPENDING_CAP_REACHED")
    assert body["details"] == {"period": "day", "cap": 3, "spent": 2, "cost": 2}
    assert 0 < int(resp["Retry-After"]) <= 86400
    assert User.objects.get(pk=pipeline.owner_id).credit_balance == before and Run.objects.count() == 1
    settings_now = pro_client.get(url).json()
    assert settings_now["spent"] == {"today": 2, "this_month": 2} and Z_TIME.match(settings_now["created_at"])
    # a rotated key keeps the cap and the spend: rotating a leaked key does not reset it
    new_key = pipeline_services.issue_session_key(pipeline)
    assert_fq_error(execute(new_key, {"inputs": {"image_url": image}}), 429, "SPENDING_CAP_REACHED")
    pro_client.patch(url, {"spending_cap": {"credits_per_day": None}}, format="json")
    assert execute(new_key, {"inputs": {"image_url": image}}).status_code == 200


def test_spending_cap_given_on_publish_and_shown_in_docs(pro_user, pro_client):
    pipeline = pipeline_services.create_pipeline(pro_user, "Capped", graph=resize_graph())
    resp = pro_client.post(
        f"/api/v1/studio/pipelines/{pipeline.pk}/publish",
        {"spending_cap": {"credits_per_month": 50}},
        format="json",
    )
    assert resp.status_code == 201, resp.content
    docs = APIClient().get(f"/api/node/api/{resp.json()['session_key']}/docs").json()
    assert docs["spendingCap"] == {"creditsPerDay": None, "creditsPerMonth": 50}
    bad = pro_client.patch(
        f"/api/v1/studio/pipelines/{pipeline.pk}/session-key",
        {"spending_cap": {"credits_per_day": -1}},
        format="json",
    )
    assert bad.status_code == 400


def test_monthly_cap_counts_credits_held_by_running_calls(settings, pro_user):
    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = False
    pipeline, key = publish(pro_user, "Held", resize_graph())
    pipeline_services.set_spending_caps(pipeline, {"credits_per_month": 4})
    for _ in range(2):
        assert (
            execute(key, {"inputs": {"image_url": "https://example.com/a.png"}, "async": True}).status_code
            == 202
        )
    resp = execute(key, {"inputs": {"image_url": "https://example.com/a.png"}, "async": True})
    assert assert_fq_error(resp, 429, "SPENDING_CAP_REACHED")["details"]["period"] == "month"


def test_spending_caps_editable_in_admin(admin_client, published):
    from pipelines.models import SessionKey

    key = SessionKey.objects.get()
    page = admin_client.get(f"/admin/pipelines/sessionkey/{key.pk}/change/")
    assert page.status_code == 200 and b"daily_credit_cap" in page.content
