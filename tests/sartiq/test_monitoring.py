"""Sartiq monitoring (/api/v1/monitoring/*): the caller's tasks listed, detailed, with their media and
stats; the engine's queues and the running django-q2 clusters, with figures equal to what the test enqueued
and ran."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings as project_settings
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Task
from django_q.monitor import save_task
from django_q.signing import SignedPackage
from django_q.status import Stat
from rest_framework.test import APIClient

from accounts import keys
from accounts.models import ApiKeyKind
from runs.api.sartiq import schema as S
from runs.api.sartiq.models import SartiqTask
from runs.models import Run, RunStatus
from tests.background import worker_env
from tests.sartiq.conftest import adjuster, background_fix

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

ROUTES = (
    "/api/v1/monitoring/tasks",
    "/api/v1/monitoring/tasks/{id}",
    "/api/v1/monitoring/tasks/{id}/media",
    "/api/v1/monitoring/stats",
    "/api/v1/monitoring/queues",
    "/api/v1/monitoring/workers",
    "/api/v1/monitoring/workers/health",
)


def create(client, body) -> dict:
    resp = client.post("/api/v1/tasks/", body, format="json")
    assert resp.status_code == 200, resp.content
    return resp.json()


def get(client, path, expect=200, **params):
    resp = client.get(path, params)
    assert resp.status_code == expect, (path, params, resp.content)
    return resp.json()


def tasks_page(client, expect=200, **params):
    return get(client, "/api/v1/monitoring/tasks", expect, **params)


@pytest.fixture
def own_queues(settings):
    """Queue (cluster) names of this test only: the Redis column shares no list with another test run."""
    tag = uuid.uuid4().hex[:8]
    settings.Q_CLUSTER = {**project_settings.Q_CLUSTER, "name": f"test-cpu-{tag}"}
    settings.Q_GPU_CLUSTER = f"test-gpu-{tag}"
    cpu, gpu = get_broker(settings.Q_CLUSTER["name"]), get_broker(settings.Q_GPU_CLUSTER)
    yield cpu, gpu
    cpu.delete_queue()
    gpu.delete_queue()


@pytest.fixture
def own_stats(monkeypatch):
    """Cluster heartbeats of this test only (django-q2 finds them under Conf.Q_STAT)."""
    monkeypatch.setattr(Conf, "Q_STAT", f"django_q:test-{uuid.uuid4().hex[:8]}:cluster")


# -- auth ----------------------------------------------------------------------------------------------


def test_every_route_needs_auth_and_takes_a_sartiq_key(sartiq):
    task = create(sartiq, adjuster())
    anonymous = APIClient()
    for route in ROUTES:
        resp = anonymous.get(route.format(id=task["id"]))
        assert resp.status_code in (401, 403), route
        assert set(resp.json()) == {"detail"}
    with_scope = keys.create_api_key(sartiq.user, "sartiq", ApiKeyKind.QUEUE, scopes=["sartiq"]).raw
    without = keys.create_api_key(sartiq.user, "queue", ApiKeyKind.QUEUE).raw
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {with_scope}")
    for route in ROUTES:
        assert client.get(route.format(id=task["id"])).status_code == 200, route
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {without}")
    for route in ROUTES:
        resp = client.get(route.format(id=task["id"]))
        assert resp.status_code == 403 and set(resp.json()) == {"detail"}, route


def test_paths_have_no_trailing_slash_and_health_is_not_an_id(sartiq):
    health = get(sartiq, "/api/v1/monitoring/workers/health")
    assert set(health) == set(S.WorkerHealthResponse.model_fields)
    assert sartiq.get("/api/v1/monitoring/tasks/").status_code == 404  # no 301 to the other spelling


# -- task list -----------------------------------------------------------------------------------------


def test_list_shape_pagination_and_default_order(sartiq):
    made = [create(sartiq, adjuster(origin_instance=f"i{n}")) for n in range(5)]
    body = tasks_page(sartiq, page_size=2)
    assert set(body) == {"items", "total", "page", "page_size", "pages"}
    assert (body["total"], body["page"], body["page_size"], body["pages"]) == (5, 1, 2, 3)
    newest_first = [t["id"] for t in reversed(made)]
    pages = [tasks_page(sartiq, page=p, page_size=2)["items"] for p in (1, 2, 3)]
    assert [i["id"] for items in pages for i in items] == newest_first
    assert [len(items) for items in pages] == [2, 2, 1]
    beyond = tasks_page(sartiq, page=4, page_size=2)
    assert beyond["items"] == [] and beyond["total"] == 5 and beyond["pages"] == 3
    item = pages[0][0]
    assert set(item) == set(S.TaskListItem.model_fields)
    assert (
        item["task_type"] == "IMAGE_ADJUSTER" and item["status"] == "COMPLETED" and item["progress"] == 100.0
    )
    assert item["has_error"] is False and item["origin_instance"] == "i4"
    run = SartiqTask.objects.get(pk=item["id"]).run
    assert item["duration_ms"] == pytest.approx((run.finished_at - run.started_at).total_seconds() * 1000)
    empty = tasks_page(sartiq, status="FAILED")
    assert (empty["total"], empty["pages"], empty["items"]) == (0, 0, [])
    defaults = tasks_page(sartiq)
    assert (defaults["page"], defaults["page_size"], defaults["pages"]) == (1, 50, 1)
    assert math.ceil(5 / 3) == tasks_page(sartiq, page_size=3)["pages"]


def test_filters(sartiq, settings):
    a = create(sartiq, adjuster(origin_instance="prod", origin_zone="eu", origin_tenant_id="t1"))
    b = create(sartiq, background_fix(origin_instance="staging", provider_type="local"))
    settings.RUNS_EAGER = False
    c = create(sartiq, adjuster(origin_instance="prod", origin_zone="us"))
    assert c["status"] == "PENDING"

    def ids(**params):
        return {i["id"] for i in tasks_page(sartiq, **params)["items"]}

    assert ids() == {a["id"], b["id"], c["id"]}
    assert ids(status="COMPLETED") == {a["id"], b["id"]}
    assert ids(status="PENDING") == {c["id"]}
    assert ids(task_type="BACKGROUND_FIX") == {b["id"]}
    assert ids(provider_type="local") == {b["id"]}
    assert ids(provider_type="fal_standard") == set()
    assert ids(origin_instance="prod") == {a["id"], c["id"]}
    assert ids(origin_instance="prod", origin_zone="us") == {c["id"]}
    assert ids(origin_tenant_id="t1") == {a["id"]}
    # created_after / created_before, strictly
    SartiqTask.objects.filter(pk=a["id"]).update(created_at=timezone.now() - timedelta(days=2))
    cut = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(created_before=cut) == {a["id"]}
    assert ids(created_after=cut) == {b["id"], c["id"]}
    assert ids(created_after=cut, created_before=timezone.now().isoformat()) == {b["id"], c["id"]}


def test_search_is_a_task_id_prefix(sartiq):
    made = [create(sartiq, adjuster())["id"] for _ in range(3)]
    target = made[1]
    for prefix in (target[:8], target[:13], target[:8].upper(), target):
        assert [i["id"] for i in tasks_page(sartiq, search=prefix)["items"]] == [target], prefix
    assert tasks_page(sartiq, search=target[1:9])["total"] == (sum(m.startswith(target[1:9]) for m in made))
    assert tasks_page(sartiq, search="zz")["total"] == 0
    assert tasks_page(sartiq, search="")["total"] == 3


def test_sort_by_every_field_both_ways(sartiq, settings):
    made = [create(sartiq, adjuster())["id"] for _ in range(2)]
    made.append(create(sartiq, background_fix())["id"])
    settings.RUNS_EAGER = False
    pending = create(sartiq, adjuster())["id"]
    now = timezone.now()
    for n, pk in enumerate(made):  # distinct starts and ends: the first task started last
        Run.objects.filter(sartiq_task=pk).update(
            started_at=now - timedelta(minutes=10 - 3 * n), finished_at=now - timedelta(minutes=n)
        )

    def order(**params):
        return [i["id"] for i in tasks_page(sartiq, **params)["items"]]

    assert order(sort_by="created_at", sort_order="asc") == [*made, pending]
    assert order(sort_by="created_at") == [pending, *reversed(made)]
    # nulls (the pending task has not started) last, either way
    assert order(sort_by="started_at", sort_order="asc") == [*made, pending]
    assert order(sort_by="started_at", sort_order="desc") == [*reversed(made), pending]
    assert order(sort_by="completed_at", sort_order="asc") == [*reversed(made), pending]
    assert order(sort_by="completed_at", sort_order="desc") == [*made, pending]
    statuses = [i["status"] for i in tasks_page(sartiq, sort_by="status", sort_order="asc")["items"]]
    assert statuses == ["COMPLETED"] * 3 + ["PENDING"]
    types = [i["task_type"] for i in tasks_page(sartiq, sort_by="task_type", sort_order="desc")["items"]]
    assert types == ["IMAGE_ADJUSTER"] * 3 + ["BACKGROUND_FIX"]
    progress = [i["progress"] for i in tasks_page(sartiq, sort_by="progress", sort_order="asc")["items"]]
    assert progress == [0.0, 100.0, 100.0, 100.0]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"sort_by": "id"}, "sort_by"),
        ({"sort_by": "updated_at"}, "sort_by"),
        ({"sort_order": "up"}, "sort_order"),
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "201"}, "page_size"),
        ({"status": "DONE"}, "status"),
        ({"task_type": "GENERATIONS"}, "task_type"),
        ({"provider_type": "nope"}, "provider_type"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2026-13-45"}, "created_before"),
    ],
)
def test_bad_query_is_fastapis_422(sartiq, params, name):
    body = tasks_page(sartiq, 422, **params)
    assert [e["loc"] for e in body["detail"]] == [["query", name]]
    assert all(set(e) == {"loc", "msg", "type"} for e in body["detail"])


def test_page_size_bounds(sartiq):
    assert tasks_page(sartiq, page_size=200)["page_size"] == 200
    assert tasks_page(sartiq, page_size=1)["page_size"] == 1


# -- another user ------------------------------------------------------------------------------------


def test_another_users_tasks_are_invisible(sartiq, other):
    mine = create(sartiq, adjuster())["id"]
    theirs = create(other, background_fix())["id"]
    assert [i["id"] for i in tasks_page(sartiq)["items"]] == [mine]
    assert tasks_page(sartiq, search=theirs[:8])["total"] == 0
    for route in ("/api/v1/monitoring/tasks/{id}", "/api/v1/monitoring/tasks/{id}/media"):
        for task_id in (theirs, "not-a-uuid", "123", str(uuid.uuid4())):
            body = get(sartiq, route.format(id=task_id), 404)
            assert set(body) == {"detail"} and isinstance(body["detail"], str)
    stats = get(sartiq, "/api/v1/monitoring/stats")
    assert stats["total_tasks"] == 1 and stats["by_task_type"] == {"IMAGE_ADJUSTER": 1}


# -- detail and media ------------------------------------------------------------------------------------


def test_task_detail(sartiq):
    body = create(sartiq, adjuster(priority=7, config={"k": 1}, origin_reference="ref-1", webhook_url=None))
    detail = get(sartiq, f"/api/v1/monitoring/tasks/{body['id']}")
    assert set(detail) == set(S.TaskDetailResponse.model_fields)
    task = SartiqTask.objects.get(pk=body["id"])
    run = task.run
    assert detail["id"] == body["id"] and detail["status"] == "COMPLETED" and detail["progress"] == 100.0
    assert detail["queue_name"] == project_settings.Q_CLUSTER["name"]  # Pillow: the CPU queue
    assert detail["celery_task_id"] == run.pk
    assert (detail["priority"], detail["config"], detail["origin_reference"]) == (7, {"k": 1}, "ref-1")
    assert detail["is_resumed"] is False and detail["resume_attempt_count"] == 0
    assert detail["last_resume_attempt"] is None
    assert detail["service_requests"] is None  # ran here, asked no provider
    assert detail["duration_ms"] == pytest.approx((run.finished_at - run.started_at).total_seconds() * 1000)
    data = detail["task_data"]
    assert data["mode"] == "crop" and data["aspect_ratio"] == 1.0
    assert data["result_image_path"] == body["result_image_path"]
    assert data["input_image_path"] == body["input_image_path"]
    assert not {"id", "status", "priority", "origin_instance", "created_at", "errors"} & set(data)
    # a queue the client named is the task's
    SartiqTask.objects.filter(pk=body["id"]).update(queue_name="inference")
    assert get(sartiq, f"/api/v1/monitoring/tasks/{body['id']}")["queue_name"] == "inference"


def test_task_detail_of_a_resumed_task(sartiq, settings):
    settings.RUNS_EAGER = False
    body = create(sartiq, adjuster())
    assert sartiq.post(f"/api/v1/tasks/{body['id']}/cancel").status_code == 200
    settings.RUNS_EAGER = True
    resp = sartiq.put(f"/api/v1/tasks/{body['id']}", {"status": "PENDING"}, format="json")
    assert resp.status_code == 200, resp.content
    detail = get(sartiq, f"/api/v1/monitoring/tasks/{body['id']}")
    assert detail["status"] == "COMPLETED"
    assert detail["is_resumed"] is True and detail["resume_attempt_count"] == 1
    assert detail["last_resume_attempt"] is not None


def test_task_media_inputs_and_outputs_with_signed_urls(sartiq):
    body = create(sartiq, background_fix())
    media = get(sartiq, f"/api/v1/monitoring/tasks/{body['id']}/media")
    assert media["task_id"] == body["id"]
    inputs = {i["name"]: i for i in media["inputs"]}
    assert set(inputs) == {"base_image", "palette_image"}
    assert inputs["base_image"]["path"] == body["base_image_path"]
    assert [o["name"] for o in media["outputs"]] == ["result_image"]
    assert media["outputs"][0]["path"] == body["result_image_path"]
    for item in [*media["inputs"], *media["outputs"]]:
        assert set(item) == {"name", "path", "url", "media_type"} and item["media_type"] == "image"
        assert "signature=" in item["url"]
        resp = APIClient().get(item["url"])  # the URL alone lets a browser fetch the file
        assert resp.status_code == 200 and b"".join(resp.streaming_content)[:4] == b"\x89PNG"


def test_task_media_lists_stored_files_only(sartiq):
    body = create(sartiq, adjuster())
    task = SartiqTask.objects.get(pk=body["id"])
    # a list of images stored for the task (EDITING's reference_images) and fields that name no stored file
    task.params = {
        **task.params,
        "reference_images": [body["input_image_path"], "https://example.com/a.png"],
        "loras": ["not-a-file"],
        "mask_path": "generations/nowhere.png",
    }
    task.save(update_fields=["params"])
    media = get(sartiq, f"/api/v1/monitoring/tasks/{body['id']}/media")
    assert [(i["name"], i["path"]) for i in media["inputs"]] == [
        ("input_image", body["input_image_path"]),
        ("reference_images_0", body["input_image_path"]),
    ]


def test_task_media_of_a_pending_task_has_no_outputs(sartiq, settings):
    settings.RUNS_EAGER = False
    body = create(sartiq, adjuster())
    media = get(sartiq, f"/api/v1/monitoring/tasks/{body['id']}/media")
    assert [i["name"] for i in media["inputs"]] == ["input_image"] and media["outputs"] == []


# -- stats -----------------------------------------------------------------------------------------------


def test_stats_count_what_the_test_made(sartiq, settings):
    create(sartiq, adjuster(origin_instance="a", origin_zone="eu"))
    create(sartiq, adjuster(origin_instance="a", provider_type="local"))
    old = create(sartiq, background_fix(origin_instance="b"))
    settings.RUNS_EAGER = False
    pending = create(sartiq, adjuster(origin_instance="b"))
    cancelled = create(sartiq, adjuster(origin_instance="b", origin_zone="eu"))
    assert sartiq.post(f"/api/v1/tasks/{cancelled['id']}/cancel").status_code == 200
    SartiqTask.objects.filter(pk=old["id"]).update(created_at=timezone.now() - timedelta(hours=2))
    SartiqTask.objects.filter(pk=pending["id"]).update(created_at=timezone.now() - timedelta(days=2))
    stats = get(sartiq, "/api/v1/monitoring/stats")
    assert stats == {
        "total_tasks": 5,
        "by_status": {"COMPLETED": 3, "PENDING": 1, "CANCELLED": 1},
        "by_provider": {"none": 4, "local": 1},
        "by_task_type": {"IMAGE_ADJUSTER": 4, "BACKGROUND_FIX": 1},
        "tasks_last_hour": 3,
        "tasks_last_24h": 4,
    }
    assert get(sartiq, "/api/v1/monitoring/stats", origin_instance="a")["total_tasks"] == 2
    zone = get(sartiq, "/api/v1/monitoring/stats", origin_zone="eu")
    assert zone["total_tasks"] == 2 and zone["by_status"] == {"COMPLETED": 1, "CANCELLED": 1}
    assert get(sartiq, "/api/v1/monitoring/stats", origin_instance="b", origin_zone="eu")["total_tasks"] == 1
    # a cleaned-up task is gone from the figures
    first = tasks_page(sartiq, origin_instance="a")["items"][0]["id"]
    assert sartiq.post(f"/api/v1/tasks/{first}/cleanup").status_code == 200
    assert get(sartiq, "/api/v1/monitoring/stats")["total_tasks"] == 4


# -- queues ----------------------------------------------------------------------------------------------


def work_queue(name: str) -> int:
    """Take every task on ``name`` and do it as a django-q2 worker would: the pusher's marks, the task, the
    monitor's record (django_q.monitor.save_task) and the acknowledgement."""
    broker = get_broker(name)
    done = 0
    while items := broker.dequeue():
        for ack_id, payload in items:
            task = SignedPackage.loads(payload)
            task.update(cluster=name, ack_id=ack_id, sync=True)  # sync: keep the test's connection
            result = import_string(task["func"])(*task["args"], **task["kwargs"])
            task.update(result=result, success=True, stopped=timezone.now())
            save_task(task, broker)
            broker.acknowledge(ack_id)
            done += 1
    return done


