"""Executing one node: its attempts, retries with backoff, and the fallback once the primary has given up.

This runs in the node's own thread and touches no database: what it needs from the run (an uploaded image,
the account's provider key) comes through the :class:`~pipelines.nodes.base.NodeContext` the engine built,
and what it produced goes back as a :class:`NodeOutcome` the engine records.

* A retryable :class:`NodeError` (or an unexpected exception: a node bug, a crashed library) is retried up
  to the node's ``max_retries`` (its ``retry`` object in the graph, else its type's), after a backoff that
  doubles from ``backoff_seconds``. An input error is final at once.
* Once the primary has exhausted its retries on a server-side failure (not an input error), the node's
  ``fallback`` (another node type, or the same type with other params: another provider or model) runs with
  its own retries.
* A gate's :class:`PipelineBlocked` and a cancellation end the node at once.
Every attempt is recorded: number, node type, provider, outcome, error, start and duration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from config.timefmt import iso_z
from pipelines.graph import fallback_of, retry_policy
from pipelines.nodes.base import NodeCancelled, NodeContext, NodeError, NodeType, PipelineBlocked

logger = logging.getLogger(__name__)

COMPLETED, FAILED, BLOCKED, CANCELLED = "completed", "failed", "blocked", "cancelled"


@dataclass
class NodeOutcome:
    status: str
    outputs: dict[str, Any] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    fallback_used: bool = False
    error: dict[str, Any] | None = None  # code, message, status (the HTTP status the run fails with)
    blocked: PipelineBlocked | None = None
    blob: bytes | None = None  # the outputs serialized for the node-output store


@dataclass
class Step:
    """One way of running the node: the primary, or its fallback."""

    node_type: type[NodeType]
    params: dict[str, Any]
    max_retries: int
    backoff: float


def steps_of(node: dict, node_type: type[NodeType]) -> list[Step]:
    retries, backoff = retry_policy(node, node_type)
    steps = [Step(node_type, node_type.resolved_params(node.get("params")), retries, backoff)]
    fallback = fallback_of(node, node_type)
    if fallback is not None:
        fb_type, fb_params = fallback
        steps.append(
            Step(
                fb_type,
                fb_type.resolved_params(fb_params),
                fb_type.max_retries,
                fb_type.retry_backoff_seconds,
            )
        )
    return steps


def run_node(
    node: dict,
    node_type: type[NodeType],
    ctx: NodeContext,
    inputs: dict[str, Any],
    *,
    wait: Callable[[float], bool],
    notify: Callable[[str, dict[str, Any]], None] = lambda type_, data: None,
    serialize: Callable[[dict[str, Any]], bytes | None] | None = None,
) -> NodeOutcome:
    """Run the node to an outcome. ``wait(seconds)`` sleeps a backoff and says whether the run was cancelled
    meanwhile; ``notify(event type, data)`` tells the run of a retry (``node.retrying``) or a fallback
    (``node.fallback``); ``serialize`` (when the outputs are to be stored) turns them into the stored blob."""
    attempts: list[dict[str, Any]] = []
    error: dict[str, Any] = {}
    fell_back = False
    for index, step in enumerate(steps_of(node, node_type)):
        if index:
            if not _falls_back(error):
                break
            fell_back = True
            logger.info("run %s node %s: falling back to %s", ctx.run_id, ctx.node_id, step.node_type.type)
            notify("node.fallback", {"type": step.node_type.type, "attempt": len(attempts) + 1,
                                     "error": error.get("message", "")})
        for retry in range(step.max_retries + 1):
            if retry:
                delay = step.backoff * 2 ** (retry - 1)
                notify("node.retrying", {"attempt": len(attempts), "error": error.get("message", ""),
                                         "code": error.get("code"), "retry_in_seconds": delay})
                if wait(delay):
                    return NodeOutcome(CANCELLED, attempts=attempts, fallback_used=fell_back)
            record = _attempt_record(len(attempts) + 1, step, fell_back)
            attempts.append(record)
            started = time.monotonic()
            try:
                outputs = step.node_type().run(ctx, inputs, step.params) or {}
            except NodeCancelled:
                _close(record, started, CANCELLED)
                return NodeOutcome(CANCELLED, attempts=attempts, fallback_used=fell_back)
            except PipelineBlocked as exc:
                _close(record, started, BLOCKED, {"code": exc.code, "message": exc.message})
                return NodeOutcome(BLOCKED, attempts=attempts, fallback_used=fell_back, blocked=exc)
            except NodeError as exc:
                error = {
                    "code": exc.code,
                    "message": exc.message,
                    "status": exc.http_status,
                    "retryable": exc.retryable,
                }
                _close(record, started, FAILED, error)
                if not exc.retryable:
                    break
                continue
            except Exception as exc:  # noqa: BLE001 - a node bug fails the node, never the worker
                logger.exception("node %s of run %s crashed", ctx.node_id, ctx.run_id)
                error = {
                    "code": "PROCESSING_FAILED",
                    "status": 500,
                    "retryable": True,
                    "message": f"{step.node_type.type} failed: {exc.__class__.__name__}: {exc}"[:1000],
                }
                _close(record, started, FAILED, error)
                continue
            _close(record, started, COMPLETED)
            blob = serialize(outputs) if serialize is not None else None
            return NodeOutcome(COMPLETED, outputs, attempts, fallback_used=fell_back, blob=blob)
    error = {k: v for k, v in error.items() if k != "retryable"}
    return NodeOutcome(FAILED, attempts=attempts, fallback_used=fell_back, error=error)


def _falls_back(error: dict[str, Any]) -> bool:
    """A fallback is for the primary's server-side failures; an input it refused, the fallback would too."""
    return int(error.get("status", 500)) >= 500


def _attempt_record(number: int, step: Step, fallback: bool) -> dict[str, Any]:
    provider = step.params.get(step.node_type.provider_param) if step.node_type.provider_param else None
    return {
        "attempt": number,
        "node_type": step.node_type.type,
        "provider": provider,
        "fallback": fallback,
        "started_at": iso_z(timezone.now()),
    }


def _close(record: dict[str, Any], started: float, outcome: str, error: dict | None = None) -> None:
    record["outcome"] = outcome
    record["duration_ms"] = int((time.monotonic() - started) * 1000)
    if error:
        record["error"] = {"code": error.get("code"), "message": error.get("message")}
