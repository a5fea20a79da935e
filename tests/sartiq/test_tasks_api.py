"""The Sartiq Compute task routes as a client of the seed sees them: shapes, enums, defaults, FastAPI errors,
tasks running through our engine, cancel, cleanup and delete."""

from __future__ import annotations

import base64
import socket
import uuid

import pytest
from django.core.files.storage import default_storage
from PIL import Image
from rest_framework.test import APIClient

from accounts import keys
from accounts.models import ApiKeyKind
from runs.api.sartiq import schema as S
from runs.api.sartiq.models import SartiqTask
from runs.models import Run, RunEvent, Surface
from tests.sartiq.conftest import adjuster, background_fix, client_for, data_url, png

pytestmark = pytest.mark.django_db

TASK_STATUSES = {"PENDING", "EXECUTING", "COMPLETED", "FAILED", "CANCELLED"}


def create(client, body, status=200):
    resp = client.post("/api/v1/tasks/", body, format="json")
    assert resp.status_code == status, resp.content
    return resp.json()


def assert_public_shape(body):
    """Every field of the type's *TaskPublic is there (null where unknown), nothing else."""
    model = S.PUBLIC_MODELS[body["task_type"]]
    assert set(body) == set(model.model_fields), set(body) ^ set(model.model_fields)
    uuid.UUID(body["id"])
    assert body["status"] in TASK_STATUSES
    assert 0 <= body["progress"] <= 100


# -- create and run -------------------------------------------------------------------------------------


def test_image_adjuster_runs_to_completion_through_the_engine(sartiq):
    balance = sartiq.user.credit_balance
    body = create(sartiq, adjuster())
    assert_public_shape(body)
    assert body["task_type"] == "IMAGE_ADJUSTER" and body["status"] == "COMPLETED"
    assert body["progress"] == 100.0 and body["retry_count"] == 0 and body["errors"] is None
    assert body["started_at"] and body["completed_at"]
    # the engine ran it: a run of the sartiq surface with its events, charged one credit
    task = SartiqTask.objects.get(pk=body["id"])
    assert task.run.surface == Surface.SARTIQ
    assert RunEvent.objects.filter(run=task.run, type="run.completed").exists()
    sartiq.user.refresh_from_db()
    assert sartiq.user.credit_balance == balance - 1
    # the result is a stored file, cropped from 120x60 to 1:1
    with default_storage.open(body["result_image_path"]) as fh:
        assert Image.open(fh).size == (60, 60)
    assert default_storage.exists(body["input_image_path"])
    got = sartiq.get(f"/api/v1/tasks/{body['id']}").json()
    assert got == {**body, "updated_at": got["updated_at"]}


def test_image_adjuster_defaults_and_nulls(sartiq):
    body = create(sartiq, adjuster())
    assert body["priority"] == 0 and body["tolerance"] == 0.0
    for name in (
        "target_width",
        "target_height",
        "cropping_position",
        "resampling",
        "margin_top",
        "reference_image_path",
        "provider_type",
        "provider_config",
        "origin_zone",
        "origin_tenant_id",
        "origin_reference",
        "executor_type",
        "error_category",
        "config",
    ):
        assert body[name] is None, name


def test_image_adjuster_scale_to_a_target_size(sartiq):
    body = create(
        sartiq,
        adjuster(
            mode="scale", aspect_ratio=None, target_width=90, target_height=30, scaling_proportions="height"
        ),
    )
    assert body["status"] == "COMPLETED", body
    with default_storage.open(body["result_image_path"]) as fh:
        assert Image.open(fh).size == (90, 30)


