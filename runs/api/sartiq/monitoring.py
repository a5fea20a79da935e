"""Sartiq Compute's monitoring (seed 002, ``/api/v1/monitoring/*``): tasks, queues and workers as they are.

Tasks are the caller's own Sartiq tasks (:func:`runs.api.sartiq.tasks.visible_tasks`); their status, progress
and timings are the engine's (``tasks.public``). Lists filter, sort and count in the database (sorting by
status, start, end or progress uses the task's run: a workflow step sorts with its workflow's run); the stats
are aggregate queries.

Queues and workers are the platform's, read from django-q2, never estimated:

* the queues are the clusters our engine enqueues to (``runs.tasks``: the default, CPU cluster and the GPU
  one, ``settings.Q_GPU_CLUSTER``); a cluster serves the broker list named like it;
* depth: the broker's ``queue_size()`` (ORM: ``OrmQ`` rows that can be taken now; Redis: the list's length);
* workers: one per running cluster, from the heartbeat its sentinel saves every guard cycle (django-q2's
  ``Stat``, kept 3 s: a stopped cluster is gone within one heartbeat; ``config.queues`` adds the queue it
  serves); concurrency is its worker processes, reserved (prefetched) tasks the ones its pusher has taken from
  the broker that no worker has started yet;
* active tasks: the runs executing on a queue's worker right now (``Run`` RUNNING with a fresh heartbeat, on
  the queue its graph goes to). django-q2 does not say which of a queue's clusters runs one: with several
  clusters on one queue they are counted to the clusters in turn, each up to its concurrency;
* completions: django-q2's task records (``django_q.models.Task``: successes and failures, which name the
  queue, ``cluster``, that ran them; successes are kept up to ``Q_CLUSTER["save_limit"]``). A worker's
  total is its queue's records since the cluster started (shared by the clusters of one queue);
* wait: a run's time from created to started, for the runs a queue's workers took in the last hour (the
  ``execute_run`` task of the run is named after it);
* memory: the resident memory of the cluster's processes (the pids its heartbeat lists), when it runs on this
  host (psutil, else ``/proc``), else null.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Case, CharField, Count, F, Q, Value, When
from django.utils import timezone, translation
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Task
from django_q.status import Stat
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from config.media import absolute_url
from runs import tasks as queue
from runs.api.sartiq import schema as S
from runs.api.sartiq import tasks as T
from runs.api.sartiq.enums import ProviderType, TaskStatus, TaskType
from runs.api.sartiq.models import SartiqTask
from runs.api.sartiq.views import INVALID, TASK_ID, SartiqView
from runs.models import Artifact, Run, RunEvent, RunStatus

try:  # optional: memory of the cluster's processes without /proc
    import psutil
except ImportError:  # pragma: no cover - depends on the install
    psutil = None


# -- tasks -------------------------------------------------------------------------------------------------

# Sartiq's status of a run, in the database (to sort by it).
STATUS_CASE = Case(
    *[When(run__status=run_status, then=Value(status)) for run_status, status in T.STATUS.items()],
    default=Value(""),
    output_field=CharField(),
)
# Workflow steps (tasks that share their workflow's run) are counted by their own state where they exist.
WORKFLOW_STEPS = any(f.name == "prefix" for f in SartiqTask._meta.get_fields()) and hasattr(T, "state")
SORT_COLUMNS = {
    "created_at": "created_at",
    "started_at": "run__started_at",
    "completed_at": "run__finished_at",
    "status": "sartiq_status",
    "task_type": "task_type",
    "progress": "run__progress",
}


def _duration_ms(started: datetime | None, completed: datetime | None) -> float | None:
    if started is None or completed is None:
        return None
    return round((completed - started).total_seconds() * 1000, 3)


def list_tasks(user: Any, query: S.MonitoringTaskQuery) -> dict[str, Any]:
    qs = T.filter_tasks(T.visible_tasks(user), query)
    if query.provider_type is not None:
        qs = qs.filter(provider_type=query.provider_type)
    if query.created_after is not None:
        qs = qs.filter(created_at__gt=query.created_after)
    if query.created_before is not None:
        qs = qs.filter(created_at__lt=query.created_before)
    if query.search:
        qs = qs.filter(id__startswith=query.search.strip().lower())
    column = SORT_COLUMNS[query.sort_by]
    if column == "sartiq_status":
        qs = qs.annotate(sartiq_status=STATUS_CASE)
    descending = query.sort_order == "desc"
    order = [
        F(name).desc(nulls_last=True) if descending else F(name).asc(nulls_last=True)
        for name in dict.fromkeys([column, "created_at", "id"])
    ]
    total = qs.count()
    start = (query.page - 1) * query.page_size
    page = list(qs.order_by(*order)[start : start + query.page_size]) if start < total else []
    results = T.result_paths(page)
    items = []
    for task in page:
        data = T.public(task, results)
        items.append(
            {
                **{name: data.get(name) for name in S.TaskListItem.model_fields},
                "duration_ms": _duration_ms(data["started_at"], data["completed_at"]),
                "has_error": data["status"] == "FAILED" or bool(data["errors"]),
            }
        )
    return {
        "items": items,
        "total": total,
        "page": query.page,
        "page_size": query.page_size,
        "pages": math.ceil(total / query.page_size),
    }


def queue_of(task: SartiqTask) -> str:
    """The queue a task's run went to: the task's own queue_name when a client set one, else the engine's."""
    return task.queue_name or queue.cluster_for(task.run.graph)


