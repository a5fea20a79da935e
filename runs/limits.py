"""Limits that keep one caller from holding the workers: a time budget per run, a share of the queue per user.

* **Time budget** (``RUN_TIME_BUDGET_SECONDS``, under the worker timeout that kills a task): a run whose
  estimate (:mod:`pipelines.cost`) exceeds it, or that gives a node an image over the node's limit, is refused
  at submit when its input sizes are known then (data: and ``art_`` inputs), and fails before the node starts
  otherwise (an image URL is only measured once fetched), with a 422 that says the limit. A run that ran past
  its budget when its worker died was most likely killed for time: it fails and is refunded instead of being
  requeued to be killed again (:func:`runs.recovery.recover_stale_runs`).
* **Share of the workers** (``RUN_MAX_ACTIVE_PER_USER``, by tier): a submit that would give the payer more
  queued and running runs than that is answered 429 with a Retry-After, in the surface's shape. Refusing
  (rather than parking the extra runs) keeps the queue first come, first served for everyone else, and the
  caller knows at once. Runs executed inside the request (cheap inline graphs) take no worker and do not
  count.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from config.errors import RateLimited, ValidationFailed
from pipelines import cost
from pipelines.nodes.base import ImageValue
from runs.models import ACTIVE, Run

RETRY_AFTER_SECONDS = 10


def max_active_runs(user: Any) -> int:
    limits = settings.RUN_MAX_ACTIVE_PER_USER
    return int(limits.get(getattr(user, "tier", ""), min(limits.values())))


def check_active_runs(user: Any, count: int = 1) -> None:
    """429 when ``count`` more runs would give ``user`` more than its share of queued and running runs."""
    limit = max_active_runs(user)
    active = Run.objects.filter(billed_to=user, status__in=ACTIVE).count()
    if active + count > limit:
        raise RateLimited(
            f"At most {limit} queued or running runs at a time for this account ({active} now"
            + (f", {count} asked" if count > 1 else "")
            + "); wait for some to finish",
            code="TOO_MANY_ACTIVE_RUNS",
            retry_after=RETRY_AFTER_SECONDS,
            details={"active_runs": active, "max_active_runs": limit},
        )


def budget_seconds() -> float:
    return float(settings.RUN_TIME_BUDGET_SECONDS)


def refusal(estimate: cost.Estimate, graph: dict, elapsed: float = 0.0) -> ValidationFailed | None:
    """The error that refuses a run (or what is left of it) with ``estimate``, or None when it fits."""
    if estimate.oversize:
        over = estimate.oversize[0]
        return ValidationFailed(
            f"The image reaching node '{over.node}' has {over.pixels} pixels; it takes at most "
            f"{over.max_pixels}",
            code="IMAGE_TOO_LARGE",
            details={"node": over.node, "pixels": over.pixels, "max_pixels": over.max_pixels},
        )
    budget = budget_seconds()
    if elapsed + estimate.seconds > budget:
        limit = cost.input_limits(graph)["max_input_pixels"]
        return ValidationFailed(
            f"This run would take about {elapsed + estimate.seconds:.0f} s, over the {budget:.0f} s a run "
            "may take" + (f"; send an image of at most {limit} pixels" if limit else ""),
            code="RUN_TOO_LONG",
            details={
                "estimated_seconds": round(elapsed + estimate.seconds, 1),
                "time_budget_seconds": budget,
                "max_input_pixels": limit,
            },
        )
    return None


def check_budget(graph: dict, input_pixels: dict[str, int]) -> None:
    """Refuse, before it is queued, a run that cannot finish within its time budget."""
    error = refusal(cost.estimate(graph, input_pixels), graph)
    if error is not None:
        raise error


def node_refusal(run: Run, finished: set[str], values: dict[tuple[str, str], Any]) -> Any:
    """Before a node starts: the error that fails the run now, when the images produced so far show that the
    nodes not ``finished`` cannot finish within the budget (counting the time already spent)."""
    known = {key: v.width * v.height for key, v in values.items() if isinstance(v, ImageValue)}
    estimate = cost.estimate(run.graph, {}, known=known, skip=set(finished))
    elapsed = (timezone.now() - run.started_at).total_seconds() if run.started_at else 0.0
    return refusal(estimate, run.graph, elapsed)


def ran_out_of_time(run: Run) -> bool:
    """Whether a run whose worker stopped had been running past its budget (so it was killed for time)."""
    if run.started_at is None:
        return False
    last_alive = run.heartbeat_at or run.started_at
    return (last_alive - run.started_at).total_seconds() >= budget_seconds()
