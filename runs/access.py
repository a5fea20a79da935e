"""Who may read a run, its results and its files: the caller who submitted it, on every surface.

A run's inputs, outputs, artifacts, events and cancel belong to its caller: the user who requested it, or the
user it is billed to (a FractalQ call is made with the owner's session key and billed to the owner, so those
runs are the owner's). The owner of a public pipeline is not the caller of its consumers' runs and sees only
their aggregate usage and failures (:func:`pipeline_usage`, :func:`redacted_summary`). Access follows the
run, not the pipeline: a caller keeps its runs after the owner makes the pipeline private.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet, Sum

from config.errors import NotFound
from config.timefmt import iso_z
from runs.models import Artifact, Run


def caller_filter(user: Any, prefix: str = "") -> Q:
    """Runs (or, with ``prefix="run__"``, rows of a run) whose caller is ``user``."""
    return Q(**{f"{prefix}billed_to": user}) | Q(**{f"{prefix}requested_by": user})


def is_caller(run: Run, user: Any) -> bool:
    return user.pk is not None and user.pk in (run.billed_to_id, run.requested_by_id)


def runs_visible_to(user: Any) -> QuerySet[Run]:
    return Run.objects.filter(caller_filter(user))


def get_run_for(user: Any, run_id: str) -> Run:
    """The run ``run_id`` if ``user`` is its caller; NotFound otherwise (even for the pipeline's owner)."""
    run = runs_visible_to(user).select_related("pipeline", "pipeline__owner").filter(pk=run_id).first()
    if run is None:
        raise NotFound("Run not found")
    return run


def artifacts_visible_to(user: Any) -> QuerySet[Artifact]:
    """The user's own uploads and the files of the runs it called."""
    return Artifact.objects.filter(Q(owner=user) | caller_filter(user, "run__"))


def redacted_summary(run: Run) -> dict[str, Any]:
    """What a pipeline owner may know of another user's run: its state, timings and error code only."""
    return {
        "id": run.pk,
        "own": False,
        "status": run.status,
        "surface": run.surface,
        "version": run.version.number if run.version_id else None,
        "credits_used": run.credits_used,
        "created_at": iso_z(run.created_at),
        "started_at": iso_z(run.started_at),
        "finished_at": iso_z(run.finished_at),
        "execution_ms": run.execution_ms,
        "error": {"code": run.error.get("code")} if run.error else None,
    }


def pipeline_usage(pipeline: Any) -> dict[str, Any]:
    """Aggregate usage and failures of a pipeline's runs (every caller), for its owner."""
    runs = Run.objects.filter(pipeline=pipeline).order_by()
    by_status = dict(runs.values("status").annotate(n=Count("id")).values_list("status", "n"))
    by_surface = dict(runs.values("surface").annotate(n=Count("id")).values_list("surface", "n"))
    errors: dict[str, int] = {}
    for error in runs.filter(error__isnull=False).values_list("error", flat=True):
        code = str((error or {}).get("code") or "UNKNOWN")
        errors[code] = errors.get(code, 0) + 1
    totals = runs.aggregate(
        runs=Count("id"), callers=Count("billed_to", distinct=True), credits_used=Sum("credits_used")
    )
    timed = runs.filter(started_at__isnull=False, finished_at__isnull=False)
    mean = timed.aggregate(mean=Avg(F("finished_at") - F("started_at")))["mean"]
    return {
        "runs": totals["runs"],
        "callers": totals["callers"],
        "by_status": by_status,
        "by_surface": by_surface,
        "error_codes": errors,
        "credits_used": totals["credits_used"] or 0,
        "mean_execution_ms": int(mean.total_seconds() * 1000) if mean is not None else None,
    }