def task_detail(task: SartiqTask) -> dict[str, Any]:
    data = T.public(task, T.result_paths([task]))
    public = S.PUBLIC_MODELS[task.task_type].model_validate(data).model_dump(mode="json")
    run = task.run
    last_resume = (
        RunEvent.objects.filter(run=run, type="run.resumed")
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
        if run.resumes
        else None
    )
    node_run = T.state(task).node_run if hasattr(T, "state") else T._task_node_run(task)
    # the task node's calls to a provider (fal, an LLM): one per attempt, with its outcome and duration
    requests = [a for a in (node_run.attempt_log if node_run is not None else []) if a.get("provider")]
    own = set(S.TaskDetailResponse.model_fields) | set(S.TaskPublicBase.model_fields)
    return {
        **{name: public.get(name) for name in S.TaskDetailResponse.model_fields if name in public},
        "duration_ms": _duration_ms(data["started_at"], data["completed_at"]),
        "queue_name": queue_of(task),
        "priority": task.priority,
        "celery_task_id": run.pk,
        "webhook_url": task.webhook_url,
        "is_resumed": run.resumes > 0,
        "resume_attempt_count": run.resumes,
        "last_resume_attempt": last_resume,
        "service_requests": requests or None,
        "task_data": {k: v for k, v in public.items() if k not in own},
    }


def _path_like(value: Any) -> bool:
    return (
        isinstance(value, str) and bool(value) and not value.startswith(("http:", "https:", "data:", "art_"))
    )


def task_media(task: SartiqTask, request: Any) -> dict[str, Any]:
    """The task's stored input images (``base_image``, ``reference_images_0``…) and its results, with signed
    URLs (the storage's own: presigned on S3, signed and expiring locally). An input is one of the task's
    fields that names a file stored for the run (an artifact), never a URL it was given."""
    candidates = []
    for field, value in task.params.items():
        if field.endswith("_path") and _path_like(value):
            candidates.append((field.removesuffix("_path"), value))
        elif isinstance(value, list):
            candidates.extend((f"{field}_{i}", item) for i, item in enumerate(value) if _path_like(item))
    stored = set(
        Artifact.objects.filter(file__in=[path for _, path in candidates]).values_list("file", flat=True)
    )
    inputs = [(name, path) for name, path in candidates if path in stored]
    data = T.public(task, T.result_paths([task]))
    outputs = []
    if data.get("result_image_path"):
        outputs.append(("result_image", data["result_image_path"], "image"))
    media = [
        {"name": name, "path": path, "url": absolute_url(path, request), "media_type": "image"}
        for name, path in inputs
    ]
    results = [
        {"name": name, "path": path, "url": absolute_url(path, request), "media_type": kind}
        for name, path, kind in outputs
    ]
    video = data.get("result_video_path")
    if video:  # a provider's file (fal's CDN): its URL is the path
        results.append({"name": "result_video", "path": video, "url": video, "media_type": "video"})
    return {"task_id": task.id, "inputs": media, "outputs": results}


