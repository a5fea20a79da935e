"""django-q2 entry points. Long work happens here, never in a request.

Two queues (settings.Q_CLUSTER): a run whose graph has a node of resource class "gpu" goes to the GPU cluster
(settings.Q_GPU_CLUSTER), every other run and every other task to the default one, so a CPU-only run never
waits for a GPU worker. Each task names its cluster: a task enqueued from a worker of the GPU cluster (a
finished run's webhook) would otherwise land on that worker's own list.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django_q.tasks import async_task

from config.queues import async_task_later


def default_cluster() -> str:
    return settings.Q_CLUSTER["name"]


def cluster_for(graph: dict[str, Any]) -> str:
    """The cluster that runs ``graph``: the GPU one when any node needs a GPU, else the default one. A node
    type this process does not know (its family's optional stack is missing here) counts as needing a GPU:
    the GPU workers are the ones with the whole stack."""
    from pipelines.nodes.base import get_node_type

    for node in graph.get("nodes", []):
        node_type = get_node_type(node.get("type", ""))
        if settings.Q_GPU_CLUSTER and (node_type is None or node_type.resource_class == "gpu"):
            return settings.Q_GPU_CLUSTER
    return default_cluster()


def enqueue(run_id: str, cluster: str | None = None) -> None:
    """Queue the run on ``cluster`` (runs.services.enqueue_run picks it with :func:`cluster_for`)."""
    async_task(
        "runs.tasks.execute", run_id, task_name=run_id, group="runs", cluster=cluster or default_cluster()
    )


def execute(run_id: str) -> str | None:
    from runs.engine import execute_run

    return execute_run(run_id)


def enqueue_webhook(delivery_id: int, attempt: int = 1, delay: float = 0.0) -> None:
    """Queue attempt ``attempt`` of a delivery, ``delay`` seconds from now (a task the broker holds until
    it is due, config.queues). With RUNS_EAGER the attempt runs at once, in this thread, without waiting:
    tests drive the whole chain deterministically and no one sleeps."""
    if settings.RUNS_EAGER:
        deliver_webhook(delivery_id, attempt)
        return
    options = {
        "group": "webhooks",
        "cluster": default_cluster(),
        "task_name": f"webhook {delivery_id}#{attempt}",
    }
    if delay > 0:
        async_task_later("runs.tasks.deliver_webhook", delivery_id, attempt, delay=delay, **options)
    else:
        async_task("runs.tasks.deliver_webhook", delivery_id, attempt, **options)


def deliver_webhook(delivery_id: int, attempt: int = 1) -> str:
    """One attempt (the first by default, as tasks queued before attempts were tasks of their own were)."""
    from runs.webhooks import attempt_delivery

    return attempt_delivery(delivery_id, attempt)


def recover_stale_runs() -> dict:
    from runs.recovery import recover_stale_runs as recover

    return recover()