def test_image_adjuster_keeps_margins_around_the_subject(sartiq):
    # the subject of png() spans x 40..80 of 120 and y 15..60 of 60: it touches the bottom edge
    body = create(sartiq, adjuster(mode="pad", margin_bottom=0.2, margin_top=0.1))
    assert body["status"] == "COMPLETED", body
    assert (body["margin_bottom"], body["margin_top"], body["margin_left"]) == (0.2, 0.1, None)
    with default_storage.open(body["result_image_path"]) as fh:
        out = Image.open(fh).convert("RGB")
    assert out.width == out.height
    rows = [y for y in range(out.height) if out.getpixel((out.width // 2, y)) == (30, 40, 50)]
    assert rows[0] >= 0.1 * out.height - 1 and out.height - 1 - rows[-1] >= 0.2 * out.height - 1


def test_image_adjuster_takes_the_margins_of_a_reference_image(sartiq):
    reference = data_url(png((100, 100)))  # subject 33..66 x 25..99: no room below
    body = create(sartiq, adjuster(mode="crop", reference_image=reference))
    assert body["status"] == "COMPLETED", body
    assert body["reference_image_path"] and default_storage.exists(body["reference_image_path"])


def test_bare_base64_is_an_image_and_a_server_path_is_refused(sartiq):
    raw = base64.b64encode(png()).decode()
    assert create(sartiq, adjuster(input_image=raw))["status"] == "COMPLETED"
    resp = sartiq.post("/api/v1/tasks/", adjuster(input_image="/etc/passwd"), format="json")
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "input_image"]


def test_background_fix_moves_the_backdrop_and_keeps_the_subject(sartiq):
    body = create(sartiq, background_fix(edge_blur_sigma=0, mask_expansion_percentage=0))
    assert_public_shape(body)
    assert body["status"] == "COMPLETED", body
    assert body["strategy"] == "color_shift" and body["light_threshold"] == 220
    with default_storage.open(body["result_image_path"]) as fh:
        out = Image.open(fh).convert("RGB")
    assert out.getpixel((60, 55)) == (30, 40, 50)  # the subject
    r, g, b = out.getpixel((2, 2))  # the backdrop moved from (200, 210, 220) towards (240, 200, 180)
    assert r > 200 and b < 220


def test_background_fix_defaults(sartiq):
    body = create(sartiq, background_fix())
    assert (body["edge_blur_sigma"], body["light_threshold"], body["shadow_threshold"]) == (20.0, 220, 150)
    assert body["mask_expansion_percentage"] == 0.005 and body["palette_image_path"]


def test_a_task_that_fails_says_why(sartiq):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    body = create(sartiq, adjuster(input_image=f"http://127.0.0.1:{port}/nothing.png"))
    assert body["status"] == "FAILED"
    assert body["errors"] and body["error_category"] in ("VALIDATION_ERROR", "PROCESSING_ERROR")
    assert body["result_image_path"] is None and body["completed_at"]


# -- types this server does not execute yet ------------------------------------------------------------


def test_a_provider_type_is_validated_before_anything_runs(sartiq):
    resp = sartiq.post("/api/v1/tasks/", {"task_type": "GENERATION", "origin_instance": "t"}, format="json")
    assert resp.status_code == 422
    assert resp.json() == {
        "detail": [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]
    }
    assert not SartiqTask.objects.exists()


@pytest.mark.parametrize(
    "extra",
    [
        {"provider_type": "vertex"},
        {"fallback_provider_type": "vertex"},
        {"provider_type": "sartiq_ultimate_refiner"},
    ],
)
def test_a_provider_without_an_adapter_is_not_faked(sartiq, extra):
    resp = sartiq.post("/api/v1/tasks/", adjuster(**extra), format="json")
    assert resp.status_code == 501 and set(resp.json()) == {"detail"}


def test_local_provider_is_ours(sartiq):
    assert create(sartiq, adjuster(provider_type="local"))["provider_type"] == "local"


# -- FastAPI's 422 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "loc", "type_"),
    [
        ({"origin_instance": "t"}, ["body", "task_type"], "missing"),
        ({"task_type": "NOPE", "origin_instance": "t"}, ["body", "task_type"], "literal_error"),
        (adjuster(input_image=None), ["body", "input_image"], "string_type"),
        (adjuster(mode="zoom"), ["body", "mode"], "literal_error"),
        (adjuster(aspect_ratio="wide"), ["body", "aspect_ratio"], "float_parsing"),
        (adjuster(tolerance=2), ["body", "tolerance"], "less_than_equal"),
        (adjuster(origin_instance=None), ["body", "origin_instance"], "string_type"),
        (adjuster(aspect_ratio=None, target_width=10), ["body"], "value_error"),
        (background_fix(light_threshold=300), ["body", "light_threshold"], "less_than_equal"),
        (background_fix(shadow_threshold=230), ["body"], "value_error"),
        (background_fix(strategy="paint"), ["body", "strategy"], "enum"),
        (adjuster(margin_top=0.6, margin_bottom=0.5), ["body"], "value_error"),
        (adjuster(margin_left=-0.1), ["body", "margin_left"], "greater_than_equal"),
        (adjuster(origin_instance="x" * 201), ["body", "origin_instance"], "string_too_long"),
        (adjuster(priority=2**40), ["body", "priority"], "less_than_equal"),
    ],
)
def test_body_errors_are_fastapi_lists(sartiq, body, loc, type_):
    resp = sartiq.post("/api/v1/tasks/", body, format="json")
    assert resp.status_code == 422, resp.content
    detail = resp.json()["detail"]
    assert isinstance(detail, list) and all(set(e) == {"loc", "msg", "type"} for e in detail)
    assert {"loc": loc, "type": type_} in [{"loc": e["loc"], "type": e["type"]} for e in detail], detail


def test_malformed_json_and_non_objects_are_422(sartiq):
    resp = sartiq.post("/api/v1/tasks/", data='{"task_type": ', content_type="application/json")
    assert resp.status_code == 422
    (error,) = resp.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"][0] == "body" and isinstance(error["loc"][1], int)
    resp = sartiq.post("/api/v1/tasks/", data="[1, 2]", content_type="application/json")
    assert resp.status_code == 422 and resp.json()["detail"][0]["type"] == "model_attributes_type"
    resp = sartiq.post("/api/v1/tasks/", data="", content_type="application/json")
    assert resp.json() == {"detail": [{"loc": ["body"], "msg": "Field required", "type": "missing"}]}
    resp = sartiq.post("/api/v1/tasks/", {"task_type": "IMAGE_ADJUSTER"})  # a form, not JSON
    assert resp.status_code == 422 and resp.json()["detail"][0]["type"] == "model_attributes_type"


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("limit=abc", ["query", "limit"]),
        ("limit=99999999999999999999", ["query", "limit"]),
        ("skip=-1", ["query", "skip"]),
        ("status=DONE", ["query", "status"]),
        ("task_type=X", ["query", "task_type"]),
    ],
)
def test_query_errors_are_fastapi_lists(sartiq, query, loc):
    resp = sartiq.get(f"/api/v1/tasks/?{query}")
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == loc


