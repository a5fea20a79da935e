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

    monkeypatch.setattr("runs.tasks.enqueue_run", worker_starts)
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

    monkeypatch.setattr("runs.tasks.enqueue_run", worker)
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


# -- Fluxara item 5: the closed beta, GET /auth, the seed's 401 wording -----------------------------------

SEED_DENIAL = {"error": "access_denied", "message": "closed beta environment"}


def bearer(raw):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_unauthenticated_gets_the_seeds_denial_word_for_word():
    for url in ("/api/v1/auth", "/api/v1/status", "/api/v1/jobs/job_x"):
        resp = APIClient().get(url)
        assert resp.status_code == 401 and resp.json() == SEED_DENIAL
    assert bearer("nonsense").get("/api/v1/auth").json() == SEED_DENIAL


def test_auth_for_an_approved_account(pro_client, pro_user):
    resp = pro_client.get("/api/v1/auth")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "user": pro_user.username, "approved": True, "credential": "jwt"}


def test_unapproved_account_is_denied_until_an_admin_approves_it(make_user, published):
    from accounts import keys
    from runs import beta

    newcomer = make_user(tier="pro", credits_amount=100, fluxara_beta=False)
    client = bearer(keys.create_api_key(newcomer, "k", kind="queue").raw)
    for method, url in (("get", "/api/v1/auth"), ("get", "/api/v1/pipelines"), ("post", "/api/v1/jobs")):
        resp = getattr(client, method)(url, {}, format="json") if method == "post" else client.get(url)
        assert resp.status_code == 403 and resp.json() == SEED_DENIAL
    beta.approve(newcomer)
    resp = client.get("/api/v1/auth")
    assert resp.status_code == 200 and resp.json()["credential"] == "api_key"


def test_beta_group_is_set_in_django_admin(admin_client, make_user):
    from django.contrib.auth.models import Group

    from runs import beta

    user = make_user(fluxara_beta=False)
    group = Group.objects.get_or_create(name=beta.BETA_GROUP)[0]
    page = admin_client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200 and beta.BETA_GROUP.encode() in page.content
    user.groups.add(group)
    assert beta.is_approved(user)


def test_existing_accounts_and_the_demo_user_are_approved(make_user):
    import importlib
    import io

    from django.apps import apps
    from django.core.management import call_command

    from runs import beta

    earlier = make_user(fluxara_beta=False)
    migration = importlib.import_module("runs.migrations.0004_fluxara_beta_group")
    migration.approve_existing(apps, None)
    assert beta.is_approved(User.objects.get(pk=earlier.pk))
    call_command("seed_demo", stdout=io.StringIO())
    assert beta.is_approved(User.objects.get(username="demo"))


# -- Fluxara item 5: status, jobs that fail as a whole, updated_at, resolution, text results ---------------


def test_status_reports_our_version(pro_client):
    import tomllib
    from pathlib import Path

    from django.conf import settings

    version = tomllib.loads((Path(settings.BASE_DIR) / "pyproject.toml").read_text())["project"]["version"]
    body = pro_client.get("/api/v1/status").json()
    assert body["version"] == version and body["version"] != "0.9.3-beta"


def test_job_with_one_failed_run_is_failed_lists_nothing_and_costs_nothing(
    eager, pro_client, pro_user, published, image_server, monkeypatch
):
    from pipelines.nodes.base import get_node_type

    gray = get_node_type("IMAGE__GRAYSCALE")
    original = gray.run
    calls = []

    def second_fails(self, ctx, inputs, params):
        calls.append(1)
        if len(calls) == 2:
            raise NodeError("could not decode the image", "INVALID_IMAGE")
        return original(self, ctx, inputs, params)

    monkeypatch.setattr(gray, "run", second_fails)
    before = User.objects.get(pk=pro_user.pk).credit_balance
    url = image_server.add_image("/two.png")
    job = pro_client.post(
        "/api/v1/jobs",
        {"pipeline": "thumbs", "input": {"image_url": url}, "options": {"count": 2}},
        format="json",
    ).json()
    assert sorted(Run.objects.values_list("status", flat=True)) == ["completed", "failed"]
    detail = pro_client.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert detail["status"] == "failed" and detail["error"]["code"] == "invalid_image"
    outputs = pro_client.get(f"/api/v1/jobs/{job['job_id']}/outputs").json()
    assert outputs == {"job_id": job["job_id"], "status": "failed", "outputs": []}
    assert User.objects.get(pk=pro_user.pk).credit_balance == before
    assert set(Run.objects.values_list("credits_used", flat=True)) == {0}


