"""Privacy of files and runs (issue 12, items 3-5), with two users: A owns a public pipeline, B consumes it.

3. Media files reach browsers through signed, expiring URLs only; unsigned, tampered or expired links get 403.
4. An ``art_`` input resolves only to the caller's own artifacts, never to the pipeline owner's.
5. A run's inputs, outputs, artifacts and cancel are its caller's: the pipeline owner sees aggregates and
   redacted rows only, and the caller keeps its runs after the owner makes the pipeline private.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from accounts.models import Tier
from config import media
from pipelines import services as pipeline_services
from runs.access import runs_visible_to
from runs.models import Artifact, Run, RunStatus
from tests.conftest import login
from tests.runs import conftest as runs_fixtures
from tests.runs.conftest import png_bytes, resize_graph
from tests.runs.test_fizzly import parse_sse, stream_body

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
eager = runs_fixtures.eager  # the run fixtures, shared with tests/runs/
image_server = runs_fixtures.image_server


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, user)}")
    client.user = user
    return client


@pytest.fixture
def alice(make_user):
    return make_user(tier=Tier.PRO, credits_amount=500, username="alice")


@pytest.fixture
def bob(make_user):
    return make_user(tier=Tier.PRO, credits_amount=500, username="bob")


@pytest.fixture
def public_pipeline(alice):
    """Alice's published, public INPUT__IMAGE → RESIZE → GRAYSCALE → OUTPUT__ pipeline and its session key."""
    pipeline = pipeline_services.create_pipeline(alice, "Thumbs", graph=resize_graph())
    pipeline_services.update_pipeline(pipeline, {"is_public": True})
    return pipeline, pipeline_services.publish(pipeline).session_key


def upload(client: APIClient) -> dict:
    resp = client.post("/api/v1/studio/uploads", {"file": io.BytesIO(png_bytes())}, format="multipart")
    assert resp.status_code == 201, resp.content
    return resp.json()