# -- auth and ownership ---------------------------------------------------------------------------


ROUTES = [
    ("get", "/api/v1/tasks/"),
    ("post", "/api/v1/tasks/"),
    ("get", "/api/v1/tasks/{id}"),
    ("put", "/api/v1/tasks/{id}"),
    ("delete", "/api/v1/tasks/{id}"),
    ("post", "/api/v1/tasks/{id}/cleanup"),
    ("post", "/api/v1/tasks/{id}/cancel"),
    ("get", "/api/v1/tasks/generation"),
    ("get", "/api/v1/tasks/generation/{id}"),
    ("put", "/api/v1/tasks/generation/{id}"),
    ("post", "/api/v1/tasks/generation/{id}/cancel"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_token(method, path):
    resp = getattr(APIClient(), method)(path.format(id=uuid.uuid4()), {}, format="json")
    assert resp.status_code == 401 and resp.json() == {"detail": "Not authenticated"}
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    resp = getattr(bad, method)(path.format(id=uuid.uuid4()), {}, format="json")
    assert resp.status_code == 401 and set(resp.json()) == {"detail"}


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if "{id}" in r[1]])
def test_another_users_task_and_a_bad_id_are_404(sartiq, other, method, path):
    mine = create(sartiq, adjuster())["id"]
    for task_id in (mine, "not-a-uuid", "123", str(uuid.uuid4())):
        resp = getattr(other, method)(path.format(id=task_id), {"priority": 5}, format="json")
        assert resp.status_code == 404, (task_id, resp.content)
        assert set(resp.json()) == {"detail"} and isinstance(resp.json()["detail"], str)
    assert sartiq.get(f"/api/v1/tasks/{mine}").status_code == 200
    assert other.get("/api/v1/tasks/").json() == []