def task_stats(user: Any, query: S.MonitoringStatsQuery) -> dict[str, Any]:
    qs = SartiqTask.objects.filter(owner=user, is_deleted=False)
    for name in ("origin_instance", "origin_zone"):
        value = getattr(query, name)
        if value is not None:
            qs = qs.filter(**{name: value})
    now = timezone.now()
    counts = qs.aggregate(
        total=Count("pk"),
        last_hour=Count("pk", filter=Q(created_at__gte=now - timedelta(hours=1))),
        last_day=Count("pk", filter=Q(created_at__gte=now - timedelta(hours=24))),
    )
    by_status: dict[str, int] = {}
    own_runs = qs
    if WORKFLOW_STEPS:  # a workflow step's status is its own nodes' (tasks.state), not its workflow run's
        own_runs = qs.filter(prefix="")
        for step in qs.exclude(prefix="").select_related("run").prefetch_related("run__node_runs"):
            status = T.state(step).status
            by_status[status] = by_status.get(status, 0) + 1
    for run_status, n in own_runs.values_list("run__status").annotate(n=Count("pk")).order_by():
        status = T.STATUS.get(run_status, str(run_status))
        by_status[status] = by_status.get(status, 0) + n
    return {
        "total_tasks": counts["total"],
        "by_status": by_status,
        "by_provider": {
            provider or "none": n
            for provider, n in qs.values_list("provider_type").annotate(n=Count("pk")).order_by()
        },
        "by_task_type": dict(qs.values_list("task_type").annotate(n=Count("pk")).order_by()),
        "tasks_last_hour": counts["last_hour"],
        "tasks_last_24h": counts["last_day"],
    }


# -- queues and workers ------------------------------------------------------------------------------------


def engine_queues() -> list[str]:
    """The queues our engine enqueues to, default (CPU) first."""
    return list(dict.fromkeys(q for q in (queue.default_cluster(), settings.Q_GPU_CLUSTER) if q))


@dataclass
class Cluster:
    """A running django-q2 cluster as its last heartbeat describes it."""

    queue: str | None
    host: str
    pid: int
    status: str
    started: datetime | None
    processes: list[int]
    workers: list[int]
    reserved: int
    running: bool  # idle or working (not starting, not stopping)
    active: int = 0
    name: str = ""

    @property
    def concurrency(self) -> int:
        return len(self.workers)

    @property
    def has_capacity(self) -> bool:
        return self.running and self.active < self.concurrency


def clusters() -> list[Cluster]:
    """The clusters whose heartbeat has not expired, minus those that have stopped, by queue, host, pid."""
    found = []
    stats = Stat.get_all(broker=get_broker())
    with translation.override(None):  # django-q2's states are translated strings: compare the originals
        running, stopped = {str(Conf.IDLE), str(Conf.WORKING)}, str(Conf.STOPPED)
        states = [str(getattr(stat, "status", "")) for stat in stats]
    for stat, status in zip(stats, states, strict=True):
        if status == stopped:
            continue
        main = [stat.pid, stat.sentinel, stat.monitor, stat.pusher]
        found.append(
            Cluster(
                queue=getattr(stat, "queue", None),
                host=stat.host,
                pid=stat.pid,
                status=status,
                started=stat.tob,
                processes=[p for p in main if p] + list(stat.workers),
                workers=list(stat.workers),
                reserved=int(stat.task_q_size or 0),
                running=status in running,
            )
        )
    found.sort(key=lambda c: (c.queue or "", c.host, c.pid))
    # ``queue@host``, like a Celery worker; with the pid where one host runs two clusters of a queue
    names = [f"{c.queue or 'unknown'}@{c.host}" for c in found]
    for cluster, name in zip(found, names, strict=True):
        if names.count(name) > 1:
            name = f"{cluster.queue or 'unknown'}-{cluster.pid}@{cluster.host}"
        cluster.name = name
    return found


def running_runs() -> dict[str, list[str]]:
    """Runs executing on a worker now (their worker's heartbeat is fresh), by the queue their graph went to.
    Runs executed in a request (never queued) have no heartbeat and are not counted."""
    fresh = timezone.now() - timedelta(seconds=settings.STALE_RUN_SECONDS)
    found: dict[str, list[str]] = {}
    for pk, graph in Run.objects.filter(status=RunStatus.RUNNING, heartbeat_at__gte=fresh).values_list(
        "pk", "graph"
    ):
        found.setdefault(queue.cluster_for(graph or {}), []).append(pk)
    return found


def assign_active(found: list[Cluster], running: dict[str, list[str]]) -> None:
    for name, ids in running.items():
        n = len(ids)
        for cluster in (c for c in found if c.queue == name):
            cluster.active = min(n, cluster.concurrency)
            n -= cluster.active


def memory_mb(cluster: Cluster) -> float | None:
    """Resident memory of the cluster's processes, on this host only."""
    if cluster.host != socket.gethostname():
        return None
    total = 0
    for pid in cluster.processes:
        try:
            if psutil is not None:
                total += psutil.Process(pid).memory_info().rss
            else:
                with open(f"/proc/{pid}/statm") as fh:
                    total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except Exception:  # noqa: BLE001 - gone or not ours: counted as nothing
            continue
    return round(total / (1024 * 1024), 1) if total else None


