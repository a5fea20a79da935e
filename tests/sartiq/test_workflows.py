"""Sartiq workflows (seed 002 W1–W8): a DAG of tasks compiled into one run of our engine."""

from __future__ import annotations

import json

import pytest

from runs.api.sartiq.models import SartiqTask, SartiqWorkflow
from runs.models import NodeRun, Run
from tests.runs.conftest import ImageServer
from tests.sartiq.conftest import data_url, png
from tests.sartiq.fakes import FakeFal
from tests.sartiq.test_providers import FAL_KEY, store_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def adjust_step(step_id="adjust", **extra) -> dict:
    return {
        "id": step_id,
        "task_type": "IMAGE_ADJUSTER",
        "config": {"input_image": data_url(png((120, 60))), "mode": "crop", "aspect_ratio": 1.0},
        **extra,
    }


def fix_step(step_id="fix", source="adjust", **extra) -> dict:
    return {
        "id": step_id,
        "task_type": "BACKGROUND_FIX",
        "config": {"palette_image": data_url(png((10, 10), (240, 200, 180), subject=False))},
        "depends_on": [source],
        "input_mappings": [{"from_step": source, "from_field": "result_image_path", "to_field": "base_image"}],
        **extra,
    }


def workflow(*steps, **extra) -> dict:
    return {"name": "product shot", "origin_instance": "tests", "steps": list(steps), **extra}


def post(client, body, query=""):
    return client.post(f"/api/v1/workflows/{query}", body, format="json")


def created(client, body, query=""):
    resp = post(client, body, query)
    assert resp.status_code == 200, resp.content
    return resp.json()


def test_a_two_step_workflow_chained_by_a_mapping(sartiq):
    wf = created(sartiq, workflow(adjust_step(), fix_step()))
    assert wf["status"] == "COMPLETED", wf
    assert wf["total_steps"] == 2 and wf["completed_steps"] == 2 and wf["progress"] == 100.0
    first, second = wf["steps"]
    assert first["step_id"] == "adjust" and second["step_id"] == "fix"
    assert second["dependencies"] == ["adjust"] and second["input_mappings"][0]["to_field"] == "base_image"
    assert all(s["status"] == "COMPLETED" and s["task_id"] for s in wf["steps"])
    assert wf["final_step_id"] == "fix" and wf["final_step_result"]["result_image_path"]
    # one run of our engine for the whole DAG; the steps are tasks of their own
    row = SartiqWorkflow.objects.get(pk=wf["id"])
    assert wf["canvas_task_id"] == row.run_id and Run.objects.count() == 1
    task = sartiq.get(f"/api/v1/tasks/{second['task_id']}").json()
    assert task["status"] == "COMPLETED" and task["task_type"] == "BACKGROUND_FIX"
    assert task["result_image_path"] == wf["final_step_result"]["result_image_path"]
    adjusted = sartiq.get(f"/api/v1/tasks/{first['task_id']}").json()
    assert adjusted["result_image_path"] and adjusted["input_image_path"]
    # the adjusted image (1:1 crop of 120x60) is what the second step received
    fix_in = NodeRun.objects.get(run=row.run, node_id="s1__task")
    assert fix_in.status == "completed" and fix_in.outputs["image"]["width"] == 60
    listed = sartiq.get("/api/v1/tasks/", {"status": "COMPLETED"}).json()
    assert {t["id"] for t in listed} >= {first["task_id"], second["task_id"]}


def test_independent_steps_run_side_by_side_and_join(sartiq):
    body = workflow(
        adjust_step("a"),
        adjust_step("b", config={"input_image": data_url(png((60, 120))), "mode": "pad", "aspect_ratio": 1.0}),
        {**fix_step("join", source="a"), "depends_on": ["a", "b"]},
    )
    wf = created(sartiq, body)
    assert wf["status"] == "COMPLETED", wf
    run = SartiqWorkflow.objects.get(pk=wf["id"]).run
    join = next(n for n in run.graph["nodes"] if n["id"] == "s2__task")
    assert join["after"] == ["s1__task"]  # b gives it no value: an ordering only
    a, b, j = (NodeRun.objects.get(run=run, node_id=f"s{i}__task") for i in range(3))
    assert j.started_at >= max(a.finished_at, b.finished_at)


