"""Sartiq tasks as runs of our engine: create, read, change, cancel, clean up, delete.

A task is a run (surface ``sartiq``) of a small fixed graph made from its type and fields
(:mod:`runs.api.sartiq.graphs` says which types this server executes and how); the engine owns its status,
progress, timings, retries, events, outputs and credits. :class:`~runs.api.sartiq.models.SartiqTask` holds the
seed's fields around it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from config import media
from config.errors import CanvasflowError, Conflict, NotFound
from pipelines.graph import GraphInvalid, ensure_valid
from pipelines.models import Pipeline
from pipelines.nodes.base import NodeError
from pipelines.providers import fal
from runs import services, tasks
from runs.api.sartiq.enums import ErrorCategory, EventType, TaskStatus
from runs.api.sartiq.graphs import (
    PROVIDER_RESULT,
    TASK_NODE,
    RequestInvalid,
    image_input,
    invalid,
    plan_for,
    public_outputs,
)
from runs.api.sartiq.models import SartiqTask
from runs.api.sartiq.schema import ENGINE_FIELDS, TaskCreateBase
from runs.models import TERMINAL, Artifact, NodeOutput, NodeStatus, Run, RunStatus, Surface
from runs.webhooks import check_webhook_url

PIPELINE_SLUG = "sartiq-compute"
PIPELINE_NAME = "Sartiq Compute tasks"
__all__ = ["RequestInvalid", "invalid"]  # the views raise them too

STATUS = {
    RunStatus.QUEUED: TaskStatus.PENDING.value,
    RunStatus.RUNNING: TaskStatus.EXECUTING.value,
    RunStatus.COMPLETED: TaskStatus.COMPLETED.value,
    RunStatus.FAILED: TaskStatus.FAILED.value,
    RunStatus.BLOCKED: TaskStatus.FAILED.value,
    RunStatus.CANCELLED: TaskStatus.CANCELLED.value,
}
RUN_STATUSES = {
    TaskStatus.PENDING.value: [RunStatus.QUEUED],
    TaskStatus.EXECUTING.value: [RunStatus.RUNNING],
    TaskStatus.COMPLETED.value: [RunStatus.COMPLETED],
    TaskStatus.FAILED.value: [RunStatus.FAILED, RunStatus.BLOCKED],
    TaskStatus.CANCELLED.value: [RunStatus.CANCELLED],
}


# -- create ------------------------------------------------------------------------------------------


def sartiq_pipeline(user: Any) -> Pipeline:
    """The user's pipeline that Sartiq task runs belong to (each run carries its own graph)."""
    for _ in range(3):
        found = Pipeline.objects.filter(owner=user, slug=PIPELINE_SLUG).first()
        if found is not None:
            return found
        try:
            with transaction.atomic():
                return Pipeline.objects.create(
                    owner=user,
                    slug=PIPELINE_SLUG,
                    name=PIPELINE_NAME,
                    description="Runs of tasks created through the Sartiq Compute API (/api/v1/tasks/).",
                )
        except IntegrityError:
            continue
    raise CanvasflowError("Could not prepare the task pipeline", code="INTERNAL_ERROR", status=500)


COMMON_FIELDS = (
    "origin_instance",
    "origin_zone",
    "origin_tenant_id",
    "origin_reference",
    "priority",
    "config",
    "provider_type",
    "provider_config",
    "queue_name",
    "active_provider_capabilities",
    "fallback_provider_type",
    "fallback_provider_config",
    "fallback_provider_capabilities",
    "webhook_url",
)


