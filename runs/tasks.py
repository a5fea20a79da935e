"""Putting work on the queue (django-q2). Long work happens in a worker, never in a request.

Two queues (settings.Q_CLUSTER): a run whose graph has a node of resource class "gpu" goes to the GPU cluster
(settings.Q_GPU_CLUSTER), every other run and every other task to the default one, so a CPU-only run never
waits for a GPU worker. Each task names its cluster: a task enqueued from a worker of the GPU cluster (a
finished run's webhook) would otherwise land on that worker's own list.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string
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


# The queue's entry points, by the dotted names a worker imports them by: this module only puts work on the
# queue and imports none of it (the engine, the sweep and the webhooks enqueue their own follow-up work here).
EXECUTE_RUN = "runs.engine.execute_run"
DELIVER_WEBHOOK = "runs.webhooks.attempt_delivery"
RECOVER_STALE_RUNS = "runs.recovery.recover_stale_runs"


def _eager(func: str, *args: Any) -> Any:
    """With RUNS_EAGER (tests) a task runs at once in this thread, found by its name as a worker finds it."""
    return import_string(func)(*args)


def enqueue_run(run: Any) -> None:
    """Queue a run on the cluster its graph needs (:func:`cluster_for`) once the transaction that made it
    commits; with RUNS_EAGER execute it at once."""
    if settings.RUNS_EAGER:
        _eager(EXECUTE_RUN, run.pk)
        return
    cluster = cluster_for(run.graph)  # GPU runs to the GPU workers, the rest to the default ones
    transaction.on_commit(
        lambda: async_task(EXECUTE_RUN, run.pk, task_name=run.pk, group="runs", cluster=cluster)
    )


def enqueue_webhook(delivery_id: int, attempt: int = 1, delay: float = 0.0) -> None:
    """Queue attempt ``attempt`` of a delivery, ``delay`` seconds from now (a task the broker holds until
    it is due, config.queues). With RUNS_EAGER the attempt runs at once, in this thread, without waiting:
    tests drive the whole chain deterministically and no one sleeps."""
    if settings.RUNS_EAGER:
        _eager(DELIVER_WEBHOOK, delivery_id, attempt)
        return
    options = {
        "group": "webhooks",
        "cluster": default_cluster(),
        "task_name": f"webhook {delivery_id}#{attempt}",
    }
    if delay > 0:
        async_task_later(DELIVER_WEBHOOK, delivery_id, attempt, delay=delay, **options)
    else:
        async_task(DELIVER_WEBHOOK, delivery_id, attempt, **options)


def enqueue_call(func: str, *args: Any, name: str, gpu: bool = False) -> None:
    """Queue another app's job by its dotted name (e.g. a training slice) once the transaction commits, on the
    GPU cluster when ``gpu`` and there is one; with RUNS_EAGER run it at once."""
    if settings.RUNS_EAGER:
        _eager(func, *args)
        return
    cluster = settings.Q_GPU_CLUSTER if gpu and settings.Q_GPU_CLUSTER else default_cluster()
    transaction.on_commit(lambda: async_task(func, *args, task_name=name, group="jobs", cluster=cluster))
