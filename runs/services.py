"""Run rules shared by every surface: submit, wait, cancel, read, recover."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import credits
from config.errors import BadRequest
from pipelines.graph import topological_order
from pipelines.models import Pipeline, PublishedVersion
from pipelines.nodes.base import get_node_type
from pipelines.services import graph_credit_cost
from runs import inputs as run_inputs
from runs.access import get_run_for, runs_visible_to  # noqa: F401 - the read rules live in runs.access
from runs.events import emit
from runs.models import TERMINAL, NodeRun, NodeStatus, Run, RunStatus

logger = logging.getLogger(__name__)


@dataclass
class Submission:
    run: Run
    created: bool


def apply_preset(graph: dict, presets: dict, preset: str) -> dict:
    if not preset:
        return graph
    if preset not in presets:
        raise BadRequest("Preset is not available in the current environment.", code="UNKNOWN_PRESET")
    graph = copy.deepcopy(graph)
    overrides = presets[preset] or {}
    for node in graph["nodes"]:
        if node["id"] in overrides:
            node["params"] = {**(node.get("params") or {}), **overrides[node["id"]]}
    return graph


def _all_inline(graph: dict) -> bool:
    return all(getattr(get_node_type(n["type"]), "inline", False) for n in graph["nodes"])


def submit_run(
    *,
    pipeline: Pipeline,
    version: PublishedVersion | None,
    billed_to: Any,
    surface: str,
    inputs: Any,
    requested_by: Any = None,
    options: dict | None = None,
    preset: str = "",
    idempotency_key: str = "",
    webhook_url: str = "",
    job_id: str = "",
    enqueue: bool = True,
    sync: bool = False,
) -> Submission:
    """Validate inputs, reserve credits and create a queued run (idempotent on ``idempotency_key``).

    ``sync``: the caller will wait for the result. A graph made only of cheap local nodes then runs right
    here, without the round trip through the queue (RUN_INLINE_FAST_PIPELINES)."""
    if idempotency_key:
        existing = Run.objects.filter(
            pipeline=pipeline, surface=surface, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return Submission(existing, False)
    graph = version.graph if version is not None else pipeline.graph
    if version is not None:
        schema = version.input_schema
    else:
        from pipelines.services import derive_schema

        schema = derive_schema(graph)[0]
    clean_inputs = run_inputs.validate_inputs(schema, inputs)
    graph = apply_preset(graph, pipeline.presets, preset)
    cost = graph_credit_cost(graph)
    inline = sync and settings.RUN_INLINE_FAST_PIPELINES and _all_inline(graph) and not webhook_url
    try:
        with transaction.atomic():
            run = Run.objects.create(
                pipeline=pipeline,
                version=version,
                graph=graph,
                billed_to=billed_to,
                requested_by=requested_by,
                surface=surface,
                inputs=clean_inputs,
                options=options or {},
                preset=preset,
                idempotency_key=idempotency_key,
                webhook_url=webhook_url,
                job_id=job_id,
                credits_reserved=cost,
            )
            credits.reserve(billed_to, cost, run.pk, note=f"{surface} run of {pipeline}")
            if inline:
                from runs.engine import execute_inline

                execute_inline(run)  # in this same transaction: one commit for the whole call
            else:
                NodeRun.objects.bulk_create(node_runs_for(run))
                emit(run.pk, "run.queued", "", {"credits_reserved": cost})
    except IntegrityError:
        if not idempotency_key:
            raise
        existing = Run.objects.filter(
            pipeline=pipeline, surface=surface, idempotency_key=idempotency_key
        ).first()
        if existing is None:
            raise
        return Submission(existing, False)
    if enqueue and not inline:
        enqueue_run(run)
    return Submission(run, True)


def node_runs_for(run: Run) -> list[NodeRun]:
    """Unsaved NodeRuns of ``run`` in execution order."""
    nodes = {n["id"]: n for n in run.graph["nodes"]}
    return [
        NodeRun(
            run=run,
            node_id=node_id,
            node_type=nodes[node_id]["type"],
            position=i,
            credit_cost=get_node_type(nodes[node_id]["type"]).credit_cost,
        )
        for i, node_id in enumerate(topological_order(run.graph))
    ]


def enqueue_run(run: Run) -> None:
    from runs import tasks

    if settings.RUNS_EAGER:
        tasks.execute(run.pk)
    else:
        transaction.on_commit(lambda: tasks.enqueue(run.pk))


def run_sync(run: Run, timeout: float | None = None) -> Run:
    """Wait for ``run`` up to ``timeout`` seconds (SYNC_WAIT_SECONDS by default)."""
    return wait_for_run(run.pk, settings.SYNC_WAIT_SECONDS if timeout is None else timeout)


def wait_for_run(run_id: str, timeout: float) -> Run:
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        run = Run.objects.get(pk=run_id)
        if run.is_terminal or time.monotonic() >= deadline:
            return run
        time.sleep(delay)
        delay = min(0.1, delay * 1.5)


@dataclass
class CancelResult:
    previous_status: str
    credits_refunded: int


def cancel_run(run: Run) -> CancelResult:
    """Cancel a queued run (full refund) or ask a running one to stop (refund for nodes not yet run)."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        previous = run.status
        if run.status in TERMINAL:
            raise BadRequest(
                f"Cannot cancel a {run.status} request",
                code="ALREADY_COMPLETED",
                details={"current_status": run.status},
            )
        if run.status == RunStatus.QUEUED:
            refunded = credits.outstanding(run.billed_to, run.pk)
            credits.settle(run.billed_to, run.pk, 0, note="cancelled before start")
            run.status = RunStatus.CANCELLED
            run.cancel_requested = True
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "cancel_requested", "finished_at", "updated_at"])
            run.node_runs.filter(status=NodeStatus.QUEUED).update(status=NodeStatus.CANCELLED)
            emit(run.pk, "run.cancelled", "", {"reason": "cancelled by request", "credits_used": 0})
        else:
            # Nodes already processed (or processing now) are paid for; the rest is returned now.
            keep = sum(
                run.node_runs.filter(
                    status__in=[NodeStatus.COMPLETED, NodeStatus.RUNNING, NodeStatus.BLOCKED]
                ).values_list("credit_cost", flat=True)
            )
            refunded = max(0, credits.outstanding(run.billed_to, run.pk) - keep)
            if refunded:
                credits.refund(run.billed_to, refunded, run.pk, note="cancelled while running")
            run.cancel_requested = True
            run.save(update_fields=["cancel_requested", "updated_at"])
            emit(run.pk, "run.cancel_requested", "", {"credits_refunded": refunded})
    if previous == RunStatus.QUEUED:
        from runs import webhooks

        webhooks.schedule_for(Run.objects.get(pk=run.pk))
    return CancelResult(previous_status=previous, credits_refunded=refunded)