def create_task(user: Any, data: TaskCreateBase, base_url: dict[str, str]) -> SartiqTask:
    task_type = data.task_type
    fields = data.model_dump()
    plan = plan_for(task_type, fields)
    if fields.get("webhook_url"):
        try:
            check_webhook_url(fields["webhook_url"])
        except NodeError as exc:
            raise invalid(["body", "webhook_url"], f"Value error, {exc.message}") from None
    given = {**fields, **plan.values}
    inputs = {name: image_input(name, given[name]) for name in plan.images if given.get(name) is not None}
    inputs.update({name: fields[name] for name in plan.texts})
    graph = plan.graph()
    try:
        ensure_valid(graph)
    except GraphInvalid as exc:  # a field out of what its node takes (the params are named as the fields)
        raise RequestInvalid(
            [
                {"loc": ["body", *([e.port] if e.port else [])], "msg": e.message, "type": "value_error"}
                for e in exc.errors
            ]
        ) from None
    own = {k: v for k, v in fields.items() if k not in COMMON_FIELDS and k != "task_type"}
    with transaction.atomic():
        submission = services.submit_run(
            pipeline=sartiq_pipeline(user),
            version=None,
            graph=graph,
            billed_to=user,
            requested_by=user,
            surface=Surface.SARTIQ,
            inputs=inputs,
            options=base_url,
            webhook_url=fields.get("webhook_url") or "",
            enqueue=False,
        )
        run = submission.run
        stored = stored_paths(run.inputs)
        for name in plan.values:  # items of a list field (EDITING's reference_images): where each is stored
            own[name.rsplit("_", 1)[0]] = []
        for name in plan.images:
            if name in plan.values:
                own[name.rsplit("_", 1)[0]].append(stored.get(run.inputs[name], run.inputs[name]))
                continue
            own[name] = None  # the image itself is not kept twice; its stored path is
            if name in run.inputs:
                own[path_field(name)] = stored.get(run.inputs[name], run.inputs[name])
        task = SartiqTask.objects.create(
            run=run,
            owner=user,
            task_type=task_type,
            params=own,
            workflow_id=fields.get("workflow_id"),
            **{k: fields[k] for k in COMMON_FIELDS},
        )
    tasks.enqueue_run(run)
    run.refresh_from_db()  # an eager run (tests) has already ended
    return task


def path_field(name: str) -> str:
    """The public field of where an image field's image is stored: ``input_image`` -> ``input_image_path``,
    ``reference_image_data`` and ``reference_image_url`` -> ``reference_image_path``."""
    for suffix in ("_data", "_url"):
        name = name.removesuffix(suffix)
    return f"{name}_path"


def stored_paths(values: dict[str, Any]) -> dict[str, str]:
    """``art_`` id -> the file's path in storage, for the ids among ``values``."""
    ids = [v for v in values.values() if isinstance(v, str) and v.startswith("art_")]
    return dict(Artifact.objects.filter(pk__in=ids).values_list("id", "file")) if ids else {}


# -- read --------------------------------------------------------------------------------------------


def visible_tasks(user: Any) -> Any:
    """The user's tasks (never another user's), not cleaned up, newest first, with what rendering needs."""
    return (
        SartiqTask.objects.filter(owner=user, is_deleted=False)
        .select_related("run")
        .prefetch_related("run__node_runs")
        .order_by("-created_at", "-pk")
    )


def filter_tasks(qs: Any, query: Any) -> Any:
    if query.status is not None:
        # a workflow step's status is its nodes' (state): read for the user's steps, which are few
        steps = [t.pk for t in qs.exclude(prefix="") if state(t).status == query.status]
        qs = qs.filter(Q(prefix="", run__status__in=RUN_STATUSES[query.status]) | Q(pk__in=steps))
    if getattr(query, "task_type", None) is not None:
        qs = qs.filter(task_type=query.task_type)
    for name in ("origin_instance", "origin_zone", "origin_tenant_id", "workflow_id"):
        value = getattr(query, name, None)
        if value is not None:
            qs = qs.filter(**{name: value})
    return qs


def get_task(user: Any, task_id: str, task_type: str | None = None) -> SartiqTask:
    """The user's task ``task_id``; 404 for a malformed id, another user's task or a cleaned-up one."""
    try:
        pk = uuid.UUID(str(task_id))
    except ValueError:
        raise NotFound("Task not found") from None
    qs = visible_tasks(user).filter(pk=pk)
    if task_type is not None:
        qs = qs.filter(task_type=task_type)
    task = qs.first()
    if task is None:
        raise NotFound("Task not found")
    return task


