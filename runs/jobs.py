"""Fluxara jobs: ``options.count`` runs of one pipeline that succeed or fail together.

The seed knows four job states, and "failed" means "the job could not be completed and no usable output was
produced". A job is therefore all or nothing: ``completed`` when every run completed, ``failed`` as soon as
one run failed (or was blocked or cancelled) and the others have ended. A failed job lists no outputs, and
what its completed runs were charged is refunded: the caller pays for a job, not for a part of it nobody
asked for. :func:`settle` runs when a run of a job ends (the engine, the stale-run recovery).
"""

from __future__ import annotations

import logging

from django.db import transaction

from accounts import credits
from runs.models import ACTIVE, Run, RunStatus

logger = logging.getLogger(__name__)

UNSUCCESSFUL = {RunStatus.FAILED, RunStatus.BLOCKED, RunStatus.CANCELLED}


def job_status(runs: list[Run]) -> str:
    """queued, running, completed or failed (the seed's status values) for the runs of one job."""
    statuses = {r.status for r in runs}
    if statuses.intersection(ACTIVE):
        return "queued" if statuses <= {RunStatus.QUEUED} else "running"
    return "failed" if statuses & UNSUCCESSFUL else "completed"


def settle(job_id: str) -> int:
    """Once every run of a failed job has ended, refund what its completed runs were charged (once)."""
    if not job_id:
        return 0
    refunded = 0
    with transaction.atomic():
        runs = list(Run.objects.select_for_update().filter(job_id=job_id).select_related("billed_to"))
        if job_status(runs) != "failed":
            return 0
        for run in runs:
            if run.status == RunStatus.COMPLETED and run.credits_used:
                # settled already, so not a refund of a reservation (credits.refund): credits given back
                credits.grant(
                    run.billed_to, run.credits_used, note=f"refund: job {job_id} failed", reference=run.pk
                )
                refunded += run.credits_used
                Run.objects.filter(pk=run.pk).update(credits_used=0)
    if refunded:
        logger.info("job %s failed: %s credits of its completed runs refunded", job_id, refunded)
    return refunded