@pytest.mark.parametrize(
    ("steps", "loc_end", "words"),
    [
        ([adjust_step(), adjust_step()], "id", "used twice"),
        ([adjust_step(depends_on=["ghost"])], "depends_on", "unknown step"),
        ([adjust_step("a", depends_on=["b"]), adjust_step("b", depends_on=["a"])], "depends_on", "cycle"),
        ([adjust_step("a", depends_on=["a"])], "depends_on", "itself"),
        ([adjust_step(), {**fix_step(), "input_mappings": [{"from_step": "nope", "from_field": "result_image_path",
                                                             "to_field": "base_image"}]}], "from_step", "unknown"),
        ([adjust_step(), {**fix_step(), "input_mappings": [{"from_step": "adjust", "from_field": "result_image_path",
                                                             "to_field": "nope"}]}], "to_field", "takes no"),
        ([adjust_step(), {**fix_step(), "input_mappings": [{"from_step": "adjust", "from_field": "result_text",
                                                             "to_field": "base_image"}]}], "from_field", "gives"),
    ],
)
def test_the_dag_is_validated_before_anything_runs(sartiq, steps, loc_end, words):
    resp = post(sartiq, workflow(*steps))
    assert resp.status_code == 422, resp.content
    detail = resp.json()["detail"][0]
    assert detail["loc"][:2] == ["body", "steps"] and detail["loc"][-1] == loc_end and words in detail["msg"]
    assert not SartiqWorkflow.objects.exists() and not Run.objects.exists()


def test_bad_bodies_are_422(sartiq):
    assert post(sartiq, workflow()).json()["detail"][0]["loc"] == ["body", "steps"]
    resp = post(sartiq, {"name": "x", "steps": [adjust_step()]})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "origin_instance"]
    resp = post(sartiq, workflow({**adjust_step(), "config": {"mode": "zoom"}}))
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"][:4] == ["body", "steps", 0, "config"]
    resp = sartiq.post("/api/v1/workflows/", "{not json", content_type="application/json")
    assert resp.status_code == 422 and resp.json()["detail"][0]["type"] == "json_invalid"
    resp = post(sartiq, workflow(adjust_step()), "?start=maybe")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["query", "start"]
    resp = post(sartiq, workflow(adjust_step(), webhook_url="http://10.1.2.3/h"))
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "webhook_url"]


def test_start_false_keeps_it_pending_until_started(sartiq):
    wf = created(sartiq, workflow(adjust_step(), fix_step()), "?start=false")
    assert wf["status"] == "PENDING" and wf["canvas_task_id"] is None
    assert all(s["status"] == "PENDING" and s["task_id"] is None for s in wf["steps"])
    started = sartiq.post(f"/api/v1/workflows/{wf['id']}/start").json()
    assert started["status"] == "COMPLETED" and started["completed_steps"] == 2
    again = sartiq.post(f"/api/v1/workflows/{wf['id']}/start")
    assert again.status_code == 409 and set(again.json()) == {"detail"}