def queues_by_name(client) -> tuple[dict, dict]:
    body = get(client, "/api/v1/monitoring/queues")
    assert set(body) == set(S.QueueStatsResponse.model_fields)
    return body, {q["name"]: q for q in body["queues"]}


def test_queue_figures_are_the_brokers_and_the_runs(
    sartiq, settings, own_queues, django_capture_on_commit_callbacks
):
    cpu_name, gpu_name = settings.Q_CLUSTER["name"], settings.Q_GPU_CLUSTER
    settings.RUNS_EAGER = False
    body, queues = queues_by_name(sartiq)
    assert [q["name"] for q in body["queues"]] == [cpu_name, gpu_name]
    assert all(
        (
            q["depth"],
            q["active_workers"],
            q["active_tasks"],
            q["reserved_tasks"],
            q["tasks_completed_last_hour"],
        )
        == (0, 0, 0, 0, 0)
        and q["avg_wait_time_ms"] is None
        for q in body["queues"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        made = [create(sartiq, adjuster())["id"] for _ in range(3)]
    body, queues = queues_by_name(sartiq)
    assert queues[cpu_name]["depth"] == 3 and queues[gpu_name]["depth"] == 0
    assert body["total_pending"] == 3 and body["total_active"] == 0
    time.sleep(0.05)  # a measurable wait
    assert work_queue(cpu_name) == 3
    runs = list(Run.objects.filter(sartiq_task__in=made))
    assert {r.status for r in runs} == {RunStatus.COMPLETED}
    body, queues = queues_by_name(sartiq)
    cpu = queues[cpu_name]
    assert (cpu["depth"], cpu["tasks_completed_last_hour"], cpu["active_tasks"]) == (0, 3, 0)
    waits = [(r.started_at - r.created_at).total_seconds() * 1000 for r in runs]
    assert cpu["avg_wait_time_ms"] == pytest.approx(sum(waits) / 3, abs=0.01)
    assert cpu["avg_wait_time_ms"] >= 50
    assert queues[gpu_name]["tasks_completed_last_hour"] == 0
    # a run executing now on a worker (its heartbeat is fresh) is an active task of its queue
    Run.objects.filter(pk=runs[0].pk).update(status=RunStatus.RUNNING, heartbeat_at=timezone.now())
    body, queues = queues_by_name(sartiq)
    assert queues[cpu_name]["active_tasks"] == 1 and body["total_active"] == 1
    Run.objects.filter(pk=runs[0].pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert queues_by_name(sartiq)[1][cpu_name]["active_tasks"] == 0  # its worker died: not active
    # a django-q2 record of an hour ago is not of the last hour
    Task.objects.filter(cluster=cpu_name).update(stopped=timezone.now() - timedelta(hours=2))
    assert queues_by_name(sartiq)[1][cpu_name]["tasks_completed_last_hour"] == 0


# -- workers (heartbeats saved as django-q2's sentinel saves them) ------------------------------------------


def heartbeat(
    queue: str, workers: list[int], status=Conf.IDLE, task_q_size=0, started=None, pid=None
) -> Stat:
    """Save the Stat a cluster's sentinel saves every guard cycle (django_q.cluster.Sentinel.guard)."""
    sentinel = SimpleNamespace(
        parent_pid=pid or os.getpid(),
        pid=pid or os.getpid(),
        cluster_id=uuid.uuid4(),
        broker=get_broker(queue),
        tob=started or timezone.now(),
        reincarnations=0,
        status=lambda: status,
        result_queue=SimpleNamespace(qsize=lambda: 0),
        task_queue=SimpleNamespace(qsize=lambda: task_q_size),
        monitor=None,
        pusher=None,
        pool=[SimpleNamespace(pid=pid) for pid in workers],
    )
    stat = Stat(sentinel)
    stat.save()
    return stat


def test_workers_and_health_from_cluster_heartbeats(sartiq, settings, own_queues, own_stats):
    cpu_name, gpu_name = settings.Q_CLUSTER["name"], settings.Q_GPU_CLUSTER
    health = get(sartiq, "/api/v1/monitoring/workers/health")
    assert (health["healthy"], health["total_workers"], health["workers_with_capacity"]) == (False, 0, 0)
    assert (health["queues_with_workers"], health["queues_without_workers"]) == ([], [cpu_name, gpu_name])
    assert get(sartiq, "/api/v1/monitoring/workers")["workers"] == []

    started = timezone.now() - timedelta(minutes=30)
    heartbeat(cpu_name, [os.getpid(), os.getpid()], task_q_size=1, started=started)
    host = socket.gethostname()
    # what the cluster did: two tasks since it started, one before
    for minutes, name in ((40, "before"), (20, "a"), (5, "b")):
        Task.objects.create(
            id=uuid.uuid4().hex,
            name=name,
            func="os.getpid",
            cluster=cpu_name,
            started=timezone.now() - timedelta(minutes=minutes),
            stopped=timezone.now() - timedelta(minutes=minutes),
            success=True,
        )
    body = get(sartiq, "/api/v1/monitoring/workers")
    assert set(body) == set(S.WorkerStatsResponse.model_fields)
    (worker,) = body["workers"]
    assert set(worker) == set(S.WorkerInfo.model_fields)
    assert worker["name"] == f"{cpu_name}@{host}" and worker["queues"] == [cpu_name]
    assert (worker["concurrency"], worker["active_tasks"], worker["utilization_pct"]) == (2, 0, 0.0)
    assert worker["has_capacity"] is True
    assert worker["tasks_completed_total"] == 2
    assert worker["tasks_per_minute"] == pytest.approx(2 / 30, rel=0.01)
    assert worker["memory_mb"] > 0  # this process, on this host
    assert (body["total_workers"], body["total_capacity"], body["total_active"]) == (1, 2, 0)
    assert body["workers_at_capacity"] == 0
    queues = {q["name"]: q for q in get(sartiq, "/api/v1/monitoring/queues")["queues"]}
    assert (queues[cpu_name]["active_workers"], queues[cpu_name]["reserved_tasks"]) == (1, 1)
    assert queues[gpu_name]["active_workers"] == 0

    # a run executing on the queue: one of the two worker processes is busy
    with_run = create(sartiq, adjuster())
    Run.objects.filter(sartiq_task=with_run["id"]).update(
        status=RunStatus.RUNNING, heartbeat_at=timezone.now()
    )
    (worker,) = get(sartiq, "/api/v1/monitoring/workers")["workers"]
    assert (worker["active_tasks"], worker["utilization_pct"], worker["has_capacity"]) == (1, 50.0, True)
    health = get(sartiq, "/api/v1/monitoring/workers/health")
    assert health["healthy"] is True and health["workers_with_capacity"] == 1
    assert (health["queues_with_workers"], health["queues_without_workers"]) == ([cpu_name], [gpu_name])

    # a one-process GPU cluster running a run is at capacity
    heartbeat(gpu_name, [os.getpid()])
    gpu_run = create(sartiq, adjuster())
    Run.objects.filter(sartiq_task=gpu_run["id"]).update(
        status=RunStatus.RUNNING,
        heartbeat_at=timezone.now(),
        graph={"nodes": [{"id": "x", "type": "NOT__HERE"}]},
    )
    body = get(sartiq, "/api/v1/monitoring/workers")
    gpu = next(w for w in body["workers"] if w["queues"] == [gpu_name])
    assert (gpu["active_tasks"], gpu["utilization_pct"], gpu["has_capacity"]) == (1, 100.0, False)
    assert (body["total_workers"], body["total_capacity"], body["total_active"]) == (2, 3, 2)
    assert body["total_utilization_pct"] == pytest.approx(66.67) and body["workers_at_capacity"] == 1
    health = get(sartiq, "/api/v1/monitoring/workers/health")
    assert health["queues_with_workers"] == [cpu_name, gpu_name] and health["queues_without_workers"] == []
    assert (health["total_workers"], health["workers_with_capacity"]) == (2, 1)


def test_a_stopped_or_stopping_cluster_has_no_capacity(sartiq, settings, own_queues, own_stats):
    cpu_name = settings.Q_CLUSTER["name"]
    stat = heartbeat(cpu_name, [os.getpid()], status=Conf.STOPPING)
    health = get(sartiq, "/api/v1/monitoring/workers/health")
    assert (health["healthy"], health["total_workers"], health["workers_with_capacity"]) == (False, 1, 0)
    stat.status = Conf.STOPPED  # the sentinel's last save
    stat.broker = get_broker(cpu_name)
    stat.save()
    health = get(sartiq, "/api/v1/monitoring/workers/health")
    assert (health["healthy"], health["total_workers"]) == (False, 0)
    assert get(sartiq, "/api/v1/monitoring/workers")["workers"] == []


def test_two_clusters_of_one_queue_on_one_host_are_told_apart(sartiq, settings, own_queues, own_stats):
    cpu_name = settings.Q_CLUSTER["name"]
    heartbeat(cpu_name, [1], pid=1)
    heartbeat(cpu_name, [2], pid=2)
    names = [w["name"] for w in get(sartiq, "/api/v1/monitoring/workers")["workers"]]
    assert len(set(names)) == 2 and all(n.startswith(f"{cpu_name}-") for n in names)


# -- a real worker -----------------------------------------------------------------------------------------


def stop(proc: subprocess.Popen) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, signum)
            proc.wait(timeout=8)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for(check, seconds: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_shows_in_workers_and_health_until_it_stops(sartiq, settings, tmp_path):
    """A qcluster process as production starts it (the default queue, one worker): it appears in workers and
    makes health healthy; it does a run the API enqueued (counted by the queue and the worker); once it is
    stopped, health says so within one heartbeat."""
    if get(sartiq, "/api/v1/monitoring/workers")["workers"]:
        pytest.skip("another django-q2 cluster is running against this broker")
    name = settings.Q_CLUSTER["name"]
    log = tmp_path / "qcluster.log"
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=worker_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        try:
            wait_for(lambda: get(sartiq, "/api/v1/monitoring/workers/health")["healthy"], 20)
        except AssertionError:
            raise AssertionError(log.read_text()[-3000:]) from None
        health = get(sartiq, "/api/v1/monitoring/workers/health")
        assert health["total_workers"] == 1 and health["queues_with_workers"] == [name]
        (worker,) = get(sartiq, "/api/v1/monitoring/workers")["workers"]
        assert worker["name"] == f"{name}@{socket.gethostname()}" and worker["queues"] == [name]
        assert worker["concurrency"] == 1 and worker["has_capacity"] is True
        assert worker["memory_mb"] is not None and worker["memory_mb"] > 10
        # the worker does a task the API enqueued
        settings.RUNS_EAGER = False
        task = create(sartiq, adjuster())
        wait_for(lambda: get(sartiq, f"/api/v1/monitoring/tasks/{task['id']}")["status"] == "COMPLETED", 20)
        wait_for(lambda: Task.objects.filter(name=task["celery_task_id"]).exists(), 10)
        queue = {q["name"]: q for q in get(sartiq, "/api/v1/monitoring/queues")["queues"]}[name]
        assert queue["depth"] == 0 and queue["active_workers"] == 1
        assert queue["tasks_completed_last_hour"] == Task.objects.filter(cluster=name).count() >= 1
        assert queue["avg_wait_time_ms"] is not None
        (worker,) = get(sartiq, "/api/v1/monitoring/workers")["workers"]
        assert worker["tasks_completed_total"] >= 1
        # stopped: unhealthy within one heartbeat (the sentinel's last save says so; a Stat lives 3 s)
        os.killpg(proc.pid, signal.SIGTERM)
        took = wait_for(lambda: not get(sartiq, "/api/v1/monitoring/workers/health")["healthy"], 10)
        assert took < 3.5, took
        health = get(sartiq, "/api/v1/monitoring/workers/health")
        assert health["total_workers"] in (0, 1) and health["queues_without_workers"][0] == name
    finally:
        stop(proc)
    wait_for(lambda: get(sartiq, "/api/v1/monitoring/workers/health")["total_workers"] == 0, 5)


# -- the OpenAPI document ------------------------------------------------------------------------------------

OPERATIONS = {
    "/api/v1/monitoring/tasks": "TaskListResponse",
    "/api/v1/monitoring/tasks/{task_id}": "TaskDetailResponse",
    "/api/v1/monitoring/tasks/{task_id}/media": "TaskMediaResponse",
    "/api/v1/monitoring/stats": "AggregateStats",
    "/api/v1/monitoring/queues": "QueueStatsResponse",
    "/api/v1/monitoring/workers": "WorkerStatsResponse",
    "/api/v1/monitoring/workers/health": "WorkerHealthResponse",
}


def test_monitoring_operations_are_documented_with_the_seeds_shapes():
    schema = APIClient().get("/api/schema?format=json").json()
    paths = [p for p in schema["paths"] if p.startswith("/api/v1/monitoring")]
    # the workflow monitoring routes (M5-M7) are the workflows' (tests/sartiq/test_workflows.py)
    assert sorted(p for p in paths if not p.startswith("/api/v1/monitoring/workflows")) == sorted(OPERATIONS)
    for path, response in OPERATIONS.items():
        (method,) = [m for m in schema["paths"][path] if m != "parameters"]
        op = schema["paths"][path][method]
        assert method == "get" and op["description"]
        assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{response}"
        }
    params = {p["name"]: p for p in schema["paths"]["/api/v1/monitoring/tasks"]["get"]["parameters"]}
    assert set(params) == {
        "page",
        "page_size",
        "sort_by",
        "sort_order",
        "status",
        "task_type",
        "provider_type",
        "origin_instance",
        "origin_zone",
        "origin_tenant_id",
        "created_after",
        "created_before",
        "search",
    }
    assert params["page"]["schema"]["default"] == 1 and params["page_size"]["schema"]["default"] == 50
    assert params["sort_by"]["schema"]["default"] == "created_at"
    assert params["sort_order"]["schema"]["enum"] == ["asc", "desc"]
    assert params["created_after"]["schema"]["format"] == "date-time"
    item = schema["components"]["schemas"]["TaskListItem"]
    assert set(item["properties"]) == set(S.TaskListItem.model_fields)
