"""Fluxara job surface (seed 001): status, pipelines, jobs with presets/count/resolution, outputs, artifacts."""

import pytest
from rest_framework.test import APIClient

from accounts import keys
from runs.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def flux(pro_client):
    return pro_client


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.content
    assert resp.json()["error"]["code"] == code and resp.json()["error"]["message"]


def test_unauthenticated_is_access_denied():
    for url in ("/api/v1/status", "/api/v1/pipelines", "/api/v1/jobs/job_x"):
        resp = APIClient().get(url)
        assert resp.status_code == 401
        assert resp.json()["error"] == "access_denied" and "message" in resp.json()
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer nonsense")
    assert bad.get("/api/v1/status").json()["error"] == "access_denied"


def test_status_and_pipelines(flux, published, make_user):
    resp = flux.get("/api/v1/status")
    assert resp.status_code == 200 and resp.json()["status"] == "ok"
    assert set(resp.json()) == {"status", "service", "version", "environment"}
    pipelines = flux.get("/api/v1/pipelines").json()["pipelines"]
    assert pipelines == [
        {"id": "thumbs", "name": "Thumbs", "type": "image", "status": "active", "presets": ["tiny"]}
    ]
    other = make_user(tier="pro")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {keys.create_api_key(other, 'k', kind='queue').raw}")
    assert client.get("/api/v1/pipelines").json()["pipelines"] == []  # private to its owner


def test_job_lifecycle_with_preset_count_and_artifacts(eager, flux, published, image_server):
    url = image_server.add_image("/f.png")
    resp = flux.post(
        "/api/v1/jobs",
        {"pipeline": "thumbs", "preset": "tiny", "input": {"image_url": url}, "options": {"count": 2}},
        format="json",
    )
    assert resp.status_code == 201, resp.content
    job = resp.json()
    assert job["job_id"].startswith("job_") and job["status"] == "queued" and job["created_at"]
    detail = flux.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert detail["status"] == "completed" and detail["pipeline"] == "thumbs" and detail["preset"] == "tiny"
    assert detail["count"] == 2
    outputs = flux.get(f"/api/v1/jobs/{job['job_id']}/outputs").json()
    assert outputs["status"] == "completed" and len(outputs["outputs"]) == 2
    first = outputs["outputs"][0]
    assert first["type"] == "image/png" and (first["width"], first["height"]) == (8, 8)
    assert first["download_url"] == f"/api/v1/artifacts/{first['artifact_id']}"
    dl = flux.get(first["download_url"])
    assert dl.status_code == 200 and dl["Content-Type"] == "image/png"
    assert b"".join(dl.streaming_content).startswith(b"\x89PNG")
    assert APIClient().get(first["download_url"]).status_code == 401


def test_resolution_option_applies_to_resize(eager, flux, published, image_server):
    url = image_server.add_image("/r.png")
    job = flux.post(
        "/api/v1/jobs",
        {"pipeline": "thumbs", "input": {"image_url": url}, "options": {"resolution": "20x12"}},
        format="json",
    ).json()
    out = flux.get(f"/api/v1/jobs/{job['job_id']}/outputs").json()["outputs"][0]
    assert (out["width"], out["height"]) == (20, 12)


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"pipeline": "nope", "input": {}}, 404, "not_found"),
        (
            {
                "pipeline": "thumbs",
                "preset": "sdxl-cinematic-beta",
                "input": {"image_url": "https://e.com/a.png"},
            },
            400,
            "invalid_request",
        ),
        ({"pipeline": "thumbs", "input": {}}, 400, "invalid_request"),
        (
            {"pipeline": "thumbs", "input": {"image_url": "https://e.com/a.png"}, "options": {"count": 0}},
            400,
            "invalid_request",
        ),
        (
            {"pipeline": "thumbs", "input": {"image_url": "https://e.com/a.png"}, "options": {"count": "2"}},
            400,
            "invalid_request",
        ),
        ({"pipeline": 7, "input": {}}, 400, "invalid_request"),
    ],
)
def test_job_errors(flux, published, body, status, code):
    assert_error(flux.post("/api/v1/jobs", body, format="json"), status, code)
    assert Run.objects.count() == 0


def test_preset_error_message_matches_seed(flux, published):
    resp = flux.post(
        "/api/v1/jobs",
        {"pipeline": "thumbs", "preset": "nope", "input": {"image_url": "https://e.com/a.png"}},
        format="json",
    )
    assert resp.json()["error"]["message"] == "Preset is not available in the current environment."


def test_count_reserves_all_or_nothing(flux, published, pro_user):
    from accounts.models import User

    User.objects.filter(pk=pro_user.pk).update(credit_balance=5)
    resp = flux.post(
        "/api/v1/jobs",
        {"pipeline": "thumbs", "input": {"image_url": "https://e.com/a.png"}, "options": {"count": 3}},
        format="json",
    )
    assert_error(resp, 402, "insufficient_credits")
    assert Run.objects.count() == 0 and User.objects.get(pk=pro_user.pk).credit_balance == 5


def test_failed_job_and_foreign_job(eager, flux, published, image_server, make_user):
    job = flux.post(
        "/api/v1/jobs",
        {"pipeline": "thumbs", "input": {"image_url": image_server.url("/x.png")}},
        format="json",
    ).json()
    detail = flux.get(f"/api/v1/jobs/{job['job_id']}").json()
    assert detail["status"] == "failed" and detail["error"]["code"] == "unreachable_url"
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {keys.create_api_key(make_user(tier='pro'), 'k', kind='queue').raw}")
    assert_error(other.get(f"/api/v1/jobs/{job['job_id']}"), 404, "not_found")
    assert_error(flux.get("/api/v1/artifacts/art_nope"), 404, "not_found")


def test_same_pipeline_same_outputs_on_all_surfaces(eager, flux, published, image_server, queue_key):
    """One published pipeline run through FractalQ, Fizzly and Fluxara gives the same pixels."""
    pipeline, key = published
    url = image_server.add_image("/same.png")
    fq = (
        APIClient().post(f"/api/node/api/{key}/execute", {"inputs": {"image_url": url}}, format="json").json()
    )
    fiz = APIClient()
    fiz.credentials(HTTP_AUTHORIZATION=f"Key {queue_key}")
    rid = fiz.post(
        f"/workflows/{pipeline.owner.username}/thumbs", {"inputs": {"image_url": url}}, format="json"
    ).json()["request_id"]
    fz = fiz.get(f"/workflows/{pipeline.owner.username}/thumbs/requests/{rid}").json()
    job = flux.post("/api/v1/jobs", {"pipeline": "thumbs", "input": {"image_url": url}}, format="json").json()
    fx = flux.get(f"/api/v1/jobs/{job['job_id']}/outputs").json()["outputs"][0]
    from runs.models import Artifact

    files = []
    # the pipeline's outputs (Fizzly also stores intermediate images, named node.port, for its event stream)
    outputs = Artifact.objects.filter(run__isnull=False).exclude(output_key__contains=".")
    for art in outputs.order_by("created_at"):
        with art.file.open("rb") as fh:
            files.append(fh.read())
    assert len(files) == 3 and files[0] == files[1] == files[2]
    assert fq["outputs"]["result_url"].split("/")[-1].split(".")[0] != ""
    assert fz["outputs"]["result_url"]["width"] == fx["width"] == 32
