"""django-q2 entry points. Long work happens here, never in a request."""

from __future__ import annotations

from django.conf import settings
from django_q.tasks import async_task


def enqueue(run_id: str) -> None:
    async_task("runs.tasks.execute", run_id, task_name=run_id, group="runs")


def execute(run_id: str) -> str | None:
    from runs.engine import execute_run

    return execute_run(run_id)


def enqueue_webhook(delivery_id: int) -> None:
    if settings.RUNS_EAGER:
        deliver_webhook(delivery_id)
    else:
        async_task("runs.tasks.deliver_webhook", delivery_id, group="webhooks")


def deliver_webhook(delivery_id: int) -> str:
    from runs.webhooks import deliver

    return deliver(delivery_id)


def recover_stale_runs() -> dict:
    from runs.recovery import recover_stale_runs as recover

    return recover()