@dataclass
class TaskState:
    """Where a task stands, read from the engine: from its run for a task of its own, from its own nodes in
    the workflow's run for a workflow step. ``outputs`` are shaped as a run's (``result_image`` with its
    ``artifact_id``, ``result_text``/``provider_result`` with their ``value``), present once it completed."""

    status: str
    progress: float
    started_at: Any
    finished_at: Any
    node_run: Any  # the task node's run: its attempts, fallback and errors
    error: dict[str, Any] | None
    blocked: bool
    outputs: dict[str, Any]


FAILED_NODES = (NodeStatus.FAILED, NodeStatus.BLOCKED)


def state(task: SartiqTask) -> TaskState:
    run = task.run
    if not task.prefix:
        node_run = next((nr for nr in run.node_runs.all() if nr.node_id == TASK_NODE), None)
        failed = run.status in (RunStatus.FAILED, RunStatus.BLOCKED)
        return TaskState(
            STATUS[run.status],
            float(run.progress),
            run.started_at,
            run.finished_at,
            node_run,
            run.error if failed else None,
            run.status == RunStatus.BLOCKED,
            run.outputs if run.status == RunStatus.COMPLETED else {},
        )
    nodes = [nr for nr in run.node_runs.all() if nr.node_id.startswith(task.prefix)]
    node_run = next((nr for nr in nodes if nr.node_id == task.prefix + TASK_NODE), None)
    final = next((nr for nr in nodes if nr.node_id == task.final_node), None)
    failed = next((nr for nr in nodes if nr.status in FAILED_NODES), None)
    outputs: dict[str, Any] = {}
    if failed is not None:
        status = TaskStatus.FAILED.value
    elif final is not None and final.status == NodeStatus.COMPLETED:
        status = TaskStatus.COMPLETED.value
        outputs = step_outputs(final, node_run)
    elif run.status == RunStatus.RUNNING and any(
        nr.status in (NodeStatus.RUNNING, NodeStatus.COMPLETED) and not nr.node_type.startswith("INPUT__")
        for nr in nodes
    ):  # its inputs are read at once; it executes once one of its steps has started
        status = TaskStatus.EXECUTING.value
    elif run.status in TERMINAL:
        status = TaskStatus.CANCELLED.value  # the workflow stopped before this step could end
    else:
        status = TaskStatus.PENDING.value
    started = [nr.started_at for nr in nodes if nr.started_at]
    ended = [nr.finished_at for nr in nodes if nr.finished_at]
    terminal = status in (TaskStatus.COMPLETED.value, TaskStatus.FAILED.value, TaskStatus.CANCELLED.value)
    return TaskState(
        status,
        float(sum(nr.progress for nr in nodes) / len(nodes)) if nodes else 0.0,
        min(started) if started else None,
        max(ended) if ended and terminal else None,
        node_run,
        (failed.error or {"message": "The step failed", "status": 500}) if failed is not None else None,
        failed is not None and failed.status == NodeStatus.BLOCKED,
        outputs,
    )


def step_outputs(final: Any, node_run: Any) -> dict[str, Any]:
    """A completed step's results as its nodes recorded them (a workflow's run stores every node's images)."""
    outputs: dict[str, Any] = {}
    image = final.outputs.get("image")
    if isinstance(image, dict) and image.get("artifact_id"):
        outputs["result_image"] = image
    if isinstance(final.outputs.get("text"), str):
        outputs["result_text"] = {"type": "text", "value": final.outputs["text"]}
    answer = (node_run.outputs if node_run is not None else {}).get("result")
    if isinstance(answer, dict):
        outputs[PROVIDER_RESULT] = {"type": "json", "value": answer}
    return outputs


def engine_errors(run_error: dict[str, Any] | None, node_run: Any) -> list[str]:
    errors = [
        a["error"]["message"]
        for a in (node_run.attempt_log if node_run is not None else [])
        if a.get("error", {}).get("message")
    ]
    message = (run_error or {}).get("message")
    if message and message not in errors:
        errors.append(message)
    return errors


