"""The run engine: walks a run's graph in topological order.

For each node it records a NodeRun and events, gathers the node's inputs from
upstream outputs, runs it (retrying up to the node type's ``max_retries`` on
retryable errors), and stores image outputs that reach ``OUTPUT__`` as
artifacts. Cancellation is checked between nodes. Credits are settled at the
end: a completed run pays for its nodes, a failed run pays nothing, a
cancelled or blocked run pays for the nodes that ran. A heartbeat thread marks
the run alive so that a run whose worker died can be found and retried
(:func:`runs.recovery.recover_stale_runs`). Before each node, what is left of the
run is estimated from the images so far: a run that cannot finish within its time
budget fails then, instead of holding a worker until the timeout (:mod:`runs.limits`).
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

from django.db.models import F
from django.utils import timezone

from accounts import credits
from accounts.services import read_provider_key
from pipelines.graph import topological_order
from pipelines.nodes.base import ImageValue, NodeContext, NodeError, NodeType, PipelineBlocked, get_node_type
from runs import artifacts, limits
from runs import inputs as run_inputs
from runs.events import EventBuffer, emit
from runs.heartbeat import Heartbeat
from runs.models import NodeRun, NodeStatus, Run, RunStatus

logger = logging.getLogger(__name__)
OUTPUT_TYPE = "OUTPUT__"


# Run option: store every node's image outputs as artifacts, not only the pipeline's outputs.
STORE_INTERMEDIATES = "store_intermediates"


def summarize(value: Any) -> Any:
    """A JSON-safe summary of a node output (images are described, not embedded)."""
    if isinstance(value, ImageValue):
        return {
            "type": "image",
            "width": value.width,
            "height": value.height,
            "format": value.format,
            "metadata": value.metadata,
        }
    if isinstance(value, str) and len(value) > 20000:
        return value[:20000] + "…"
    return value


class RunExecutor:
    """Executes one run. Given ``inline_node_runs`` (the unsaved node runs of a cheap graph run inside a
    request) it keeps node-run and event writes in memory and writes them in one batch at the end: such a
    run lasts milliseconds and nobody can watch it between two nodes, so the per-node writes would only
    cost time."""

    def __init__(self, run: Run, inline_node_runs: list[NodeRun] | None = None):
        self.run = run
        self.inline = inline_node_runs is not None
        self.events = EventBuffer(run.pk) if self.inline else None
        self.graph = run.graph
        self.nodes = {n["id"]: n for n in self.graph["nodes"]}
        self.order = topological_order(self.graph)
        self.values: dict[tuple[str, str], Any] = {}
        node_runs = inline_node_runs if self.inline else run.node_runs.all()
        self.node_runs = {nr.node_id: nr for nr in node_runs}
        self.completed = 0
        self._last_progress_event = 0.0

    # -- helpers ------------------------------------------------------------------------------------

    def _inputs_for(self, node_id: str) -> dict[str, Any]:
        gathered = {}
        for edge in self.graph.get("edges", []):
            if edge["to"]["node"] == node_id:
                key = (edge["from"]["node"], edge["from"]["port"])
                if key in self.values:
                    gathered[edge["to"]["port"]] = self.values[key]
        return gathered

    def _emit(self, type_: str, node_id: str = "", data: dict[str, Any] | None = None) -> None:
        if self.events is not None:
            self.events.emit(type_, node_id, data)
        else:
            emit(self.run.pk, type_, node_id, data)

    def _save_node(self, node_run: NodeRun, fields: list[str] | None = None) -> None:
        if not self.inline:
            node_run.save(update_fields=fields)

    def _flush(self) -> None:
        """Write what an inline run kept in memory (node runs first, then the events)."""
        if not self.inline:
            return
        NodeRun.objects.bulk_create(list(self.node_runs.values()))
        self.events.flush()

    def _cancel_requested(self) -> bool:
        if self.inline:
            return False
        return Run.objects.filter(pk=self.run.pk, cancel_requested=True).exists()

    def _set_run_progress(self, node_id: str, fraction: float) -> None:
        if self.inline:
            return
        total = max(1, len(self.order))
        pct = int(min(99, (self.completed + max(0.0, min(1.0, fraction))) * 100 / total))
        Run.objects.filter(pk=self.run.pk).update(
            progress=pct, current_node=node_id, heartbeat_at=timezone.now()
        )

    def _progress_callback(self, node_run: NodeRun) -> Any:
        def report(fraction: float) -> None:
            now = time.monotonic()
            if now - self._last_progress_event < 0.25 and fraction < 1:
                return
            self._last_progress_event = now
            pct = int(max(0.0, min(1.0, fraction)) * 100)
            NodeRun.objects.filter(pk=node_run.pk).update(progress=pct)
            self._set_run_progress(node_run.node_id, fraction)
            self._emit("node.progress", node_run.node_id, {"progress": pct})

        return report

    def _finish_node(self, node_run: NodeRun, status: str, **fields: Any) -> None:
        node_run.status = status
        node_run.finished_at = timezone.now()
        for k, v in fields.items():
            setattr(node_run, k, v)
        self._save_node(node_run)

    def _mark_rest(self, from_index: int, status: str) -> None:
        for node_id in self.order[from_index:]:
            nr = self.node_runs[node_id]
            if nr.status in (NodeStatus.QUEUED, NodeStatus.RUNNING):
                self._finish_node(nr, status)

    def _used_credits(self) -> int:
        return sum(
            nr.credit_cost
            for nr in self.node_runs.values()
            if nr.status in (NodeStatus.COMPLETED, NodeStatus.BLOCKED)
        )

    # -- the walk -----------------------------------------------------------------------------------

    def execute(self) -> None:
        for index, node_id in enumerate(self.order):
            if self._cancel_requested():
                self._mark_rest(index, NodeStatus.CANCELLED)
                return self._end(RunStatus.CANCELLED, "run.cancelled", {"reason": "cancelled by request"})
            node = self.nodes[node_id]
            node_type = get_node_type(node["type"])
            node_run = self.node_runs[node_id]
            if node_type is None:
                self._finish_node(node_run, NodeStatus.FAILED, error={"code": "UNKNOWN_NODE_TYPE"})
                self._mark_rest(index + 1, NodeStatus.SKIPPED)
                return self._fail(
                    node_id, "UNKNOWN_NODE_TYPE", f"node type {node['type']} is not available", 500
                )
            outcome = self._over_budget(index, node_run) or self._run_node(node, node_type, node_run)
            if outcome is not None:
                self._mark_rest(index + 1, NodeStatus.SKIPPED)
                return outcome()
            self.completed += 1
            self._set_run_progress(node_id, 0.0)
        return self._complete()

    def _over_budget(self, index: int, node_run: NodeRun) -> Any:
        """Fail before the node starts when the images so far show that the rest of the run cannot finish
        within its time budget (an image URL's size is only known once fetched): a clear 422 now instead of
        a worker busy until its timeout kills it (runs.limits)."""
        if self.inline:
            return None
        error = limits.node_refusal(self.run, self.order, index, self.values)
        if error is None:
            return None
        return self._node_failed(node_run, 0, error.code, error.message, error.status)

    def _run_node(self, node: dict, node_type: type[NodeType], node_run: NodeRun) -> Any:
        """Run one node; None on success, else a callable that ends the run."""
        node_id = node["id"]
        node_run.status = NodeStatus.RUNNING
        node_run.started_at = timezone.now()
        self._save_node(node_run, ["status", "started_at"])
        if not self.inline:
            Run.objects.filter(pk=self.run.pk).update(current_node=node_id)
        self._emit("node.started", node_id, {"type": node_type.type})
        ctx = NodeContext(
            run_id=self.run.pk,
            node_id=node_id,
            report_progress=self._progress_callback(node_run),
            fetch_image=lambda ref: run_inputs.load_image(ref, self.run),
            log=lambda message: logger.info("[%s/%s] %s", self.run.pk, node_id, message),
            run_inputs=self.run.inputs,
            options=self.run.options,
            provider_key=partial(read_provider_key, self.run.billed_to),
        )
        params = node_type.resolved_params(node.get("params"))
        inputs = self._inputs_for(node_id)
        attempts = 0
        while True:
            attempts += 1
            try:
                outputs = node_type().run(ctx, inputs, params) or {}
                break
            except PipelineBlocked as exc:
                summary = {k: summarize(v) for k, v in exc.outputs.items()}
                self._finish_node(
                    node_run,
                    NodeStatus.BLOCKED,
                    attempts=attempts,
                    outputs=summary,
                    error={"code": exc.code, "message": exc.message},
                )
                self._emit(
                    "node.blocked", node_id, {"code": exc.code, "message": exc.message, "outputs": summary}
                )
                error = {"code": exc.code, "message": exc.message, "node": node_id}
                return lambda: self._end(
                    RunStatus.BLOCKED, "run.blocked", error, error={**error, "status": 422}
                )
            except NodeError as exc:
                if exc.retryable and attempts <= node_type.max_retries:
                    self._emit("node.retrying", node_id, {"attempt": attempts, "error": exc.message})
                    continue
                return self._node_failed(node_run, attempts, exc.code, exc.message, exc.http_status)
            except Exception as exc:
                logger.exception("node %s of run %s crashed", node_id, self.run.pk)
                if attempts <= node_type.max_retries:
                    self._emit("node.retrying", node_id, {"attempt": attempts, "error": str(exc)[:500]})
                    continue
                return self._node_failed(
                    node_run,
                    attempts,
                    "PROCESSING_FAILED",
                    f"{node_type.type} failed: {exc.__class__.__name__}: {exc}"[:1000],
                    500,
                )
        if node_type.type == OUTPUT_TYPE:
            outputs = {"__final__": self._collect_outputs(node_id, outputs)}
        else:
            for port, value in outputs.items():
                self.values[(node_id, port)] = value
        summary = (
            dict(outputs["__final__"])
            if "__final__" in outputs
            else {k: self._preview(node_id, k, v) for k, v in outputs.items()}
        )
        self._finish_node(node_run, NodeStatus.COMPLETED, attempts=attempts, outputs=summary, progress=100)
        self._emit("node.completed", node_id, {"outputs": summary})
        return None

    def _preview(self, node_id: str, port: str, value: Any) -> Any:
        """The summary of an intermediate output. A surface that shows every node's result (the canvas, a
        Fizzly event stream) asks for its images to be stored too (the run option STORE_INTERMEDIATES)."""
        summary = summarize(value)
        if isinstance(value, ImageValue) and self.run.options.get(STORE_INTERMEDIATES):
            art = artifacts.store_image(
                self.run.billed_to, value, run=self.run, node_id=node_id, output_key=f"{node_id}.{port}"
            )
            summary["artifact_id"] = art.id
        return summary

    def _node_failed(self, node_run: NodeRun, attempts: int, code: str, message: str, status: int) -> Any:
        error = {"code": code, "message": message, "node": node_run.node_id}
        self._finish_node(node_run, NodeStatus.FAILED, attempts=attempts, error=error)
        self._emit("node.failed", node_run.node_id, error)
        return lambda: self._fail(node_run.node_id, code, message, status)

    def _collect_outputs(self, node_id: str, values: dict[str, Any]) -> dict[str, Any]:
        final: dict[str, Any] = {}
        for key, value in values.items():
            if isinstance(value, ImageValue):
                art = artifacts.store_image(
                    self.run.billed_to, value, run=self.run, node_id=node_id, output_key=key
                )
                final[key] = {
                    "type": "image",
                    "artifact_id": art.id,
                    "content_type": art.content_type,
                    "width": art.width,
                    "height": art.height,
                    "metadata": art.metadata,
                }
            else:
                kind = (
                    "text"
                    if isinstance(value, str)
                    else "number"
                    if isinstance(value, int | float) and not isinstance(value, bool)
                    else "json"
                )
                final[key] = {"type": kind, "value": value}
        self.run.outputs = final
        return final

    # -- endings ------------------------------------------------------------------------------------

    def _settle(self, used: int) -> None:
        if self.run.credits_reserved:
            credits.settle(self.run.billed_to, self.run.pk, used)

    def _complete(self) -> None:
        used = self._used_credits()
        self._settle(used)
        Run.objects.filter(pk=self.run.pk).update(
            status=RunStatus.COMPLETED,
            progress=100,
            current_node="",
            outputs=self.run.outputs,
            credits_used=used,
            finished_at=timezone.now(),
        )
        self._emit("run.completed", "", {"outputs": self.run.outputs, "credits_used": used})

    def _fail(self, node_id: str, code: str, message: str, status: int) -> None:
        self._settle(0)
        error = {"code": code, "message": message, "node": node_id, "status": status}
        Run.objects.filter(pk=self.run.pk).update(
            status=RunStatus.FAILED, error=error, credits_used=0, current_node="", finished_at=timezone.now()
        )
        self._emit("run.failed", node_id, error)

    def _end(self, status: str, event: str, data: dict[str, Any], error: dict | None = None) -> None:
        used = self._used_credits()
        self._settle(used)
        Run.objects.filter(pk=self.run.pk).update(
            status=status, error=error, credits_used=used, current_node="", finished_at=timezone.now()
        )
        self._emit(event, data.get("node", ""), {**data, "credits_used": used})


def execute_inline(run: Run) -> None:
    """Execute a just-created run of cheap local nodes inside the caller's transaction.

    Nothing is written until the end: node runs, events and the final state go in a few statements."""
    from runs.services import node_runs_for

    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, attempts=1
    )
    run.status, run.started_at, run.attempts = RunStatus.RUNNING, now, 1
    executor = RunExecutor(run, inline_node_runs=node_runs_for(run))
    executor._emit("run.queued", "", {"credits_reserved": run.credits_reserved})
    executor._emit("run.started", "", {"attempt": 1})
    executor.execute()
    executor._flush()


def execute_run(run_id: str) -> str | None:
    """Claim a queued run and execute it. Safe to call twice: only one caller claims it."""
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED, cancel_requested=False).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    run = Run.objects.select_related("billed_to", "pipeline").get(pk=run_id)
    from runs import webhooks

    try:
        emit(run_id, "run.started", "", {"attempt": run.attempts})
        with Heartbeat(run_id):
            RunExecutor(run).execute()
    except Exception:
        logger.exception("engine error in run %s", run_id)
        ex = RunExecutor.__new__(RunExecutor)
        ex.run, ex.inline, ex.events = run, False, None
        ex._fail("", "INTERNAL_ERROR", "The engine failed; the run was not charged", 500)
    run.refresh_from_db()
    webhooks.schedule_for(run)
    if run.job_id:
        from runs import jobs

        jobs.settle(run.job_id)
    return run.status