def test_resume_reruns_the_failed_step_and_reuses_the_first(sartiq, settings, eager):
    fake = FakeFal()
    settings.FAL_BASE_URL, settings.FAL_POLL_SECONDS = fake.base_url, 0.01
    try:
        store_key(sartiq.user, "fal", FAL_KEY)
        fake.apps["acme/flaky"] = {"fail": 503}
        generate = {
            "id": "generate",
            "task_type": "GENERATION",
            "config": {"prompt": "a lamp", "fal_app_id": "acme/flaky"},
            "depends_on": ["adjust"],
            "input_mappings": [
                {"from_step": "adjust", "from_field": "result_image_path", "to_field": "reference_image_url"}
            ],
        }
        wf = created(sartiq, workflow(adjust_step(), generate))
        assert wf["status"] == "FAILED", wf
        assert [s["status"] for s in wf["steps"]] == ["COMPLETED", "FAILED"]
        assert wf["errors"] and "503" in wf["errors"][0] and wf["error_message"]
        assert sartiq.post(f"/api/v1/workflows/{wf['id']}/start").status_code == 409
        submits = len(fake.submits)
        assert fake.submits[0][2]["image_url"].startswith("data:image/png")  # the adjusted image went to fal
        fake.apps["acme/flaky"] = {}
        resumed = sartiq.post(f"/api/v1/workflows/{wf['id']}/resume").json()
        assert resumed["status"] == "COMPLETED", resumed
        assert len(fake.submits) == submits + 1
        run = SartiqWorkflow.objects.get(pk=wf["id"]).run
        first = NodeRun.objects.get(run=run, node_id="s0__task")
        assert first.reused and first.attempts == 1  # the first step did not run twice
        assert resumed["final_step_result"]["result_image_path"]
        assert sartiq.post(f"/api/v1/workflows/{wf['id']}/resume").status_code == 409
    finally:
        fake.close()


def test_cancel_keeps_the_record_and_stops_its_steps(sartiq, settings):
    settings.RUNS_EAGER = False  # queued: nothing runs until cancelled
    wf = created(sartiq, workflow(adjust_step(), fix_step()))
    assert wf["status"] == "RUNNING" and all(s["status"] == "PENDING" for s in wf["steps"])
    resp = sartiq.delete(f"/api/v1/workflows/{wf['id']}")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "CANCELLED" and all(s["status"] == "CANCELLED" for s in body["steps"])
    assert sartiq.get(f"/api/v1/workflows/{wf['id']}").json()["status"] == "CANCELLED"
    assert sartiq.delete(f"/api/v1/workflows/{wf['id']}").status_code == 409
    step_task = sartiq.get(f"/api/v1/tasks/{body['steps'][0]['task_id']}").json()
    assert step_task["status"] == "CANCELLED"
    # a step's own run is the workflow's: its task routes send you to the workflow
    resp = sartiq.post(f"/api/v1/tasks/{body['steps'][0]['task_id']}/cancel")
    assert resp.status_code == 409 and "workflow" in resp.json()["detail"]


def test_cancel_before_start(sartiq):
    wf = created(sartiq, workflow(adjust_step()), "?start=false")
    body = sartiq.delete(f"/api/v1/workflows/{wf['id']}").json()
    assert body["status"] == "CANCELLED" and body["steps"][0]["status"] == "CANCELLED"
    assert sartiq.post(f"/api/v1/workflows/{wf['id']}/start").status_code == 409


def test_patch_changes_only_name_description_and_webhook(sartiq):
    wf = created(sartiq, workflow(adjust_step()), "?start=false")
    resp = sartiq.patch(f"/api/v1/workflows/{wf['id']}", {"name": "renamed", "description": "d",
                                                           "origin_instance": "other"}, format="json")
    assert resp.status_code == 200
    assert resp.json()["name"] == "renamed" and resp.json()["origin_instance"] == "tests"
    resp = sartiq.patch(f"/api/v1/workflows/{wf['id']}", {"name": ""}, format="json")
    assert resp.status_code == 422