def error_category(st: TaskState) -> str | None:
    if not st.error or st.status != TaskStatus.FAILED.value:
        return None
    if st.blocked:
        return ErrorCategory.BLOCKED.value
    code = str(st.error.get("code", ""))
    if "TIME" in code:
        return ErrorCategory.TIMEOUT.value
    if code.startswith("PROVIDER"):
        return ErrorCategory.PROVIDER_ERROR.value
    return (
        ErrorCategory.VALIDATION_ERROR.value
        if int(st.error.get("status", 500)) < 500
        else ErrorCategory.PROCESSING_ERROR.value
    )


def result_paths(tasks_: list[SartiqTask]) -> dict[str, str]:
    """artifact id -> storage path of the tasks' result images (one query)."""
    ids = [
        value["artifact_id"]
        for task in tasks_
        for value in state(task).outputs.values()
        if isinstance(value, dict) and value.get("artifact_id")
    ]
    return dict(Artifact.objects.filter(pk__in=ids).values_list("id", "file")) if ids else {}

def public(task: SartiqTask, results: dict[str, str]) -> dict[str, Any]:
    """The task as its *TaskPublic shows it (the caller validates and completes it with the model)."""
    run = task.run
    st = state(task)
    node_run = st.node_run
    errors = engine_errors(st.error, node_run) + list(task.errors or [])
    result = st.outputs.get("result_image")
    data: dict[str, Any] = {
        **{k: v for k, v in task.params.items() if v is not None},
        "id": task.id,
        "task_type": task.task_type,
        "status": st.status,
        "progress": st.progress,
        "created_at": task.created_at,
        "updated_at": max(task.updated_at, run.updated_at),
        "started_at": st.started_at,
        "completed_at": st.finished_at,
        "retry_count": max(0, (node_run.attempts if node_run is not None else 0) - 1),
        "errors": errors or None,
        "error_category": error_category(st),
        # the django-q2 task that runs it is named after the run (runs.tasks.enqueue_run)
        "celery_task_id": run.pk,
        "executor_type": task.executor_type,
        "executor_instance": task.executor_instance,
        "workflow_id": task.workflow_id,
        "result_image_path": results.get(result["artifact_id"]) if result else None,
        "result_text": (st.outputs.get("result_text") or {}).get("value"),
        "fallback_used": bool(node_run.fallback_used) if node_run is not None else False,
        **provider_fields(task, st.outputs),
        **{k: getattr(task, k) for k in COMMON_FIELDS if k != "webhook_url"},
    }
    if task.task_type == "BACKGROUND_FIX" and data.get("strategy") is None:
        data["strategy"] = "color_shift"
    if task.task_type == "REFINE":
        # Real-ESRGAN is deterministic: a seed that was not given is reported as 0 (the schema wants one).
        for name in ("upscale_seed", "face_detail_seed"):
            data.setdefault(name, 0)
    if st.status == TaskStatus.COMPLETED.value:  # what the task's own outputs say (batch results, face fields)
        own = public_outputs(task.task_type, st.outputs, results)
        data["fallback_used"] = data["fallback_used"] or bool(own.pop("fallback_used", False))
        data.update(own)
    for name, source in (task.params.get("_mapped") or {}).items():
        # a workflow step's image that another step made: where that step's result is stored
        data[path_field(name)] = mapped_path(task, source) or ""
    return data


def mapped_path(task: SartiqTask, source_node: str) -> str | None:
    node = next((nr for nr in task.run.node_runs.all() if nr.node_id == source_node), None)
    image = (node.outputs or {}).get("image") if node is not None else None
    if not isinstance(image, dict) or not image.get("artifact_id"):
        return None
    return Artifact.objects.filter(pk=image["artifact_id"]).values_list("file", flat=True).first()


def webhook_payload(run: Run) -> dict[str, Any]:
    """The seed's ``TaskStatusEvent`` for a task whose run has ended: what the task's ``webhook_url`` gets
    (``runs.webhooks``: ``User-Agent: Sartiq-Webhook/1.0``, ``X-Sartiq-Task-ID``, the Fizzly retry policy)."""
    return status_event(SartiqTask.objects.select_related("run").get(run=run, prefix=""))