def queue_position(run: Run) -> int:
    if run.status != RunStatus.QUEUED:
        return 0
    return Run.objects.filter(status=RunStatus.QUEUED, created_at__lt=run.created_at).count()


def recover_stale_runs() -> dict[str, int]:
    """Find running runs whose worker stopped beating: requeue them, or fail them after MAX_RUN_ATTEMPTS."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.STALE_RUN_SECONDS)
    stale = Run.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at=None)
    )
    counts = {"requeued": 0, "failed": 0}
    for run in stale:
        with transaction.atomic():
            locked = Run.objects.select_for_update().filter(pk=run.pk, status=RunStatus.RUNNING).first()
            if locked is None or (locked.heartbeat_at and locked.heartbeat_at >= cutoff):
                continue
            if locked.cancel_requested:
                credits.settle(locked.billed_to, locked.pk, 0)
                Run.objects.filter(pk=locked.pk).update(
                    status=RunStatus.CANCELLED, finished_at=timezone.now()
                )
                emit(locked.pk, "run.cancelled", "", {"reason": "worker lost after cancellation"})
                continue
            if locked.attempts < settings.MAX_RUN_ATTEMPTS:
                Run.objects.filter(pk=locked.pk).update(
                    status=RunStatus.QUEUED, progress=0, current_node="", heartbeat_at=None
                )
                locked.node_runs.update(
                    status=NodeStatus.QUEUED,
                    progress=0,
                    outputs={},
                    error=None,
                    started_at=None,
                    finished_at=None,
                )
                emit(locked.pk, "run.requeued", "", {"reason": "worker lost", "attempt": locked.attempts})
                counts["requeued"] += 1
                enqueue_run(locked)
            else:
                credits.settle(locked.billed_to, locked.pk, 0)
                error = {
                    "code": "WORKER_LOST",
                    "message": "The worker running this job stopped; not charged",
                    "node": locked.current_node,
                    "status": 500,
                }
                Run.objects.filter(pk=locked.pk).update(
                    status=RunStatus.FAILED, error=error, finished_at=timezone.now()
                )
                locked.node_runs.filter(status__in=[NodeStatus.QUEUED, NodeStatus.RUNNING]).update(
                    status=NodeStatus.FAILED
                )
                emit(locked.pk, "run.failed", locked.current_node, error)
                counts["failed"] += 1
    if counts["requeued"] or counts["failed"]:
        logger.warning("stale runs recovered: %s", counts)
    return counts