def test_api_keys_need_the_sartiq_scope(sartiq):
    user = sartiq.user
    with_scope = keys.create_api_key(user, "sartiq", ApiKeyKind.QUEUE, scopes=["sartiq"]).raw
    without = keys.create_api_key(user, "queue", ApiKeyKind.QUEUE).raw
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {with_scope}")
    assert client.post("/api/v1/tasks/", adjuster(), format="json").status_code == 200
    assert len(client.get("/api/v1/tasks/").json()) == 1
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {without}")
    resp = client.get("/api/v1/tasks/")
    assert resp.status_code == 403 and set(resp.json()) == {"detail"}


# -- list ----------------------------------------------------------------------------------------------


def test_list_filters_and_pages_newest_first(sartiq, settings):
    a = create(sartiq, adjuster(origin_instance="prod", origin_zone="eu", origin_tenant_id="t1"))
    b = create(sartiq, background_fix(origin_instance="staging"))
    settings.RUNS_EAGER = False
    c = create(sartiq, adjuster(origin_instance="prod", origin_zone="us"))
    assert c["status"] == "PENDING"

    def ids(query=""):
        resp = sartiq.get(f"/api/v1/tasks/?{query}")
        assert resp.status_code == 200
        for item in resp.json():
            assert_public_shape(item)
        return [t["id"] for t in resp.json()]

    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids("limit=1&skip=1") == [b["id"]]
    assert ids("limit=0") == []
    assert ids("status=PENDING") == [c["id"]]
    assert ids("status=COMPLETED") == [b["id"], a["id"]]
    assert ids("task_type=BACKGROUND_FIX") == [b["id"]]
    assert ids("origin_instance=prod") == [c["id"], a["id"]]
    assert ids("origin_zone=eu") == [a["id"]]
    assert ids("origin_tenant_id=t1") == [a["id"]]
    assert ids("task_type=GENERATION") == []


def test_the_paths_answer_with_and_without_their_slash(sartiq):
    resp = sartiq.post("/api/v1/tasks", adjuster(), format="json")
    assert resp.status_code == 200 and resp.json()["status"] == "COMPLETED"
    assert sartiq.get("/api/v1/tasks").status_code == 200
    assert sartiq.get("/api/v1/tasks/generation/").json() == []
    resp = sartiq.get("/api/v1/tasks/a/b/c")
    assert resp.status_code == 404 and resp.json() == {"detail": "Not Found"}


# -- update ----------------------------------------------------------------------------------------


def test_put_changes_the_client_fields(sartiq):
    task = create(sartiq, adjuster())
    resp = sartiq.put(
        f"/api/v1/tasks/{task['id']}",
        {
            "priority": 7,
            "config": {"a": 1},
            "errors": ["checked by QA"],
            "executor_type": "gpu",
            "executor_instance": "w1",
        },
        format="json",
    )
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert (body["priority"], body["config"], body["executor_type"], body["executor_instance"]) == (
        7,
        {"a": 1},
        "gpu",
        "w1",
    )
    assert body["errors"] == ["checked by QA"] and body["status"] == "COMPLETED"
    assert sartiq.get(f"/api/v1/tasks/{task['id']}").json()["priority"] == 7
    resp = sartiq.put(f"/api/v1/tasks/{task['id']}", {"priority": "high"}, format="json")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "priority"]