def status_event(task: SartiqTask) -> dict[str, Any]:
    """The task's ``TaskStatusEvent`` as it stands (a task of its own, or a workflow step that has ended).
    ``metadata`` carries the rest of the task a receiver acts on: its tenant, reference and results."""
    body = public(task, result_paths([task]))
    st = state(task)
    message = (body["errors"] or [None])[-1] if body["status"] == TaskStatus.FAILED.value else (
        (task.run.error or {}).get("message") if body["status"] == TaskStatus.CANCELLED.value else None
    )
    return {
        "event_type": EventType.TASK_STATUS.value,
        "task_id": str(task.id),
        "status": body["status"],
        "timestamp": (st.finished_at or timezone.now()).isoformat(),
        "entity_id": None,
        "origin_instance": task.origin_instance,
        "origin_zone": task.origin_zone,
        "origin_version": None,
        "metadata": {
            "origin_tenant_id": task.origin_tenant_id,
            "origin_reference": task.origin_reference,
            "workflow_id": task.workflow_id,
            "step_id": task.step.step_id if task.prefix and task.step_id else None,
            "retry_count": body["retry_count"],
            "fallback_used": body["fallback_used"],
            **{
                name: body[name]
                for name in ("result_image_path", "result_text", "result_url", "result_video_path")
                if body.get(name) is not None
            },
        },
        "task_type": task.task_type,
        "progress": body["progress"],
        "started_at": st.started_at.isoformat() if st.started_at else None,
        "completed_at": st.finished_at.isoformat() if st.finished_at else None,
        "error_message": message,
        "error_category": body["error_category"],
    }


def provider_fields(task: SartiqTask, outputs: dict[str, Any]) -> dict[str, Any]:
    """What a task that ran on fal shows of it: the app and request that made the result (the fallback's
    when the fallback made it), the result's file URLs (``result_url``: the first; ``result_video_path``: the
    first video, on fal's CDN), and the app asked for while nothing has answered yet."""
    answer = (outputs.get(PROVIDER_RESULT) or {}).get("value")
    answer = answer if isinstance(answer, dict) else {}
    media = fal.media_urls({k: v for k, v in answer.items() if not k.startswith("_")})
    asked = (task.provider_config or {}).get("fal_app_id") or task.params.get("fal_app_id")
    return {
        "fal_app_id": answer.get("_fal_app_id") or asked,
        "fal_request_id": answer.get("_fal_request_id") or (task.provider_config or {}).get("fal_request_id"),
        "fal_parameters": task.params.get("fal_parameters"),
        "result_url": media[0][1] if media else None,
        "result_video_path": next((url for kind, url in media if kind == "video"), None),
    }


# -- change ------------------------------------------------------------------------------------------


def own_run(task: SartiqTask, doing: str) -> None:
    """409 for a workflow step: its run is the workflow's, which the workflow routes control."""
    if task.prefix:
        raise Conflict(
            f"This task is a step of workflow {task.workflow_id}: {doing} the workflow "
            f"(/api/v1/workflows/{task.workflow_id})",
            code="WORKFLOW_STEP",
        )


def change_status(task: SartiqTask, wanted: str) -> None:
    """The status transitions a client may ask for; the engine makes them."""
    if wanted != state(task).status:
        own_run(task, "cancel or resume")
    current = STATUS[task.run.status]
    if wanted == current:
        return
    if wanted == TaskStatus.CANCELLED.value and task.run.status not in TERMINAL:
        services.cancel_run(task.run)
        return
    if wanted == TaskStatus.PENDING.value and task.run.status in services.RESUMABLE:
        services.resume_run(task.run)
        return
    raise Conflict(
        f"Cannot change the status of a {current} task to {wanted}: a task may be set to CANCELLED while "
        "PENDING or EXECUTING, or back to PENDING (run again) when FAILED or CANCELLED",
        code="INVALID_TRANSITION",
    )


# Task fields kept in columns of their own; the other changeable ones live in ``params``.
COLUMNS = frozenset({*COMMON_FIELDS, "errors", "executor_type", "executor_instance"})