def queue_stats() -> dict[str, Any]:
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    found = clusters()
    running = running_runs()
    names = engine_queues()
    names += sorted({c.queue for c in found if c.queue and c.queue not in names})
    rows = []
    for name in names:
        serving = [c for c in found if c.queue == name]
        taken = Task.objects.filter(cluster=name, func=queue.EXECUTE_RUN, stopped__gte=hour_ago).values(
            "name"
        )
        waits = [
            (started - created).total_seconds() * 1000
            for created, started in Run.objects.filter(
                Q(pk__in=taken) | Q(pk__in=running.get(name, [])), started_at__gte=hour_ago, resumes=0
            ).values_list("created_at", "started_at")
            if started is not None
        ]
        rows.append(
            {
                "name": name,
                "depth": get_broker(name).queue_size(),
                "active_workers": len(serving),
                "active_tasks": len(running.get(name, [])),
                "reserved_tasks": sum(c.reserved for c in serving),
                "avg_wait_time_ms": round(sum(waits) / len(waits), 3) if waits else None,
                "tasks_completed_last_hour": Task.objects.filter(cluster=name, stopped__gte=hour_ago).count(),
            }
        )
    return {
        "queues": rows,
        "total_pending": sum(r["depth"] for r in rows),
        "total_active": sum(r["active_tasks"] for r in rows),
        "timestamp": now,
    }


def live_workers() -> list[Cluster]:
    found = clusters()
    assign_active(found, running_runs())
    return found


def worker_stats() -> dict[str, Any]:
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    workers = []
    for c in live_workers():
        since = c.started or now
        done = Task.objects.filter(cluster=c.queue, stopped__gte=since) if c.queue else Task.objects.none()
        window_start = max(since, hour_ago)
        recent = done.filter(stopped__gte=window_start).count()
        minutes = max((now - window_start).total_seconds(), 60.0) / 60
        workers.append(
            {
                "name": c.name,
                "queues": [c.queue] if c.queue else [],
                "concurrency": c.concurrency,
                "active_tasks": c.active,
                "utilization_pct": round(100 * c.active / c.concurrency, 2) if c.concurrency else 0.0,
                "has_capacity": c.has_capacity,
                "tasks_completed_total": done.count(),
                "tasks_per_minute": round(recent / minutes, 3),
                "memory_mb": memory_mb(c),
            }
        )
    capacity = sum(w["concurrency"] for w in workers)
    active = sum(w["active_tasks"] for w in workers)
    return {
        "workers": workers,
        "total_workers": len(workers),
        "total_capacity": capacity,
        "total_active": active,
        "total_utilization_pct": round(100 * active / capacity, 2) if capacity else 0.0,
        "workers_at_capacity": sum(
            1 for w in workers if w["concurrency"] and w["active_tasks"] >= w["concurrency"]
        ),
        "timestamp": now,
    }


def worker_health() -> dict[str, Any]:
    found = live_workers()
    names = engine_queues()
    served = {c.queue for c in found if c.queue}
    with_capacity = [c for c in found if c.has_capacity]
    return {
        "healthy": bool(with_capacity),
        "total_workers": len(found),
        "workers_with_capacity": len(with_capacity),
        "queues_with_workers": [n for n in names if n in served] + sorted(served - set(names)),
        "queues_without_workers": [n for n in names if n not in served],
        "timestamp": timezone.now(),
    }


# -- views -------------------------------------------------------------------------------------------------

QUERY_TYPES = {"page": OpenApiTypes.INT, "page_size": OpenApiTypes.INT}
QUERY_ENUMS = {
    "status": [s.value for s in TaskStatus],
    "task_type": [t.value for t in TaskType],
    "provider_type": [p.value for p in ProviderType],
    "sort_by": ["created_at", "started_at", "completed_at", "status", "task_type", "progress"],
    "sort_order": ["asc", "desc"],
}


def query_parameters(model: type[Any]) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            name,
            QUERY_TYPES.get(name, OpenApiTypes.DATETIME if name.startswith("created_") else OpenApiTypes.STR),
            OpenApiParameter.QUERY,
            required=False,
            enum=QUERY_ENUMS.get(name),
            default=field.default,
            description=field.description or "",
        )
        for name, field in model.model_fields.items()
    ]


def rendered(model: type[Any], data: dict[str, Any]) -> Response:
    return Response(model.model_validate(data).model_dump(mode="json"))


class MonitoringView(SartiqView):
    openapi_error_statuses = (401, 403, 429)


