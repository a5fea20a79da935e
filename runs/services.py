"""Run rules shared by every surface: submit, wait, cancel, read, recover."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import credits
from config.errors import BadRequest, Conflict
from pipelines.models import Pipeline, PublishedVersion
from pipelines.nodes.base import get_node_type
from runs import billing, cache, engine, limits, stored_inputs, tasks
from runs import inputs as run_inputs
from runs.events import emit
from runs.models import TERMINAL, NodeRun, NodeStatus, Run, RunStatus

logger = logging.getLogger(__name__)


@dataclass
class Submission:
    run: Run
    created: bool
    runs: list[Run] = field(default_factory=list)  # all the runs made (a Fluxara job makes ``count``)

    def __post_init__(self) -> None:
        self.runs = self.runs or [self.run]


# SQLite takes one writer at a time; a writer that finds the file locked polls it, sleeping 1, 2, 5, 10 … ms
# between tries, so concurrent submits of one process mostly sleep. They queue on this lock instead and each
# starts the moment the one before commits. (Other processes, the workers, still meet SQLite's own wait.)
_SQLITE_WRITERS = threading.Lock()


@contextlib.contextmanager
def writer_turn() -> Iterator[None]:
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with _SQLITE_WRITERS:
        yield


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
    count: int = 1,
    check_spend: Callable[[int], None] | None = None,
    graph: dict | None = None,
) -> Submission:
    """Validate inputs, reserve credits and create ``count`` queued runs (idempotent on ``idempotency_key``).

    The limits every surface shares are applied here: data: images are stored once as input artifacts
    (runs.stored_inputs), a run that cannot finish within its time budget and a caller over its share of the
    workers are refused (runs.limits), and an idempotency key reused with a different request is a conflict.

    ``sync``: the caller will wait for the result. A graph made only of cheap local nodes then runs right
    here, without the round trip through the queue (RUN_INLINE_FAST_PIPELINES).

    ``check_spend(credits)``: a bound on what this submit may spend (a FractalQ key's spending caps), called
    with the credits of all ``count`` runs under the payer's lock, so concurrent submits are counted.

    ``graph``: a valid graph to run instead of the version's or the draft's, for a surface that builds the
    graph of each request itself (a Sartiq task is a run of a small graph made from the task's type); the
    input schema is derived from it."""
    request_hash = ""
    replaces = None
    if idempotency_key:
        request_hash = canonical_request_hash(inputs, preset, webhook_url)
        existing = idempotent_run(pipeline, surface, idempotency_key, request_hash)
        if existing is not None:
            if not failed_on_server_fault(existing):
                return Submission(existing, False)
            replaces = existing
    if graph is None and version is not None:
        graph, schema = version.graph, version.input_schema
    else:
        from pipelines.services import derive_schema

        graph = graph if graph is not None else pipeline.graph
        schema = derive_schema(graph)[0]
    clean_inputs = run_inputs.validate_inputs(schema, inputs)
    graph = apply_preset(graph, pipeline.presets, preset)
    cost = billing.run_price(graph, version)
    inline = sync and settings.RUN_INLINE_FAST_PIPELINES and _all_inline(graph) and not webhook_url
    if not inline:
        limits.check_active_runs(billed_to, count)
    stored = stored_inputs.store_inputs(schema, clean_inputs, requested_by or billed_to)
    limits.check_budget(graph, stored.pixels)
    runs: list[Run] = []
    try:
        with writer_turn(), transaction.atomic():
            if not inline or check_spend is not None:
                credits.lock(billed_to.pk)
            if not inline:
                limits.check_active_runs(billed_to, count)  # again, under the lock: a burst cannot pass it
            if check_spend is not None:
                check_spend(cost * count)
            if replaces is not None:
                _release_key(replaces)
            for _ in range(count):
                run = Run(
                    pipeline=pipeline,
                    version=version,
                    graph=graph,
                    billed_to=billed_to,
                    requested_by=requested_by,
                    surface=surface,
                    inputs=stored.values,
                    options=options or {},
                    preset=preset,
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
                    webhook_url=webhook_url,
                    job_id=job_id,
                    credits_reserved=cost,
                    # a run of cheap local nodes starts at once, right here (runs.engine.execute_inline)
                    **({"status": RunStatus.RUNNING, "started_at": timezone.now(), "attempts": 1} if inline else {}),
                )
                if not inline:  # an inline run is written once, ended (runs.engine.execute_inline)
                    run.save(force_insert=True)
                billing.reserve(run, cost, note=f"{surface} run of {pipeline}")
                if inline:
                    engine.execute_inline(run)  # in this same transaction: one commit for the whole call
                else:
                    NodeRun.objects.bulk_create(engine.node_runs_for(run))
                    emit(run.pk, "run.queued", "", {"credits_reserved": cost})
                runs.append(run)
    except IntegrityError:
        if not idempotency_key:
            raise
        existing = idempotent_run(pipeline, surface, idempotency_key, request_hash)
        if existing is None:
            raise
        return Submission(existing, False)
    if enqueue and not inline:
        for run in runs:
            tasks.enqueue_run(run)
    return Submission(runs[0], True, runs)


# -- idempotency ------------------------------------------------------------------------------------


def canonical_request_hash(inputs: Any, preset: str, webhook_url: str) -> str:
    """SHA-256 of what makes two requests the same request: the inputs, the preset and the callback URL.

    How the caller waits (sync or async) and the host it called are not part of it."""
    canonical = json.dumps(
        {"inputs": inputs, "preset": preset, "webhook_url": webhook_url},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_run(pipeline: Pipeline, surface: str, key: str, request_hash: str) -> Run | None:
    """The run already made for idempotency ``key``, or None; 409 when it was made for another request.

    As payment APIs do: replaying a key returns the first result, reusing it for different inputs is the
    caller's bug and must not silently answer with a run of other inputs. Runs made before request hashes were
    stored have none and are taken as the same request."""
    existing = Run.objects.filter(pipeline=pipeline, surface=surface, idempotency_key=key).first()
    if existing is not None and existing.request_hash and existing.request_hash != request_hash:
        raise Conflict(
            f"Idempotency key '{key}' was already used for a different request (run {existing.pk}); "
            "use a new key for new inputs",
            code="IDEMPOTENCY_KEY_CONFLICT",
            details={"idempotency_key": key, "run_id": existing.pk},
        )
    return existing


def failed_on_server_fault(run: Run) -> bool:
    """A run that failed through no fault of its request (a 5xx: a worker lost, an engine or model error) may
    be retried under the same idempotency key; bad input, a block, a cancellation or a refusal may not."""
    return run.status == RunStatus.FAILED and int((run.error or {}).get("status", 500)) >= 500


def _release_key(run: Run) -> None:
    """Hand the idempotency key of a run that failed on a server fault to the run that replaces it.

    Conditional on the key still being there: of two concurrent retries only one releases it, the other's
    insert then hits the unique constraint and returns the new run (the IntegrityError path)."""
    released = Run.objects.filter(pk=run.pk, idempotency_key=run.idempotency_key).update(
        idempotency_key="", error={**(run.error or {}), "replaced_idempotency_key": run.idempotency_key}
    )
    if not released:
        raise IntegrityError("idempotency key already handed to another run")


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
            refunded = billing.outstanding(run)
            credits.settle(run.billed_to, billing.reference(run), 0, note="cancelled before start")
            run.status = RunStatus.CANCELLED
            run.cancel_requested = True
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "cancel_requested", "finished_at", "updated_at"])
            run.node_runs.filter(status=NodeStatus.QUEUED).update(status=NodeStatus.CANCELLED)
            emit(run.pk, "run.cancelled", "", {"reason": "cancelled by request", "credits_used": 0})
        else:
            # What the nodes that delivered or are running now would cost is kept until the run ends (a node
            # the cancellation stops mid-way is returned then); the rest is returned now.
            keep = billing.charge(
                run.node_runs.all(), [NodeStatus.COMPLETED, NodeStatus.RUNNING, NodeStatus.BLOCKED]
            )
            refunded = max(0, billing.outstanding(run) - keep)
            if refunded:
                billing.refund(run, refunded, note="cancelled while running")
            run.cancel_requested = True
            run.save(update_fields=["cancel_requested", "updated_at"])
            emit(run.pk, "run.cancel_requested", "", {"credits_refunded": refunded})
    if previous == RunStatus.QUEUED:
        from runs import webhooks

        webhooks.schedule_for(Run.objects.get(pk=run.pk))
    return CancelResult(previous_status=previous, credits_refunded=refunded)


RESUMABLE = (RunStatus.FAILED, RunStatus.CANCELLED)


def resume_run(run: Run) -> Run:
    """Resume a failed or cancelled run where it stopped: the finished nodes whose outputs are still stored
    are reused, the failed, cancelled and unrun ones run again, and credits are reserved only for what runs
    again (plus reused outputs that no charge has paid yet: a failed run was charged nothing). The same run
    goes back to the queue; its events say what was reused."""
    with transaction.atomic():
        credits.lock(run.billed_to_id)
        # of=self: PostgreSQL locks no row of the nullable side of an outer join (the version of a draft run)
        run = (
            Run.objects.select_for_update(of=("self",)).select_related("billed_to", "version").get(pk=run.pk)
        )
        if run.status not in RESUMABLE:
            raise Conflict(
                f"Only a failed or cancelled run can be resumed; this one is {run.status}",
                code="NOT_RESUMABLE",
                details={"status": run.status},
            )
        if run.job_id:
            raise Conflict(
                "A run of a Fluxara job is not resumed on its own: submit the job again",
                code="NOT_RESUMABLE",
                details={"job_id": run.job_id},
            )
        node_runs = list(run.node_runs.all())
        reused = cache.prepare_rerun(node_runs, run.billed_to_id)
        # what runs again and what is reused but unpaid: every node by the one rule, whatever its status now
        amount = billing.charge(node_runs, NodeStatus.values)
        run.resumes += 1
        run.status, run.error, run.progress, run.current_node = RunStatus.QUEUED, None, 0, ""
        run.cancel_requested, run.attempts, run.credits_reserved = False, 0, amount
        run.started_at = run.finished_at = run.heartbeat_at = None
        run.save()
        billing.reserve(run, amount, note=f"resume {run.resumes} of run {run.pk}")
        emit(run.pk, "run.resumed", "", {"resume": run.resumes, "reused": reused, "credits_reserved": amount})
    tasks.enqueue_run(run)
    return run


def queue_position(run: Run) -> int:
    if run.status != RunStatus.QUEUED:
        return 0
    return Run.objects.filter(status=RunStatus.QUEUED, created_at__lt=run.created_at).count()


def queue_positions(runs: list[Run]) -> dict[str, int]:
    """:func:`queue_position` of each queued run of ``runs``, by run id, in one query."""
    queued = sorted((r for r in runs if r.status == RunStatus.QUEUED), key=lambda r: r.created_at)
    if not queued:
        return {}
    waiting = list(
        Run.objects.filter(status=RunStatus.QUEUED, created_at__lt=queued[-1].created_at)
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
    positions, ahead = {}, 0
    for run in queued:
        while ahead < len(waiting) and waiting[ahead] < run.created_at:
            ahead += 1
        positions[run.pk] = ahead
    return positions