def relative(url: str) -> str:
    """The path and query of an absolute URL, as the test client wants it."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def fizzly(pipeline) -> str:
    return f"/workflows/{pipeline.owner.username}/{pipeline.slug}"


def submit_fizzly(client: APIClient, pipeline, image: str) -> str:
    resp = client.post(fizzly(pipeline), {"inputs": {"image_url": image}}, format="json")
    assert resp.status_code == 200, resp.content
    return resp.json()["request_id"]


def file_bytes(resp) -> bytes:
    return b"".join(resp.streaming_content) if resp.streaming else resp.content


# --- 3. media files: signed, expiring URLs ---------------------------------------------------------


def test_media_is_served_only_for_a_valid_signature(alice):
    a = client_for(alice)
    url = upload(a)["url"]
    path = urlsplit(url).path
    assert path.startswith("/media/artifacts/")
    query = parse_qs(urlsplit(url).query)
    assert set(query) == {"expires", "signature"}

    anonymous = APIClient()
    ok = anonymous.get(relative(url))  # the signed URL is the capability: no session needed
    assert ok.status_code == 200 and file_bytes(ok).startswith(b"\x89PNG")
    assert ok["Cache-Control"].startswith("private") and ok["X-Content-Type-Options"] == "nosniff"

    assert anonymous.get(path).status_code == 403  # the old bearer URL
    tampered = relative(url).replace(query["signature"][0], query["signature"][0][::-1])
    assert anonymous.get(tampered).status_code == 403
    later = relative(url).replace(
        f"expires={query['expires'][0]}", f"expires={int(query['expires'][0]) + 60}"
    )
    assert anonymous.get(later).status_code == 403  # the expiry is signed too
    other = upload(a)
    other_path = urlsplit(other["url"]).path
    assert anonymous.get(f"{other_path}?{urlsplit(url).query}").status_code == 403  # bound to its path
    for response in (anonymous.get(path), anonymous.get(tampered)):
        assert b"PNG" not in file_bytes(response)


def test_signed_media_urls_expire_after_the_configured_max_age(settings, alice, monkeypatch):
    settings.MEDIA_URL_MAX_AGE = 600
    art = Artifact.objects.get(pk=upload(client_for(alice))["artifact_id"])
    name = art.file.name
    now = 1_800_000_000
    query = parse_qs(media.signed_query(name, now=now))
    expires, signature = query["expires"][0], query["signature"][0]
    assert 600 <= int(expires) - now <= 660  # max age, rounded up to a tenth of it
    assert media.check_signature(name, expires, signature, now=now + 599)
    assert not media.check_signature(name, expires, signature, now=int(expires) + 1)
    monkeypatch.setattr(media.time, "time", lambda: int(expires) + 1)
    resp = APIClient().get(f"/media/{name}?expires={expires}&signature={signature}")
    assert resp.status_code == 403


def test_a_valid_signature_for_a_missing_file_is_404(alice):
    name = "artifacts/2000/01/01/art_missing.png"
    assert APIClient().get(f"/media/{name}?{media.signed_query(name)}").status_code == 404


def test_every_surface_hands_out_signed_urls(eager, alice, public_pipeline, image_server):
    pipeline, key = public_pipeline
    image = image_server.add_image("/in.png")
    fq = APIClient().post(f"/api/node/api/{key}/execute", {"inputs": {"image_url": image}}, format="json")
    assert fq.status_code == 200, fq.content
    a = client_for(alice)
    rid = submit_fizzly(a, pipeline, image)
    fz = a.get(f"{fizzly(pipeline)}/requests/{rid}").json()["outputs"]["result_url"]["url"]
    studio = a.get(f"/api/v1/studio/runs/{rid}").json()["outputs"]["result_url"]["url"]
    for url in (fq.json()["outputs"]["result_url"], fz, studio):
        assert "/media/artifacts/" in url and "signature=" in url and "expires=" in url
        assert APIClient().get(relative(url)).status_code == 200
        assert APIClient().get(urlsplit(url).path).status_code == 403


def test_s3_storage_presigns_with_the_same_max_age():
    """With STORAGE_BUCKET set, django-storages presigns URLs that expire after MEDIA_URL_MAX_AGE."""
    env = {
        **os.environ,
        "STORAGE_BUCKET": "canvasflow-test",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "MEDIA_URL_MAX_AGE": "900",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    code = (
        "import django; django.setup()\n"
        "from django.core.files.storage import default_storage as s\n"
        "print(s.url('artifacts/a/art_x.png'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    query = parse_qs(urlsplit(out.stdout.strip()).query)
    if "X-Amz-Expires" in query:  # SigV4
        assert query["X-Amz-Expires"] == ["900"] and "X-Amz-Signature" in query
    else:  # SigV2: an absolute expiry
        assert 880 <= int(query["Expires"][0]) - time.time() <= 900 and "Signature" in query


# --- 4. input artifacts belong to the caller -------------------------------------------------------


def test_a_consumer_cannot_process_the_owners_private_upload(eager, alice, bob, public_pipeline):
    pipeline, _ = public_pipeline
    a, b = client_for(alice), client_for(bob)
    alices_upload = upload(a)["artifact_id"]
    rid = submit_fizzly(b, pipeline, alices_upload)
    run = Run.objects.get(pk=rid)
    assert run.status == RunStatus.FAILED and run.error["code"] == "INVALID_INPUT"
    assert alices_upload in run.error["message"] and not run.artifacts.exists()
    # B's own upload works through the same pipeline; A cannot use B's upload either
    bobs_upload = upload(b)["artifact_id"]
    assert Run.objects.get(pk=submit_fizzly(b, pipeline, bobs_upload)).status == RunStatus.COMPLETED
    own = a.post(
        f"/api/v1/studio/pipelines/{pipeline.pk}/runs", {"inputs": {"image_url": bobs_upload}}, format="json"
    )
    assert own.status_code == 202
    assert Run.objects.get(pk=own.json()["id"]).error["code"] == "INVALID_INPUT"
    assert Run.objects.get(pk=submit_fizzly(a, pipeline, alices_upload)).status == RunStatus.COMPLETED


def test_fluxara_job_cannot_reference_another_users_artifact(eager, alice, bob, public_pipeline):
    upload(client_for(alice))
    alices_upload = Artifact.objects.filter(owner=alice).get().pk
    b = client_for(bob)
    job = b.post(
        "/api/v1/jobs", {"pipeline": "alice/thumbs", "input": {"image_url": alices_upload}}, format="json"
    )
    assert job.status_code == 201, job.content
    detail = b.get(f"/api/v1/jobs/{job.json()['job_id']}").json()
    assert detail["status"] == "failed" and detail["error"]["code"] == "invalid_input"
    assert b.get(f"/api/v1/jobs/{job.json()['job_id']}/outputs").json()["outputs"] == []


# --- 5. a run is its caller's ----------------------------------------------------------------------


@pytest.fixture
def bobs_run(eager, bob, public_pipeline, image_server):
    """A completed Fizzly run of Alice's public pipeline, submitted (and paid) by Bob with a private input."""
    pipeline, _ = public_pipeline
    secret_input = image_server.add_image("/bobs-private-photo.png")
    rid = submit_fizzly(client_for(bob), pipeline, secret_input)
    assert Run.objects.get(pk=rid).status == RunStatus.COMPLETED
    return Run.objects.get(pk=rid), secret_input