def test_put_status_follows_the_engine(sartiq, settings):
    done = create(sartiq, adjuster())
    resp = sartiq.put(f"/api/v1/tasks/{done['id']}", {"status": "EXECUTING"}, format="json")
    assert resp.status_code == 409 and set(resp.json()) == {"detail"}
    assert (
        sartiq.put(f"/api/v1/tasks/{done['id']}", {"status": "COMPLETED"}, format="json").status_code == 200
    )
    settings.RUNS_EAGER = False
    pending = create(sartiq, adjuster())
    resp = sartiq.put(f"/api/v1/tasks/{pending['id']}", {"status": "CANCELLED"}, format="json")
    assert resp.status_code == 200 and resp.json()["status"] == "CANCELLED"
    assert (
        sartiq.put(f"/api/v1/tasks/{pending['id']}", {"status": "COMPLETED"}, format="json").status_code
        == 409
    )
    # back to PENDING: the engine runs the cancelled task again
    settings.RUNS_EAGER = True
    resp = sartiq.put(f"/api/v1/tasks/{pending['id']}", {"status": "PENDING"}, format="json")
    assert resp.status_code == 200
    assert sartiq.get(f"/api/v1/tasks/{pending['id']}").json()["status"] == "COMPLETED"


# -- cancel ----------------------------------------------------------------------------------------


def test_cancel_a_pending_task_returns_its_credits(sartiq, settings):
    settings.RUNS_EAGER = False
    balance = sartiq.user.credit_balance
    task = create(sartiq, adjuster())
    resp = sartiq.post(f"/api/v1/tasks/{task['id']}/cancel")
    assert resp.status_code == 200
    body = resp.json()
    assert_public_shape(body)
    assert body["status"] == "CANCELLED" and body["completed_at"]
    sartiq.user.refresh_from_db()
    assert sartiq.user.credit_balance == balance
    resp = sartiq.post(f"/api/v1/tasks/{task['id']}/cancel")
    assert resp.status_code == 409 and set(resp.json()) == {"detail"}


def test_cancel_a_finished_task_is_409(sartiq):
    task = create(sartiq, adjuster())
    assert sartiq.post(f"/api/v1/tasks/{task['id']}/cancel").status_code == 409


# -- cleanup and delete ------------------------------------------------------------------------------


def test_cleanup_removes_the_files_and_keeps_the_record(sartiq, django_capture_on_commit_callbacks):
    task = create(sartiq, adjuster(input_image=data_url(png(color=(1, 2, 3)))))
    files = [task["result_image_path"], task["input_image_path"]]
    assert all(default_storage.exists(f) for f in files)
    with django_capture_on_commit_callbacks(execute=True):
        resp = sartiq.post(f"/api/v1/tasks/{task['id']}/cleanup")
    assert resp.status_code == 200 and resp.json()["id"] == task["id"]
    assert not any(default_storage.exists(f) for f in files)
    row = SartiqTask.objects.get(pk=task["id"])
    assert row.is_deleted and row.deleted_at is not None
    assert sartiq.get(f"/api/v1/tasks/{task['id']}").status_code == 404
    assert sartiq.get("/api/v1/tasks/").json() == []
    assert sartiq.post(f"/api/v1/tasks/{task['id']}/cleanup").status_code == 404


def test_cleanup_of_a_pending_task_cancels_it(sartiq, settings):
    settings.RUNS_EAGER = False
    task = create(sartiq, adjuster())
    resp = sartiq.post(f"/api/v1/tasks/{task['id']}/cleanup")
    assert resp.status_code == 200 and resp.json()["status"] == "CANCELLED"


