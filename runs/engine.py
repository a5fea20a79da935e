"""The run engine: schedules a run's nodes, records what happens, and ends the run.

The work is split the way a serious pipeline engine splits it (ComfyUI's ``comfy_execution`` keeps graph
ordering, caching and execution apart; so do we):

* :mod:`runs.plan` orders the graph and says which nodes are ready;
* :mod:`runs.execution` runs one node in its own thread: attempts, retries with backoff, the fallback;
* :mod:`runs.cache` keeps node outputs (the node-output cache, and what a resumed run reuses);
* :mod:`runs.outputs` summarizes outputs and stores the artifacts;
* :mod:`runs.billing` says what the run is charged; :mod:`runs.events` records and pushes events.

This module holds them together. Nodes whose inputs are ready run at the same time on a bounded pool of
threads (RUN_NODE_WORKERS per worker process); nodes that need the GPU take the device's lock, one at a time.
Node threads touch no database: everything a node asks of the run (an uploaded image, a provider key) and
everything it reports (progress) goes through a queue to the engine's thread, which alone reads and writes
the run. That thread also notices a cancellation within a fraction of a second and tells the running nodes,
which stop at their next tile or step (``NodeContext.check_cancelled``).

Before a node starts, what is left of the run is estimated from the images so far: a run that cannot finish
within its time budget fails then (:mod:`runs.limits`). A heartbeat thread marks the run alive, so a run
whose worker died is found in seconds (:mod:`runs.recovery`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.db.models import F
from django.utils import timezone

from accounts.services import read_provider_key
from pipelines import loras
from pipelines.nodes.base import ImageValue, NodeContext, NodeType, get_node_type
from runs import billing, cache, execution, jobs, limits, outputs, webhooks
from runs import inputs as run_inputs
from runs.events import EventBuffer, emit
from runs.execution import NodeOutcome
from runs.heartbeat import Heartbeat
from runs.models import NodeRun, NodeStatus, Run, RunStatus
from runs.plan import Plan

logger = logging.getLogger(__name__)
OUTPUT_TYPE = "OUTPUT__"
CANCEL_CHECK_SECONDS = 0.3
PROGRESS_EVERY_SECONDS = 0.25

# One lock per device a node may need: GPU nodes of this worker run one at a time.
DEVICE_LOCKS = {"gpu": threading.Lock()}
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def node_pool() -> ThreadPoolExecutor:
    """The worker process's bounded pool of node threads (created on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=settings.RUN_NODE_WORKERS, thread_name_prefix="node")
        return _POOL