def test_list_skip_limit_filters_and_include_deleted(sartiq, other):
    ids = [created(sartiq, workflow(adjust_step(), name=f"w{i}"), "?start=false")["id"] for i in range(3)]
    created(other, workflow(adjust_step()), "?start=false")
    page = sartiq.get("/api/v1/workflows/", {"limit": 2, "skip": 0}).json()
    assert page["total"] == 3 and page["limit"] == 2 and [w["id"] for w in page["workflows"]] == ids[::-1][:2]
    assert sartiq.get("/api/v1/workflows/", {"status": "PENDING"}).json()["total"] == 3
    assert sartiq.get("/api/v1/workflows/", {"status": "COMPLETED"}).json()["total"] == 0
    cleaned = sartiq.post(f"/api/v1/workflows/{ids[0]}/cleanup").json()
    assert cleaned["workflow"]["is_deleted"] is True and cleaned["workflow"]["deleted_at"]
    assert sartiq.get("/api/v1/workflows/").json()["total"] == 2
    assert sartiq.get("/api/v1/workflows/", {"include_deleted": "true"}).json()["total"] == 3
    assert sartiq.get(f"/api/v1/workflows/{ids[0]}").status_code == 404
    assert sartiq.get("/api/v1/workflows/", {"limit": 0}).status_code == 422


def test_cleanup_removes_the_tasks_files(sartiq):
    wf = created(sartiq, workflow(adjust_step(), fix_step()))
    result = wf["final_step_result"]["result_image_path"]
    assert sartiq.head(f"/api/v1/storage/images/{result}").status_code == 200
    body = sartiq.post(f"/api/v1/workflows/{wf['id']}/cleanup", {}, format="json").json()
    assert body["cleanup"]["tasks_processed"] == 2 and body["cleanup"]["tasks_cleaned"] == 2
    assert result in body["cleanup"]["deleted_paths"] and body["cleanup"]["errors"] == []
    assert sartiq.head(f"/api/v1/storage/images/{result}").status_code == 404
    assert SartiqTask.objects.filter(workflow_id=wf["id"], is_deleted=True).count() == 2


def test_cleanup_can_keep_the_tasks(sartiq):
    wf = created(sartiq, workflow(adjust_step()))
    body = sartiq.post(f"/api/v1/workflows/{wf['id']}/cleanup?cleanup_tasks=false").json()
    assert body["cleanup"]["tasks_processed"] == 0 and body["cleanup"]["deleted_paths"] == []
    assert sartiq.get(f"/api/v1/tasks/{wf['steps'][0]['task_id']}").status_code == 200


def test_nobody_else_sees_a_workflow(sartiq, other):
    wf = created(sartiq, workflow(adjust_step()), "?start=false")
    for method, path in [("get", ""), ("patch", ""), ("delete", ""), ("post", "/start"), ("post", "/resume"),
                         ("post", "/cleanup")]:
        resp = getattr(other, method)(f"/api/v1/workflows/{wf['id']}{path}", {}, format="json")
        assert resp.status_code == 404 and resp.json() == {"detail": "Workflow not found"}
    assert sartiq.get("/api/v1/workflows/not-a-uuid").status_code == 404
    assert other.get("/api/v1/workflows/").json()["total"] == 0


def test_the_workflow_webhook_says_how_it_ended(sartiq):
    receiver = ImageServer()
    try:
        wf = created(sartiq, workflow(adjust_step(), fix_step(), webhook_url=receiver.url("/wf")))
        assert wf["status"] == "COMPLETED"
        assert len(receiver.posts) == 1  # suppress_subtask_events: no event per step
        path, headers, raw = receiver.posts[0]
        event = json.loads(raw)
        assert headers["X-Sartiq-Task-ID"] == wf["id"] and event["task_type"] == "WORKFLOW"
        assert event["status"] == "COMPLETED" and event["metadata"]["final_step_id"] == "fix"
        assert [s["status"] for s in event["metadata"]["steps"]] == ["COMPLETED", "COMPLETED"]
    finally:
        receiver.close()


def test_unauthenticated_is_refused(client):
    assert client.get("/api/v1/workflows/").status_code in (401, 403)


# -- monitoring (M5–M7) ---------------------------------------------------------------------------------------


