"""Runs whose worker died: found by their stopped heartbeat, then requeued or failed."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import credits
from runs import limits
from runs.events import emit
from runs.models import NodeStatus, Run, RunStatus
from runs.services import enqueue_run

logger = logging.getLogger(__name__)


def recover_stale_runs() -> dict[str, int]:
    """Find running runs whose worker stopped beating: requeue them, or fail them after MAX_RUN_ATTEMPTS.

    A run that had been running past its time budget when its worker stopped was most likely killed by the
    worker timeout: requeued, it would hold a worker until it is killed again. It fails at once (RUN_TIMED_OUT,
    not charged) instead."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.STALE_RUN_SECONDS)
    stale = Run.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at=None)
    )
    counts = {"requeued": 0, "failed": 0}  # a run failed for time counts as failed
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
            if limits.ran_out_of_time(locked):
                _fail_stale(
                    locked,
                    "RUN_TIMED_OUT",
                    f"The run was stopped after running past its time budget of "
                    f"{limits.budget_seconds():.0f} s; it is not retried and not charged. Send a smaller input.",
                    422,
                )
                counts["failed"] += 1
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
                _fail_stale(locked, "WORKER_LOST", "The worker running this job stopped; not charged", 500)
                counts["failed"] += 1
    if counts["requeued"] or counts["failed"]:
        logger.warning("stale runs recovered: %s", counts)
    return counts


def _fail_stale(run: Run, code: str, message: str, status: int) -> None:
    """Fail a run whose worker stopped and return all its credits (it delivers nothing)."""
    credits.settle(run.billed_to, run.pk, 0)
    error = {"code": code, "message": message, "node": run.current_node, "status": status}
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error=error, finished_at=timezone.now())
    run.node_runs.filter(status__in=[NodeStatus.QUEUED, NodeStatus.RUNNING]).update(status=NodeStatus.FAILED)
    emit(run.pk, "run.failed", run.current_node, error)
    if run.job_id:
        from runs import jobs

        transaction.on_commit(lambda: jobs.settle(run.job_id))