def test_owner_cannot_read_a_consumers_run(alice, bobs_run, public_pipeline):
    run, secret = bobs_run
    pipeline, _ = public_pipeline
    a = client_for(alice)
    assert a.get(f"/api/v1/studio/runs/{run.pk}").status_code == 404
    for suffix in ("", "/status", "/status/stream"):
        resp = a.get(f"{fizzly(pipeline)}/requests/{run.pk}{suffix}")
        assert resp.status_code == 404 and resp.json()["code"] == "NOT_FOUND"
    artifact = run.artifacts.get(node_id="out")
    assert a.get(f"/api/v1/artifacts/{artifact.pk}").status_code == 404
    assert not runs_visible_to(alice).filter(pk=run.pk).exists()  # also the WebSocket's rule
    # the run history shows Bob's run redacted: state and timings, no inputs, outputs or URLs
    history = a.get(f"/api/v1/studio/pipelines/{pipeline.pk}/runs").json()
    row = next(r for r in history if r["id"] == run.pk)
    assert row["own"] is False and row["status"] == "completed" and row["credits_used"] == 2
    assert "inputs" not in row and "outputs" not in row and secret not in str(history)
    assert artifact.pk not in str(history) and "/media/" not in str(history)


def test_owner_sees_aggregate_usage_and_failure_codes(alice, bob, bobs_run, public_pipeline):
    _, secret = bobs_run
    pipeline, _ = public_pipeline
    submit_fizzly(client_for(bob), pipeline, "art_does_not_exist")  # fails on Bob's side
    usage = client_for(alice).get(f"/api/v1/studio/pipelines/{pipeline.pk}/usage")
    assert usage.status_code == 200
    body = usage.json()
    assert body["runs"] == 2 and body["callers"] == 1
    assert body["by_status"] == {"completed": 1, "failed": 1} and body["by_surface"] == {"fizzly": 2}
    assert body["error_codes"] == {"INVALID_INPUT": 1} and body["credits_used"] >= 2
    assert secret not in str(body) and "art_does_not_exist" not in str(body)
    failed = next(
        r
        for r in client_for(alice).get(f"/api/v1/studio/pipelines/{pipeline.pk}/runs").json()
        if r["status"] == "failed"
    )
    assert failed["error"] == {"code": "INVALID_INPUT"}  # the message names Bob's input: withheld
    assert client_for(bob).get(f"/api/v1/studio/pipelines/{pipeline.pk}/usage").status_code == 404