def update_task(task: SartiqTask, changes: dict[str, Any]) -> SartiqTask:
    engine_owned = sorted(name for name in changes if name in ENGINE_FIELDS and changes[name] is not None)
    changes = {k: v for k, v in changes.items() if k not in ENGINE_FIELDS}
    if engine_owned:
        raise Conflict(
            f"{', '.join(engine_owned)}: set by the engine as the task runs, not by a client",
            code="ENGINE_FIELD",
        )
    status = changes.pop("status", None)
    if status is not None:
        change_status(task, status)
    fields = []
    for name, value in changes.items():
        if name not in COLUMNS:
            task.params = {**task.params, name: value}
            name = "params"
        elif name in ("origin_instance", "priority") and value is None:
            continue  # every task has one: null leaves it as it is
        else:
            setattr(task, name, value)
        fields.append(name)
    task.save(update_fields=[*set(fields), "updated_at"])
    task.run.refresh_from_db()
    return task


def cancel_task(task: SartiqTask) -> SartiqTask:
    own_run(task, "cancel")
    if task.run.status in TERMINAL:
        raise Conflict(f"Cannot cancel a {STATUS[task.run.status]} task", code="ALREADY_FINISHED")
    services.cancel_run(task.run)
    task.run.refresh_from_db()
    return task


# -- files, cleanup, delete ------------------------------------------------------------------------------


def task_files(task: SartiqTask) -> tuple[list[Artifact], list[NodeOutput]]:
    """The files of a task: its run's artifacts (results), the input images stored for it that no other run
    of the user refers to, and the node outputs its run stored."""
    run = task.run
    artifacts = list(Artifact.objects.filter(run=run, node_id__startswith=task.prefix))
    input_ids = [
        v
        for k, v in run.inputs.items()
        if k.startswith(task.prefix) and isinstance(v, str) and v.startswith("art_")
    ]
    for artifact in Artifact.objects.filter(pk__in=input_ids, owner=task.owner, run=None):
        others = (
            Run.objects.filter(Q(billed_to=task.owner) | Q(requested_by=task.owner))
            .exclude(pk=run.pk)
            .annotate(text=Cast("inputs", TextField()))
            .filter(text__contains=artifact.pk)
        )
        if not others.exists():
            artifacts.append(artifact)
    refs = [nr.output_ref for nr in run.node_runs.all() if nr.output_ref and nr.node_id.startswith(task.prefix)]
    outputs = list(NodeOutput.objects.filter(key__in=refs, owner=task.owner)) if refs else []
    return artifacts, outputs


def remove_files(task: SartiqTask) -> list[str]:
    artifacts, outputs = task_files(task)
    names = [a.file.name for a in artifacts if a.file] + [o.file.name for o in outputs if o.file]
    Artifact.objects.filter(pk__in=[a.pk for a in artifacts]).delete()
    NodeOutput.objects.filter(pk__in=[o.pk for o in outputs]).delete()
    media.delete_on_commit(names)
    return names


def stop_if_running(task: SartiqTask, doing: str) -> None:
    """A queued task is cancelled at once; an executing one is refused (its worker would still write)."""
    if task.run.status == RunStatus.RUNNING:
        raise Conflict(
            f"The task is executing: cancel it (POST /api/v1/tasks/{task.id}/cancel) and {doing} it once it "
            "has stopped",
            code="TASK_EXECUTING",
        )
    if task.run.status not in TERMINAL:
        services.cancel_run(task.run)


def cleanup_task(task: SartiqTask) -> SartiqTask:
    """Soft delete: the task is cancelled if it is still going, its files are removed, the record stays."""
    own_run(task, "clean up")
    with transaction.atomic():
        stop_if_running(task, "clean up")
        remove_files(task)
        task.is_deleted, task.deleted_at = True, timezone.now()
        task.save(update_fields=["is_deleted", "deleted_at", "updated_at"])
    task.run.refresh_from_db()
    return task


def delete_task(task: SartiqTask, render: Callable[[SartiqTask], dict[str, Any]]) -> dict[str, Any]:
    """Hard delete: files, task and run go; answers the task as it was just before."""
    own_run(task, "delete")
    with transaction.atomic():
        stop_if_running(task, "delete")
        task.run.refresh_from_db()
        body = render(task)
        remove_files(task)
        run = task.run
        task.delete()
        run.delete()
    return body
