"""The spending caps of a FractalQ session key, enforced before a run is queued.

FractalQ bills the pipeline's owner, and whoever holds the key can call it: without a bound, a leaked key
spends the owner's credits down to a 402. The owner sets credits per UTC day and per calendar month on the
key (:func:`pipelines.services.set_spending_caps`). What counts is every FractalQ run of the pipeline in the
period: what finished runs were charged and what running ones hold reserved, so a burst of concurrent calls
cannot pass the cap (the check runs under the payer's lock, :func:`runs.services.submit_run`) and a rotated
key does not start from zero. A call over a cap is a 429 with a Retry-After up to the period's end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Case, IntegerField, Sum, When
from django.utils import timezone

from config.errors import RateLimited
from pipelines.models import SessionKey
from runs.models import TERMINAL, Run, Surface


def period_starts(now: datetime) -> dict[str, tuple[datetime, datetime]]:
    """(start, end) of the UTC day and the calendar month around ``now``."""
    now = now.astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return {"day": (day, day + timedelta(days=1)), "month": (month, next_month)}


def spent_since(key: SessionKey, since: datetime) -> int:
    """Credits spent (charged, or still reserved by unfinished runs) by FractalQ runs of the key's pipeline
    created since ``since``."""
    total = (
        Run.objects.filter(pipeline_id=key.pipeline_id, surface=Surface.FRACTALQ, created_at__gte=since)
        .aggregate(
            spent=Sum(
                Case(
                    When(status__in=TERMINAL, then="credits_used"),
                    default="credits_reserved",
                    output_field=IntegerField(),
                )
            )
        )
        .get("spent")
    )
    return int(total or 0)


def usage(key: SessionKey, now: datetime | None = None) -> dict[str, Any]:
    """The caps and what has been spent against them, for the owner (studio API)."""
    periods = period_starts(now or timezone.now())
    return {
        "credits_per_day": key.daily_credit_cap,
        "credits_per_month": key.monthly_credit_cap,
        "spent_today": spent_since(key, periods["day"][0]),
        "spent_this_month": spent_since(key, periods["month"][0]),
    }


def check_caps(key: SessionKey, cost: int) -> None:
    """429 (``SPENDING_CAP_REACHED``) when ``cost`` more credits would take the key over one of its caps."""
    if cost <= 0:
        return
    now = timezone.now()
    periods = period_starts(now)
    for period, cap in (("day", key.daily_credit_cap), ("month", key.monthly_credit_cap)):
        if cap is None:
            continue
        start, end = periods[period]
        spent = spent_since(key, start)
        if spent + cost > cap:
            raise RateLimited(
                f"This API key's spending cap of {cap} credits per {period} is reached ({spent} spent, this "
                f"call costs {cost}); the pipeline's owner can raise it",
                code="SPENDING_CAP_REACHED",
                retry_after=max(1, int((end - now).total_seconds()) + 1),
                details={"period": period, "cap": cap, "spent": spent, "cost": cost},
            )