def test_owner_cannot_cancel_a_consumers_run(settings, alice, bob, public_pipeline):
    settings.RUNS_EAGER = False
    pipeline, _ = public_pipeline
    rid = submit_fizzly(client_for(bob), pipeline, "https://example.com/queued.png")
    a = client_for(alice)
    assert a.put(f"{fizzly(pipeline)}/requests/{rid}/cancel").status_code == 404
    assert a.post(f"/api/v1/studio/runs/{rid}/cancel").status_code == 404
    assert Run.objects.get(pk=rid).status == RunStatus.QUEUED
    cancel = client_for(bob).put(f"{fizzly(pipeline)}/requests/{rid}/cancel")
    assert cancel.status_code == 200 and cancel.json()["credits_refunded"] == 2


def test_owners_own_runs_stay_fully_visible_to_the_owner(eager, alice, public_pipeline, image_server):
    pipeline, key = public_pipeline
    a = client_for(alice)
    rid = submit_fizzly(a, pipeline, image_server.add_image("/mine.png"))
    APIClient().post(
        f"/api/node/api/{key}/execute",
        {"inputs": {"image_url": image_server.add_image("/k.png")}},
        format="json",
    )  # FractalQ: billed to the owner, so the owner's run
    history = a.get(f"/api/v1/studio/pipelines/{pipeline.pk}/runs").json()
    assert len(history) == 2 and all(r["own"] for r in history)
    detail = a.get(f"/api/v1/studio/runs/{rid}").json()
    assert detail["inputs"]["image_url"].endswith("/mine.png") and detail["outputs"]["result_url"]["url"]


def test_consumer_keeps_its_runs_after_the_pipeline_goes_private(alice, bob, bobs_run, public_pipeline):
    run, secret = bobs_run
    pipeline, _ = public_pipeline
    b = client_for(bob)
    pipeline_services.update_pipeline(pipeline, {"is_public": False})
    # no new requests …
    assert b.post(fizzly(pipeline), {"inputs": {"image_url": secret}}, format="json").status_code == 404
    # … but every result Bob paid for stays his, on every surface
    base = f"{fizzly(pipeline)}/requests/{run.pk}"
    assert b.get(f"{base}/status").json()["status"] == "COMPLETED"
    result = b.get(base)
    assert result.status_code == 200
    url = result.json()["outputs"]["result_url"]["url"]
    assert APIClient().get(relative(url)).status_code == 200
    events = parse_sse(stream_body(b.get(f"{base}/status/stream")))
    assert events[-1][0] == "output"
    assert b.get(f"/api/v1/studio/runs/{run.pk}").json()["inputs"] == {"image_url": secret}
    artifact = run.artifacts.get(node_id="out")
    download = b.get(f"/api/v1/artifacts/{artifact.pk}")
    assert download.status_code == 200 and file_bytes(download).startswith(b"\x89PNG")
    assert runs_visible_to(bob).filter(pk=run.pk).exists()


def test_consumer_keeps_fluxara_jobs_after_the_pipeline_goes_private(
    eager, bob, public_pipeline, image_server
):
    pipeline, _ = public_pipeline
    b = client_for(bob)
    job = b.post(
        "/api/v1/jobs",
        {"pipeline": "alice/thumbs", "input": {"image_url": image_server.add_image("/j.png")}},
        format="json",
    ).json()["job_id"]
    pipeline_services.update_pipeline(pipeline, {"is_public": False})
    assert b.get(f"/api/v1/jobs/{job}").json()["status"] == "completed"
    outputs = b.get(f"/api/v1/jobs/{job}/outputs").json()["outputs"]
    assert len(outputs) == 1 and b.get(outputs[0]["download_url"]).status_code == 200
    assert client_for(pipeline.owner).get(outputs[0]["download_url"]).status_code == 404


def test_fractalq_polling_survives_the_pipeline_going_private(alice, settings, public_pipeline):
    settings.RUNS_EAGER = False
    pipeline, key = public_pipeline
    resp = APIClient().post(
        f"/api/node/api/{key}/execute",
        {"inputs": {"image_url": "https://example.com/p.png"}, "async": True},
        format="json",
    )
    assert resp.status_code == 202, resp.content
    pipeline_services.update_pipeline(pipeline, {"is_public": False})
    poll = APIClient().get(f"/api/node/api/{key}/jobs/{resp.json()['jobId']}")
    assert poll.status_code == 200 and poll.json()["status"] == "queued"