class RunExecutor:
    """Executes one run. Given ``inline_node_runs`` (the unsaved node runs of a cheap graph run inside a
    request) it runs the nodes one after another in the caller's thread and keeps node-run and event writes in
    memory, writing them in one batch at the end: such a run lasts milliseconds and nobody can watch it
    between two nodes, so per-node writes would only cost time."""

    def __init__(self, run: Run, inline_node_runs: list[NodeRun] | None = None):
        self.run = run
        self.inline = inline_node_runs is not None
        self.events = EventBuffer(run.pk) if self.inline else None
        self.plan = Plan.of(run.graph)
        node_runs = inline_node_runs if self.inline else list(run.node_runs.all())
        self.node_runs = {nr.node_id: nr for nr in node_runs}
        self.values: dict[tuple[str, str], Any] = {}
        self.started: set[str] = set()
        self.finished: set[str] = set()
        self.running: dict[str, float] = {}  # node id -> its progress fraction
        self.keys: dict[str, str] = {}  # node id -> the key its outputs are stored under
        self.cancel = threading.Event()
        self.messages: queue.Queue = queue.Queue()
        self.main = threading.current_thread()
        self.ending: Any = None  # set once the run must end: a callable that ends it
        self._cancel_checked = 0.0
        self.store_outputs = not self.inline and settings.NODE_CACHE_MAX_BYTES > 0

    # -- events and records ------------------------------------------------------------------------

    def emit(self, type_: str, node_id: str = "", data: dict[str, Any] | None = None) -> None:
        if self.events is not None:
            self.events.emit(type_, node_id, data)
        else:
            emit(self.run.pk, type_, node_id, data)

    def _save_node(self, node_run: NodeRun, fields: list[str] | None = None) -> None:
        if not self.inline:
            node_run.save(update_fields=fields)

    def _finish_node(self, node_run: NodeRun, status: str, **fields: Any) -> None:
        node_run.status = status
        node_run.finished_at = timezone.now()
        for k, v in fields.items():
            setattr(node_run, k, v)
        self._save_node(node_run)
        if not self.inline and self.run.webhook_url:
            webhooks.schedule_for_node(self.run, node_run)

    def flush(self) -> None:
        """Write what an inline run kept in memory (node runs first, then the events)."""
        if self.inline:
            NodeRun.objects.bulk_create(list(self.node_runs.values()))
            self.events.flush()

    def _cancel_requested(self, now_or_never: bool = False) -> bool:
        """Whether the run was asked to stop (read at most every CANCEL_CHECK_SECONDS while nodes run, and
        before each node starts: ``now_or_never``); tells the running nodes."""
        if self.inline:
            return False
        now = time.monotonic()
        due = now_or_never or now - self._cancel_checked >= CANCEL_CHECK_SECONDS
        if not self.cancel.is_set() and due:
            self._cancel_checked = now
            if Run.objects.filter(pk=self.run.pk, cancel_requested=True).exists():
                self.cancel.set()
        return self.cancel.is_set() and self.ending is None

    def _set_run_progress(self, node_id: str) -> None:
        if self.inline:
            return
        done = len(self.finished) + sum(self.running.values())
        pct = int(min(99, done * 100 / max(1, len(self.plan.order))))
        Run.objects.filter(pk=self.run.pk).update(
            progress=pct, current_node=node_id, heartbeat_at=timezone.now()
        )

    # -- the walk ----------------------------------------------------------------------------------

    def execute(self) -> None:
        self._restore_reused()
        while True:
            if self.ending is None:
                self._start_ready()
            if not self.running:
                break
            self._pump()
        if self.ending is None and self._cancel_requested():
            self._stop_run_cancelled()
        if self.ending is not None:
            return self.ending()
        return self._complete()

    def _restore_reused(self) -> None:
        """A resumed run starts from the outputs its finished nodes stored; one that is gone runs again."""
        for node_id in self.plan.order:
            nr = self.node_runs[node_id]
            if not nr.reused:
                continue
            stored = cache.load(nr.output_ref, self.run.billed_to_id, hit=False) if nr.output_ref else None
            if stored is None:
                nr.reused, nr.status, nr.output_ref = False, NodeStatus.QUEUED, ""
                self._save_node(nr, ["reused", "status", "output_ref"])
                continue
            self._keep(node_id, stored)
            self.started.add(node_id)
            self.finished.add(node_id)

    def _keep(self, node_id: str, values: dict[str, Any]) -> None:
        for port, value in values.items():
            self.values[(node_id, port)] = value

    def _start_ready(self) -> None:
        progressed = True
        while progressed and self.ending is None:
            progressed = False
            for node_id in self.plan.ready(self.finished, self.started):
                if self._cancel_requested(now_or_never=True):
                    self._stop_run_cancelled()
                    return
                self.started.add(node_id)
                self._start(node_id)
                progressed = True
                if self.ending is not None:
                    return

    def _start(self, node_id: str) -> None:
        node = self.plan.nodes[node_id]
        node_run = self.node_runs[node_id]
        node_type = get_node_type(node["type"])
        if node_type is None:
            message = f"node type {node['type']} is not available"
            self._node_failed(node_run, {"code": "UNKNOWN_NODE_TYPE", "message": message, "status": 500})
            return
        refusal = None if self.inline else limits.node_refusal(self.run, self.finished, self.values)
        if refusal is not None:
            self._node_failed(
                node_run, {"code": refusal.code, "message": refusal.message, "status": refusal.status}
            )
            return
        inputs = self.plan.inputs_for(node_id, self.values)
        params = node_type.resolved_params(node.get("params"))
        stored = self._stored_key(node_id, node_type, params, inputs)
        if stored is not None:
            self.keys[node_id] = stored
        if stored is not None and stored.startswith("n:"):
            hit = cache.load(stored, self.run.billed_to_id)
            if hit is not None:
                return self._completed(node_run, node_type, hit, cached=True, output_ref=stored)
        node_run.status = NodeStatus.RUNNING
        node_run.started_at = timezone.now()
        self._save_node(node_run, ["status", "started_at"])
        self.running[node_id] = 0.0
        if not self.inline:
            Run.objects.filter(pk=self.run.pk).update(current_node=node_id)
        self.emit("node.started", node_id, {"type": node_type.type})
        ctx = self._context(node_id)
        work = (node, node_type, ctx, inputs, stored is not None)
        if self.inline:
            self._handle_done(node_id, self._work(*work))
        else:
            node_pool().submit(self._run_in_thread, node_id, *work)

    def _stored_key(self, node_id: str, node_type: type[NodeType], params: dict, inputs: dict) -> str | None:
        """The key the node's outputs are stored under (cache or resume), None when they are not stored:
        cheap nodes run again rather than being stored."""
        if not self.store_outputs or node_type.inline:
            return None
        context = {"options": {k: self.run.options.get(k) for k in node_type.surface_options}}
        if node_type.exposes_input is not None:
            context["input"] = self.run.inputs.get(params.get("name"))
        # what the node reads besides its params and inputs (the content of a LoRA file it names)
        context.update(node_type.cache_context(params, lambda name: loras.read(self.run.billed_to_id, name)))
        key = cache.content_key(self.run.billed_to_id, node_type, params, inputs, context)
        return key or cache.run_key(self.run.pk, node_id)

    # -- a node's thread ---------------------------------------------------------------------------

    def _context(self, node_id: str) -> NodeContext:
        last = [0.0]

        def report(fraction: float) -> None:
            ctx.check_cancelled()
            now = time.monotonic()
            if self.inline or (now - last[0] < PROGRESS_EVERY_SECONDS and fraction < 1):
                return
            last[0] = now
            self.messages.put(("progress", node_id, max(0.0, min(1.0, fraction))))

        ctx = NodeContext(
            run_id=self.run.pk,
            node_id=node_id,
            report_progress=report,
            fetch_image=self._fetch_image,
            log=lambda message: logger.info("[%s/%s] %s", self.run.pk, node_id, message),
            run_inputs=self.run.inputs,
            options=self.run.options,
            provider_key=lambda provider: self._on_main(read_provider_key, self.run.billed_to, provider),
            cancelled=self.cancel.is_set,
            lora_url=lambda name: loras.url_for(
                self.run.billed_to_id, name, self.run.options.get("_base_url", "")
            ),
            read_lora=lambda name: loras.read(self.run.billed_to_id, name),
        )
        return ctx

    def _fetch_image(self, ref: str) -> ImageValue:
        if ref.startswith("art_"):  # the database says whose it is; reading and decoding stay here
            artifact = self._on_main(run_inputs.input_artifact, ref, self.run)
            return run_inputs.read_artifact_image(artifact, ref)
        return run_inputs.load_image(ref, self.run)

    def _on_main(self, fn: Any, *args: Any) -> Any:
        """Call ``fn`` in the engine's thread (the one that reads the database) and return its result."""
        if threading.current_thread() is self.main:
            return fn(*args)
        reply: Future = Future()
        self.messages.put(("call", fn, args, reply))
        return reply.result()

    def _work(
        self, node: dict, node_type: type[NodeType], ctx: NodeContext, inputs: dict, store: bool
    ) -> NodeOutcome:
        device = DEVICE_LOCKS.get(node_type.resource_class) if not self.inline else None
        with device or nullcontext():
            return execution.run_node(
                node,
                node_type,
                ctx,
                inputs,
                wait=self.cancel.wait,
                notify=lambda type_, data: self._on_main(self.emit, type_, ctx.node_id, data),
                serialize=cache.serialize if store else None,
            )

    def _run_in_thread(self, node_id: str, *work: Any) -> None:
        try:
            outcome = self._work(*work)
        except BaseException as exc:  # noqa: BLE001 - the engine's thread must hear of every node
            logger.exception("node thread of %s/%s failed", self.run.pk, node_id)
            message = f"engine error: {exc.__class__.__name__}: {exc}"[:1000]
            outcome = NodeOutcome(
                execution.FAILED, error={"code": "INTERNAL_ERROR", "message": message, "status": 500}
            )
        finally:
            close_old_connections()
        self.messages.put(("done", node_id, outcome))

    # -- the engine's thread: messages from the nodes ------------------------------------------------

    def _pump(self) -> None:
        """Handle node messages until a node finishes (so the next ones can start)."""
        while self.running:
            try:
                kind, node_id_or_fn, *rest = self.messages.get(timeout=CANCEL_CHECK_SECONDS)
            except queue.Empty:
                self._cancel_requested()
                continue
            if kind == "call":
                args, reply = rest
                try:
                    reply.set_result(node_id_or_fn(*args))
                except BaseException as exc:  # noqa: BLE001 - the node's thread gets the error
                    reply.set_exception(exc)
            elif kind == "progress":
                self._progress(node_id_or_fn, rest[0])
            elif kind == "done":
                self._handle_done(node_id_or_fn, rest[0])
                return
            self._cancel_requested()

    def _progress(self, node_id: str, fraction: float) -> None:
        if node_id not in self.running:
            return
        self.running[node_id] = fraction
        pct = int(fraction * 100)
        NodeRun.objects.filter(pk=self.node_runs[node_id].pk).update(progress=pct)
        self._set_run_progress(node_id)
        self.emit("node.progress", node_id, {"progress": pct})

    def _handle_done(self, node_id: str, outcome: NodeOutcome) -> None:
        self.running.pop(node_id, None)
        node_run = self.node_runs[node_id]
        node_run.attempts = len(outcome.attempts)
        node_run.attempt_log = outcome.attempts
        node_run.fallback_used = outcome.fallback_used
        node_type = get_node_type(self.plan.nodes[node_id]["type"])
        if outcome.status == execution.COMPLETED:
            ref = self.keys.get(node_id, "") if outcome.blob is not None else ""
            if ref:
                cache.store(ref, self.run.billed_to_id, node_type.type, outcome.blob)
            self._completed(node_run, node_type, outcome.outputs, output_ref=ref)
        elif outcome.status == execution.BLOCKED:
            exc = outcome.blocked
            summary = {k: outputs.summarize(v) for k, v in exc.outputs.items()}
            self._finish_node(
                node_run,
                NodeStatus.BLOCKED,
                outputs=summary,
                error={"code": exc.code, "message": exc.message},
            )
            self.emit("node.blocked", node_id, {"code": exc.code, "message": exc.message, "outputs": summary})
            error = {"code": exc.code, "message": exc.message, "node": node_id}
            self._stop(
                lambda: self._end(RunStatus.BLOCKED, "run.blocked", error, error={**error, "status": 422})
            )
        elif outcome.status == execution.CANCELLED:
            stopped_by_cancel = self.ending is None
            self._finish_node(node_run, NodeStatus.CANCELLED if stopped_by_cancel else NodeStatus.SKIPPED)
            self.emit(
                "node.cancelled",
                node_id,
                {"reason": "cancelled by request" if stopped_by_cancel else "another node ended the run"},
            )
            if stopped_by_cancel:
                self._stop_run_cancelled()
        else:
            self._node_failed(
                node_run, outcome.error or {"code": "NODE_FAILED", "message": "failed", "status": 500}
            )

    def _completed(
        self,
        node_run: NodeRun,
        node_type: type[NodeType],
        values: dict[str, Any],
        *,
        cached: bool = False,
        output_ref: str = "",
    ) -> None:
        node_id = node_run.node_id
        if node_type.type == OUTPUT_TYPE:
            self.run.outputs = outputs.final_outputs(self.run, node_id, values)
            summary = dict(self.run.outputs)
        else:
            self._keep(node_id, values)
            summary = {k: outputs.preview(self.run, node_id, k, v) for k, v in values.items()}
        if cached:
            node_run.started_at = timezone.now()
        self._finish_node(
            node_run,
            NodeStatus.COMPLETED,
            outputs=summary,
            progress=100,
            cached=cached,
            output_ref=output_ref,
        )
        self.finished.add(node_id)
        self.emit("node.completed", node_id, {"outputs": summary, **({"cached": True} if cached else {})})
        self._set_run_progress(node_id)

    def _node_failed(self, node_run: NodeRun, error: dict[str, Any]) -> None:
        error = {
            "code": error["code"],
            "message": error["message"],
            "node": node_run.node_id,
            "status": int(error.get("status", 500)),
        }
        self._finish_node(
            node_run, NodeStatus.FAILED, error={k: v for k, v in error.items() if k != "status"}
        )
        self.emit("node.failed", node_run.node_id, {k: v for k, v in error.items() if k != "status"})
        self._stop(lambda: self._fail(node_run.node_id, error["code"], error["message"], error["status"]))

    def _stop(self, ending: Any) -> None:
        """End the run once the running nodes have stopped (they are told to stop now)."""
        if self.ending is None:
            self.ending = ending
            self.cancel.set()

    def _stop_run_cancelled(self) -> None:
        self._stop(
            lambda: self._end(RunStatus.CANCELLED, "run.cancelled", {"reason": "cancelled by request"})
        )

    def _mark_rest(self, status: str) -> None:
        for nr in self.node_runs.values():
            if nr.status in (NodeStatus.QUEUED, NodeStatus.RUNNING):
                self._finish_node(nr, status)

    # -- endings ------------------------------------------------------------------------------------

    def _settle(self, delivered: bool) -> int:
        return billing.settle(self.run, list(self.node_runs.values()), delivered)

    def _record_end(self, used: int, **fields: Any) -> None:
        """Write the run's end, and keep ``self.run`` as the database then has it."""
        fields["finished_at"] = timezone.now()
        fields["current_node"] = ""
        if not self.run._state.adding:  # an inline run is not written yet: it is inserted ended
            Run.objects.filter(pk=self.run.pk).update(credits_used=F("credits_used") + used, **fields)
        for name, value in fields.items():
            setattr(self.run, name, value)
        self.run.credits_used += used

    def _complete(self) -> None:
        used = self._settle(True)
        self._record_end(used, status=RunStatus.COMPLETED, progress=100, outputs=self.run.outputs)
        self.emit("run.completed", "", {"outputs": self.run.outputs, "credits_used": self.run.credits_used})

    def _fail(self, node_id: str, code: str, message: str, status: int) -> None:
        self._mark_rest(NodeStatus.SKIPPED)
        self._settle(False)
        error = {"code": code, "message": message, "node": node_id, "status": status}
        self._record_end(0, status=RunStatus.FAILED, error=error)
        self.emit("run.failed", node_id, error)

    def _end(self, status: str, event: str, data: dict[str, Any], error: dict | None = None) -> None:
        self._mark_rest(NodeStatus.CANCELLED if status == RunStatus.CANCELLED else NodeStatus.SKIPPED)
        used = self._settle(True)
        self._record_end(used, status=status, error=error)
        self.emit(event, data.get("node", ""), {**data, "credits_used": self.run.credits_used})