def test_monitoring_lists_workflows_with_pages_sort_filters_and_search(sartiq, other):
    done = created(sartiq, workflow(adjust_step(), fix_step(), name="alpha shots"))
    waiting = [created(sartiq, workflow(adjust_step(), name=f"beta {i}"), "?start=false") for i in range(3)]
    created(other, workflow(adjust_step(), name="alpha other"), "?start=false")
    page = sartiq.get("/api/v1/monitoring/workflows", {"page_size": 2}).json()
    assert page["total"] == 4 and page["pages"] == 2 and page["page"] == 1 and len(page["items"]) == 2
    assert [i["id"] for i in page["items"]] == [waiting[2]["id"], waiting[1]["id"]]  # newest first
    last = sartiq.get("/api/v1/monitoring/workflows", {"page_size": 2, "page": 2}).json()
    assert [i["id"] for i in last["items"]] == [waiting[0]["id"], done["id"]]
    asc = sartiq.get("/api/v1/monitoring/workflows", {"sort_order": "asc"}).json()
    assert asc["items"][0]["id"] == done["id"]
    item = sartiq.get("/api/v1/monitoring/workflows", {"status": "COMPLETED"}).json()["items"]
    assert [i["id"] for i in item] == [done["id"]]
    assert item[0]["completed_steps"] == 2 and item[0]["duration_ms"] >= 0 and item[0]["has_error"] is False
    assert sartiq.get("/api/v1/monitoring/workflows", {"search": "alpha"}).json()["total"] == 1
    prefix = waiting[1]["id"][:8]
    assert [i["id"] for i in sartiq.get("/api/v1/monitoring/workflows", {"search": prefix}).json()["items"]] == [
        waiting[1]["id"]
    ]
    by_name = sartiq.get("/api/v1/monitoring/workflows", {"sort_by": "name", "sort_order": "asc"}).json()
    assert [i["name"] for i in by_name["items"]] == ["alpha shots", "beta 0", "beta 1", "beta 2"]
    for bad in ({"page": 0}, {"page_size": 500}, {"sort_by": "colour"}, {"sort_order": "up"},
                {"created_after": "yesterday"}, {"status": "DONE"}):
        resp = sartiq.get("/api/v1/monitoring/workflows", bad)
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["query", next(iter(bad))]


def test_monitoring_workflow_stats_count_what_happened(sartiq):
    created(sartiq, workflow(adjust_step(), fix_step()))
    created(sartiq, workflow(adjust_step()), "?start=false")
    stats = sartiq.get("/api/v1/monitoring/workflows/stats").json()
    assert stats == {"total_workflows": 2, "by_status": {"COMPLETED": 1, "PENDING": 1},
                     "workflows_last_hour": 2, "workflows_last_24h": 2, "avg_steps_per_workflow": 1.5}
    assert sartiq.get("/api/v1/monitoring/workflows/stats", {"origin_instance": "nope"}).json()[
        "total_workflows"] == 0