def test_delete_removes_files_task_and_run_but_not_an_input_another_task_uses(
    sartiq, django_capture_on_commit_callbacks
):
    shared = data_url(png(color=(9, 9, 9)))
    keep = create(sartiq, adjuster(input_image=shared))
    gone = create(sartiq, adjuster(input_image=shared, aspect_ratio=2.5))
    assert keep["input_image_path"] == gone["input_image_path"]  # stored once
    with django_capture_on_commit_callbacks(execute=True):
        resp = sartiq.delete(f"/api/v1/tasks/{gone['id']}")
    assert resp.status_code == 200
    body = resp.json()
    assert_public_shape(body)
    assert body["id"] == gone["id"] and body["status"] == "COMPLETED"
    assert not default_storage.exists(gone["result_image_path"])
    assert default_storage.exists(keep["input_image_path"])
    assert not SartiqTask.objects.filter(pk=gone["id"]).exists()
    assert not Run.objects.filter(sartiq_task__isnull=True, surface=Surface.SARTIQ).exists()
    assert sartiq.get(f"/api/v1/tasks/{gone['id']}").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        sartiq.delete(f"/api/v1/tasks/{keep['id']}")
    assert not default_storage.exists(keep["input_image_path"])


def test_an_executing_task_is_not_deleted_under_its_worker(sartiq, settings):
    settings.RUNS_EAGER = False
    task = create(sartiq, adjuster())
    Run.objects.filter(sartiq_task__id=task["id"]).update(status="running")
    for method, path in (("delete", ""), ("post", "/cleanup")):
        resp = getattr(sartiq, method)(f"/api/v1/tasks/{task['id']}{path}")
        assert resp.status_code == 409 and "cancel" in resp.json()["detail"]


# -- generation routes ------------------------------------------------------------------------------


def as_generation(task_id):
    SartiqTask.objects.filter(pk=task_id).update(task_type="GENERATION", params={"prompt": "a cat"})


def test_generation_routes_show_generation_tasks_only(sartiq, settings):
    other_type = create(sartiq, adjuster())
    settings.RUNS_EAGER = False
    gen = create(sartiq, adjuster())
    as_generation(gen["id"])  # a record as a generation adapter will make it (none exists yet)
    listed = sartiq.get("/api/v1/tasks/generation").json()
    assert [t["id"] for t in listed] == [gen["id"]]
    body = sartiq.get(f"/api/v1/tasks/generation/{gen['id']}").json()
    assert_public_shape(body)
    assert body["fal_app_id"] is None and body["fal_request_id"] is None and body["prompt"] == "a cat"
    assert sartiq.get(f"/api/v1/tasks/generation/{other_type['id']}").status_code == 404
    resp = sartiq.put(
        f"/api/v1/tasks/generation/{gen['id']}",
        {"subject_lora_weight": 0.8, "origin_zone": "eu", "created_at": None},
        format="json",
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["subject_lora_weight"] == 0.8 and resp.json()["origin_zone"] == "eu"
    resp = sartiq.put(f"/api/v1/tasks/generation/{gen['id']}", {"progress": 50}, format="json")
    assert resp.status_code == 409
    resp = sartiq.put(
        f"/api/v1/tasks/generation/{gen['id']}", {"reference_image_strength": 101}, format="json"
    )
    assert resp.status_code == 422
    resp = sartiq.post(f"/api/v1/tasks/generation/{gen['id']}/cancel")
    assert resp.status_code == 200 and resp.json()["status"] == "CANCELLED"
    assert sartiq.get("/api/v1/tasks/generation?status=CANCELLED").json()[0]["id"] == gen["id"]


def test_generation_list_validates_its_query(sartiq):
    resp = sartiq.get("/api/v1/tasks/generation?limit=x")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["query", "limit"]


def test_client_for_is_a_fresh_session(make_user, eager):
    assert client_for(make_user()).get("/api/v1/tasks/").json() == []

# -- admin ----------------------------------------------------------------------------------------------


def test_sartiq_tasks_are_listed_in_admin(sartiq, make_user, client):
    task = sartiq.post("/api/v1/tasks/", adjuster(), format="json").json()
    admin = make_user(is_staff=True, is_superuser=True)
    client.force_login(admin)
    resp = client.get("/admin/surfaces/sartiqtask/?task_type=IMAGE_ADJUSTER")
    assert resp.status_code == 200 and task["id"] in resp.content.decode()
    resp = client.get(f"/admin/surfaces/sartiqtask/{task['id']}/change/")
    assert resp.status_code == 200
