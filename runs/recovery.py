"""Runs whose worker died: found by their stopped heartbeat, then requeued or failed."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from runs import billing, cache, jobs, limits, tasks, webhooks
from runs.events import emit
from runs.models import NodeStatus, Run, RunStatus

logger = logging.getLogger(__name__)


def stale(cutoff: Any) -> Q:
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at=None)


def stale_cutoff() -> Any:
    return timezone.now() - timezone.timedelta(seconds=settings.STALE_RUN_SECONDS)


def recover_stale_runs() -> dict[str, int]:
    """Find running runs whose worker stopped beating: requeue them, or fail them after MAX_RUN_ATTEMPTS.

    Cheap (one indexed query on status and heartbeat when nothing is stale) and safe to call from several
    places at once: every running worker's heartbeat thread calls it every RUN_STALE_SWEEP_SECONDS
    (runs.heartbeat), a follower calls :func:`recover_run` for the run it follows, django-q2's schedule once a
    minute (runs.tasks.RECOVER_STALE_RUNS); each run is recovered once (see :func:`_recover`).

    A run that had been running past its time budget when its worker stopped was most likely killed by the
    worker timeout: requeued, it would hold a worker until it is killed again. It fails at once
    (RUN_TIMED_OUT, not charged) instead."""
    cutoff = stale_cutoff()
    counts = {"requeued": 0, "failed": 0}  # a run failed for time counts as failed
    candidates = Run.objects.filter(status=RunStatus.RUNNING).filter(stale(cutoff))
    for run_id in candidates.values_list("pk", flat=True):
        outcome = _recover(run_id, cutoff)
        if outcome in counts:
            counts[outcome] += 1
    if counts["requeued"] or counts["failed"]:
        logger.warning("stale runs recovered: %s", counts)
    return counts


def recover_run(run_id: str) -> str | None:
    """Recover ``run_id`` if it is running with a stale heartbeat (a follower saw it stop): "requeued",
    "failed", "cancelled", or None when it is not stale (any more)."""
    return _recover(run_id, stale_cutoff())


def _recover(run_id: str, cutoff: Any) -> str | None:
    with transaction.atomic():
        # The claim: a conditional update, so that of concurrent sweeps only one goes on (PostgreSQL locks
        # the row until the commit, the others then see a fresh heartbeat; SQLite locks at BEGIN).
        claimed = (
            Run.objects.filter(pk=run_id, status=RunStatus.RUNNING)
            .filter(stale(cutoff))
            .update(heartbeat_at=timezone.now())
        )
        if not claimed:
            return None
        locked = Run.objects.select_for_update().get(pk=run_id)
        if locked.cancel_requested:
            locked.node_runs.filter(status__in=[NodeStatus.QUEUED, NodeStatus.RUNNING]).update(
                status=NodeStatus.CANCELLED
            )
            used = _settle(locked, delivered=True)  # a cancelled run pays for what its nodes delivered
            Run.objects.filter(pk=locked.pk).update(
                status=RunStatus.CANCELLED, finished_at=timezone.now(), credits_used=F("credits_used") + used
            )
            emit(
                locked.pk,
                "run.cancelled",
                "",
                {"reason": "worker lost after cancellation", "credits_used": used},
            )
            _after_end(locked.pk)
            return "cancelled"
        if limits.ran_out_of_time(locked):
            _fail_stale(
                locked,
                "RUN_TIMED_OUT",
                f"The run was stopped after running past its time budget of "
                f"{limits.budget_seconds():.0f} s; it is not retried and not charged. Send a smaller input.",
                422,
            )
            return "failed"
        if locked.attempts < settings.MAX_RUN_ATTEMPTS:
            Run.objects.filter(pk=locked.pk).update(
                status=RunStatus.QUEUED, progress=0, current_node="", heartbeat_at=None
            )
            # What the lost worker finished and stored is reused; the rest runs again.
            reused = cache.prepare_rerun(list(locked.node_runs.all()), locked.billed_to_id)
            emit(
                locked.pk,
                "run.requeued",
                "",
                {
                    "reason": "worker lost",
                    "attempt": locked.attempts,
                    "node": locked.current_node or None,
                    "reused": reused,
                },
            )
            tasks.enqueue_run(locked)
            return "requeued"
        _fail_stale(locked, "WORKER_LOST", "The worker running this job stopped; not charged", 500)
        return "failed"


def _settle(run: Run, delivered: bool) -> int:
    return billing.settle(run, list(run.node_runs.all()), delivered)


def _fail_stale(run: Run, code: str, message: str, status: int) -> None:
    """Fail a run whose worker stopped and return all its credits (it delivers nothing)."""
    _settle(run, delivered=False)
    error = {"code": code, "message": message, "node": run.current_node, "status": status}
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error=error, finished_at=timezone.now())
    run.node_runs.filter(status__in=[NodeStatus.QUEUED, NodeStatus.RUNNING]).update(status=NodeStatus.FAILED)
    emit(run.pk, "run.failed", run.current_node, error)
    _after_end(run.pk)


def _after_end(run_id: str) -> None:
    """Once the recovery that ended ``run_id`` commits: its callback or webhook, its Fluxara job's outcome."""

    def deliver() -> None:
        run = Run.objects.get(pk=run_id)
        webhooks.schedule_for(run)
        if run.job_id:
            jobs.settle(run.job_id)

    transaction.on_commit(deliver)