def test_updated_at_follows_the_jobs_state(settings, pro_client, published_text):
    from datetime import timedelta

    from runs.engine import execute_run

    settings.RUNS_EAGER = False
    job = pro_client.post(
        "/api/v1/jobs", {"pipeline": "echo", "input": {"command": "hi"}}, format="json"
    ).json()
    assert Z_TIME.match(job["created_at"])
    earlier = timezone.now() - timedelta(minutes=1)
    Run.objects.filter(job_id=job["job_id"]).update(created_at=earlier, updated_at=earlier)
    queued = pro_client.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert queued["status"] == "queued" and queued["updated_at"] == queued["created_at"]
    execute_run(Run.objects.get(job_id=job["job_id"]).pk)
    done = pro_client.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert done["status"] == "completed" and Z_TIME.match(done["updated_at"])
    assert done["updated_at"] > done["created_at"]


def test_heartbeats_do_not_count_as_a_change_of_state(published_text, pro_user):
    pipeline, _ = published_text
    from runs import services

    run = services.submit_run(
        pipeline=pipeline,
        version=pipeline.latest_version,
        billed_to=pro_user,
        surface="fluxara",
        inputs={"command": "x"},
        enqueue=False,
    ).run
    stamp = Run.objects.get(pk=run.pk).updated_at
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    assert Run.objects.get(pk=run.pk).updated_at == stamp
    Run.objects.filter(pk=run.pk).update(progress=50)
    assert Run.objects.get(pk=run.pk).updated_at > stamp


@pytest.mark.parametrize(
    "options,message",
    [
        ({"resolution": "1024x1024"}, "not supported by this pipeline"),
        ({"resolution": "big"}, "must look like 1024x1024"),
        ({"resolution": "99999x2"}, "must look like 1024x1024"),
        ({"quality": "high"}, "Unknown option: quality"),
    ],
)
def test_options_that_would_be_ignored_are_refused(pro_client, published_text, options, message):
    resp = pro_client.post(
        "/api/v1/jobs", {"pipeline": "echo", "input": {"command": "x"}, "options": options}, format="json"
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_request"
    assert message in resp.json()["error"]["message"]
    assert Run.objects.count() == 0


def test_text_results_are_artifacts_not_values(eager, pro_client, published_text):
    job = pro_client.post(
        "/api/v1/jobs", {"pipeline": "echo", "input": {"command": "hello"}}, format="json"
    ).json()
    body = pro_client.get(f"/api/v1/jobs/{job['job_id']}/outputs").json()
    assert "values" not in body and body["status"] == "completed"
    [out] = body["outputs"]
    assert out["type"].startswith("text/plain") and out["name"] == "echo" and out["width"] is None
    download = pro_client.get(out["download_url"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"hello"
    again = pro_client.get(f"/api/v1/jobs/{job['job_id']}/outputs").json()
    assert again["outputs"] == body["outputs"]  # stored once


# -- OpenAPI: every FractalQ and Fluxara operation documented in the seed's words -------------------------


def test_openapi_documents_fractalq_and_fluxara_operations(client):
    schema = client.get("/api/schema", {"format": "json"}).json()
    ops = {
        (path, method): op
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in ("get", "post") and op["operationId"].startswith(("fractalq_", "fluxara_"))
    }
    assert ("/api/v1/auth", "get") in ops and len(ops) == 10
    for (path, method), op in ops.items():
        assert op.get("description") and "Adds the X-RateLimit" not in op["description"], path
        assert op.get("summary"), path
        assert "additionalProperties" not in json.dumps(
            op["responses"]["200" if "200" in op["responses"] else "201"]["content"]
        ) or path.endswith("/artifacts/{artifact_id}"), path
        assert "X-RateLimit-Limit" in op["responses"]["429"]["headers"]
        assert "Retry-After" in op["responses"]["429"]["headers"]
        if method == "post":
            assert "$ref" in json.dumps(op["requestBody"]), path
    execute = ops[("/api/node/api/{api_key}/execute", "post")]
    assert {"200", "202", "400", "404", "422", "429", "500"} <= set(execute["responses"])
    assert execute["responses"]["500"]["description"].startswith("AI processing failed")
    components = schema["components"]["schemas"]
    assert {"success", "error", "code"} <= set(components["FractalQError"]["properties"])
    assert set(components["FluxaraAccessDenied"]["properties"]) == {"error", "message"}
    job = ops[("/api/v1/jobs/{job_id}", "get")]
    assert {"200", "401", "403", "404", "429"} <= set(job["responses"])