def node_runs_for(run: Run) -> list[NodeRun]:
    """Unsaved NodeRuns of ``run`` in execution order."""
    nodes = {n["id"]: n for n in run.graph["nodes"]}
    prices = billing.node_prices(run.graph, run.version)
    return [
        NodeRun(
            run=run,
            node_id=node_id,
            node_type=nodes[node_id]["type"],
            position=i,
            credit_cost=prices[node_id],
        )
        for i, node_id in enumerate(Plan.of(run.graph).order)
    ]


def execute_inline(run: Run) -> None:
    """Execute a just-created run of cheap local nodes inside the caller's transaction.

    Nothing is written until the end: node runs, events and the final state go in a few statements, and
    ``run`` is left as the database then has it (ended), so the caller need not read it again."""
    if run.status != RunStatus.RUNNING:  # submit_run makes it running
        now = timezone.now()
        if not run._state.adding:
            Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=now, attempts=1)
        run.status, run.started_at, run.attempts = RunStatus.RUNNING, now, 1
    executor = RunExecutor(run, inline_node_runs=node_runs_for(run))
    executor.emit("run.queued", "", {"credits_reserved": run.credits_reserved})
    executor.emit("run.started", "", {"attempt": 1})
    executor.execute()
    if run._state.adding:  # created by submit_run and written here once, ended (its artifacts, node runs and
        run.save(force_insert=True)  # events refer to it: the foreign keys are checked at the commit)
    executor.flush()


def execute_run(run_id: str) -> str | None:
    """Claim a queued run and execute it. Safe to call twice: only one caller claims it."""
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED, cancel_requested=False).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    run = Run.objects.select_related("billed_to", "pipeline", "version").get(pk=run_id)
    try:
        emit(run_id, "run.started", "", {"attempt": run.attempts})
        with Heartbeat(run_id):
            RunExecutor(run).execute()
    except Exception:  # noqa: BLE001 - leave no run running because of an engine bug
        logger.exception("engine error in run %s", run_id)
        RunExecutor(run)._fail("", "INTERNAL_ERROR", "The engine failed; the run was not charged", 500)
    run.refresh_from_db()
    webhooks.schedule_for(run)
    if run.job_id:
        jobs.settle(run.job_id)
    return run.status