class TaskListView(MonitoringView):
    @extend_schema(
        operation_id="sartiq_monitoring_tasks_list",
        tags=["sartiq"],
        summary="List Monitored Tasks",
        description="List your tasks with filtering, pagination (`page` from 1, `page_size` up to 200) and "
        "sorting (created_at, started_at, completed_at, status, task_type or progress; nulls last). "
        "`search` is a prefix of the task id. Returns a paginated list of tasks with computed duration "
        "(started to completed) and error status. All filters are optional and can be combined.",
        parameters=query_parameters(S.MonitoringTaskQuery),
        responses={200: S.TaskListResponse, 422: INVALID},
    )
    def get(self, request: Request) -> Response:
        query = self.validated_query(request, S.MonitoringTaskQuery)
        return rendered(S.TaskListResponse, list_tasks(request.user, query))


class TaskDetailView(MonitoringView):
    openapi_error_statuses = (401, 403, 404, 429)

    @extend_schema(
        operation_id="sartiq_monitoring_tasks_get",
        tags=["sartiq"],
        summary="Get Monitored Task",
        description="Get detailed task information including configuration and task-type specific fields "
        "(`task_data`). `queue_name` is the django-q2 queue its run went to, `celery_task_id` the django-q2 "
        "task (named after the run), `service_requests` the task's calls to a provider (one per attempt).",
        parameters=[TASK_ID],
        responses={200: S.TaskDetailResponse},
    )
    def get(self, request: Request, task_id: str) -> Response:
        return rendered(S.TaskDetailResponse, task_detail(T.get_task(request.user, task_id)))


class TaskMediaView(MonitoringView):
    openapi_error_statuses = (401, 403, 404, 429)

    @extend_schema(
        operation_id="sartiq_monitoring_tasks_media",
        tags=["sartiq"],
        summary="Get Task Media",
        description="Get input and output media URLs for a task: the input images stored for it and its "
        "results (a provider's video by its URL). The URLs are signed and expire; use them directly in "
        "<img> or <video>.",
        parameters=[TASK_ID],
        responses={200: S.TaskMediaResponse},
    )
    def get(self, request: Request, task_id: str) -> Response:
        return rendered(S.TaskMediaResponse, task_media(T.get_task(request.user, task_id), request))


class StatsView(MonitoringView):
    @extend_schema(
        operation_id="sartiq_monitoring_stats",
        tags=["sartiq"],
        summary="Get Monitoring Stats",
        description="Get aggregate statistics of your tasks for the monitoring dashboard: counts by status, "
        "provider (`none` for tasks without one) and task type, plus tasks created in the last hour and 24 "
        "hours.",
        parameters=query_parameters(S.MonitoringStatsQuery),
        responses={200: S.AggregateStats, 422: INVALID},
    )
    def get(self, request: Request) -> Response:
        query = self.validated_query(request, S.MonitoringStatsQuery)
        return rendered(S.AggregateStats, task_stats(request.user, query))


class QueuesView(MonitoringView):
    @extend_schema(
        operation_id="sartiq_monitoring_queues",
        tags=["sartiq"],
        summary="Get Queue Stats",
        description="Get the depth, active and reserved tasks, wait time and throughput of each queue the "
        "engine uses (the CPU and GPU django-q2 queues): depth is the broker's count of tasks waiting, "
        "active workers the clusters serving it, reserved tasks those a cluster has taken that no worker "
        "has started, active tasks the runs executing, average wait a run's created to started over the "
        "last hour, completed the django-q2 tasks that ended in the last hour.",
        responses={200: S.QueueStatsResponse},
    )
    def get(self, request: Request) -> Response:
        return rendered(S.QueueStatsResponse, queue_stats())


class WorkersView(MonitoringView):
    @extend_schema(
        operation_id="sartiq_monitoring_workers",
        tags=["sartiq"],
        summary="Get Worker Stats",
        description="Get utilization, capacity and throughput of each running worker (a django-q2 cluster, "
        "from its heartbeat): its queue, concurrency (worker processes), active tasks, utilization, "
        "capacity, tasks completed since it started and per minute, and memory when it runs on this host.",
        responses={200: S.WorkerStatsResponse},
    )
    def get(self, request: Request) -> Response:
        return rendered(S.WorkerStatsResponse, worker_stats())


class WorkersHealthView(MonitoringView):
    @extend_schema(
        operation_id="sartiq_monitoring_workers_health",
        tags=["sartiq"],
        summary="Get Workers Health",
        description="Quick health check for worker availability: healthy when at least one worker has "
        "capacity; the queues with and without a worker. A stopped worker is gone within one heartbeat. "
        "Use this endpoint for alerting on capacity issues.",
        responses={200: S.WorkerHealthResponse},
    )
    def get(self, request: Request) -> Response:
        return rendered(S.WorkerHealthResponse, worker_health())