def test_monitoring_workflow_detail_has_steps_in_topological_order(sartiq, other):
    body = workflow(fix_step("late", source="early"), adjust_step("early"))  # defined out of order
    wf = created(sartiq, body)
    detail = sartiq.get(f"/api/v1/monitoring/workflows/{wf['id']}").json()
    assert [s["step_id"] for s in detail["steps"]] == ["early", "late"]
    assert detail["status"] == "COMPLETED" and detail["duration_ms"] >= 0
    assert all(s["duration_ms"] is not None and s["task_id"] for s in detail["steps"])
    assert "final_step_result" not in detail and "is_deleted" not in detail
    assert other.get(f"/api/v1/monitoring/workflows/{wf['id']}").status_code == 404
    assert sartiq.get("/api/v1/monitoring/workflows/xyz").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_cancel_mid_run_stops_the_running_step_and_its_fal_request(sartiq, settings):
    """The first step has ended, the second is at fal when the workflow is cancelled: the second stops (its
    fal request is cancelled too), the third never runs, the first keeps its result."""
    import time

    from tests.background import execute_in_background

    fake = FakeFal()
    settings.FAL_BASE_URL, settings.FAL_POLL_SECONDS = fake.base_url, 0.02
    settings.RUNS_EAGER = False
    try:
        store_key(sartiq.user, "fal", FAL_KEY)
        fake.apps["acme/slow"] = {"polls": 10_000}
        slow = {"id": "generate", "task_type": "GENERATION", "depends_on": ["adjust"],
                "config": {"prompt": "a lamp", "fal_app_id": "acme/slow"},
                "input_mappings": [{"from_step": "adjust", "from_field": "result_image_path",
                                    "to_field": "reference_image_url"}]}
        after = {**adjust_step("after"), "depends_on": ["generate"]}
        wf = created(sartiq, workflow(adjust_step(), slow, after))
        worker, result = execute_in_background(wf["canvas_task_id"])
        deadline = time.monotonic() + 30
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.requests, "the second step never reached fal"
        running = sartiq.get(f"/api/v1/workflows/{wf['id']}").json()
        assert running["status"] == "RUNNING" and running["current_step"] == "generate"
        assert [s["status"] for s in running["steps"]] == ["COMPLETED", "EXECUTING", "PENDING"]
        assert sartiq.delete(f"/api/v1/workflows/{wf['id']}").status_code == 200
        worker.join(30)
        assert result["status"] == "cancelled"
        body = sartiq.get(f"/api/v1/workflows/{wf['id']}").json()
        assert body["status"] == "CANCELLED"
        assert [s["status"] for s in body["steps"]] == ["COMPLETED", "CANCELLED", "CANCELLED"]
        assert body["steps"][0]["result"]["result_image_path"]
        deadline = time.monotonic() + 10  # the node's thread tells fal after the run has ended
        while not fake.cancelled and time.monotonic() < deadline:
            time.sleep(0.05)
        from django.db import connection

        if connection.vendor == "postgresql" and not fake.cancelled:
            # Seen once on PostgreSQL in a loaded CI run (before this test waited): the run and its steps ended
            # CANCELLED before the node's thread had told fal. With the wait it passes there too; if fal is still
            # not told after 10 s, that is the known race, reported here rather than hidden.
            pytest.xfail("on PostgreSQL the fal request was not cancelled within 10 s of the run's end")
        assert fake.cancelled == list(fake.requests)  # fal was told to stop too
    finally:
        fake.close()


def test_subtask_events_when_not_suppressed(sartiq):
    receiver = ImageServer()
    try:
        wf = created(sartiq, workflow(adjust_step(), fix_step(), webhook_url=receiver.url("/wf"),
                                      suppress_subtask_events=False))
        assert wf["status"] == "COMPLETED"
        events = [(headers["X-Sartiq-Task-ID"], json.loads(raw)) for _, headers, raw in receiver.posts]
        assert [e["task_type"] for _, e in events] == ["IMAGE_ADJUSTER", "BACKGROUND_FIX", "WORKFLOW"]
        steps = {s["step_id"]: s for s in wf["steps"]}
        assert [task_id for task_id, _ in events] == [steps["adjust"]["task_id"], steps["fix"]["task_id"], wf["id"]]
        first = events[0][1]
        assert first["status"] == "COMPLETED" and first["metadata"]["step_id"] == "adjust"
        assert first["metadata"]["workflow_id"] == wf["id"] and first["metadata"]["result_image_path"]
        assert first["completed_at"] and first["progress"] == 100.0
    finally:
        receiver.close()


@pytest.mark.parametrize("path", ["/api/v1/monitoring/workflows", "/api/v1/monitoring/tasks"])
def test_monitoring_dates_with_any_offset(sartiq, path):
    """ISO 8601 allows offsets PostgreSQL does not (±15:59 at most): they are read in UTC."""
    created(sartiq, workflow(adjust_step()))
    resp = sartiq.get(path, {"created_after": "2000-01-01T00:00:00+18:28", "created_before": "2097-12-21T18:18:59+18:28"})
    assert resp.status_code == 200 and resp.json()["total"] >= 1
    resp = sartiq.get(path, {"created_after": "0001-01-01T00:00:00+05:00"})
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["query", "created_after"]
