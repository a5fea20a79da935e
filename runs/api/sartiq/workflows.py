"""Sartiq workflows: a DAG of tasks run by our engine as one run.

A workflow's steps are Sartiq tasks. Each step's task plan (:mod:`runs.api.sartiq.graphs`) becomes part of one
graph: its nodes are named with the step's prefix (``s0__task``…), an ``input_mappings`` entry wires the source
step's result port straight into the target step's first node (the target's own input node for that field goes),
and a ``depends_on`` without a mapping is an ordering (``after``) on the target's first node. The engine runs
that graph like any other: steps that do not depend on each other run at the same time, each step's
``max_retries`` and fallback provider are its task node's, cancelling is the run's, and resuming is the engine's
resume (finished steps keep their outputs; failed, cancelled and unrun ones run again). The workflow's run stores
every node's images (``store_intermediates``), so a step's result is there as soon as the step ends.

Status: PENDING until started (``?start=false``), then the run's (RUNNING while queued or running). PAUSED is
in the seed's set but nothing here pauses a workflow.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.errors import Conflict, NotFound
from config.timefmt import iso_z
from pipelines.graph import GraphInvalid, ensure_valid
from pipelines.nodes.base import NodeError
from runs import services
from runs import tasks as queue
from runs.api.sartiq import schema as S
from runs.api.sartiq import tasks as T
from runs.api.sartiq.enums import EventType, ProviderType, TaskStatus, TaskType
from runs.api.sartiq.graphs import KEPT, TASK_NODE, RequestInvalid, image_input, plan_for
from runs.api.sartiq.models import SartiqTask, SartiqWorkflow, SartiqWorkflowStep
from runs.api.sartiq.tasks import COMMON_FIELDS, path_field, public, result_paths, sartiq_pipeline
from runs.models import TERMINAL, Run, RunStatus, Surface
from runs.outputs import STORE_INTERMEDIATES
from runs.webhooks import check_webhook_url

MAX_STEPS = 20
# What a step gives another (FieldMapping.from_field) -> the port of its result.
RESULT_FIELDS = {"result_image_path": ("result_image", "image"), "result_text": ("result_text", "text")}
# Placeholders a mapped field carries while the step's body is validated (its value comes from the source).
PLACEHOLDER = {"image": "data:image/png;base64,AA==", "text": "(from another step)"}


class WorkflowStatus:
    PENDING, RUNNING, PAUSED = "PENDING", "RUNNING", "PAUSED"
    COMPLETED, FAILED, CANCELLED = "COMPLETED", "FAILED", "CANCELLED"


RUN_TO_WORKFLOW = {
    RunStatus.QUEUED: WorkflowStatus.RUNNING,
    RunStatus.RUNNING: WorkflowStatus.RUNNING,
    RunStatus.COMPLETED: WorkflowStatus.COMPLETED,
    RunStatus.FAILED: WorkflowStatus.FAILED,
    RunStatus.BLOCKED: WorkflowStatus.FAILED,
    RunStatus.CANCELLED: WorkflowStatus.CANCELLED,
}


# -- request and response bodies -----------------------------------------------------------------------------


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", use_enum_values=True)


class FieldMapping(Model):
    from_step: str = Field(min_length=1, max_length=100, description="Source step ID")
    from_field: str = Field(min_length=1, max_length=100, description="Field from source step output")
    to_field: str = Field(min_length=1, max_length=100, description="Target field in this step's input")
    transform: str | None = Field(default=None, description="Optional transformation (none is supported)")


class WorkflowStepDefinition(Model):
    id: str = Field(min_length=1, max_length=100, description="Unique step identifier within the workflow")
    task_type: TaskType = Field(description="Type of task to execute")
    config: dict[str, Any] | None = Field(default=None, description="Static task configuration")
    depends_on: list[str] = Field(default_factory=list, description="Step IDs this step depends on")
    input_mappings: list[FieldMapping] = Field(default_factory=list, description="Mappings from earlier steps")
    max_retries: int = Field(default=0, ge=0, le=5, description="Retries of the step's task after a failure")
    provider_config: dict[str, Any] | None = Field(
        default=None, description="Provider configuration (provider_type, fal_app_id, etc.)"
    )
    active_provider_capabilities: list[str] | None = None
    fallback_provider_type: ProviderType | None = None
    fallback_provider_config: dict[str, Any] | None = None
    fallback_provider_capabilities: list[str] | None = None


class CreateWorkflow(Model):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=1000)
    steps: list[WorkflowStepDefinition] = Field(min_length=1, max_length=MAX_STEPS)
    config: dict[str, Any] = Field(default_factory=dict)
    origin_instance: str = Field(min_length=1, max_length=100)
    origin_zone: str | None = Field(default=None, max_length=50)
    origin_tenant_id: str | None = Field(default=None, max_length=100)
    origin_reference: str | None = Field(default=None, max_length=512)
    webhook_url: str | None = Field(default=None, max_length=512)
    suppress_subtask_events: bool = True


class WorkflowUpdate(Model):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=1000)
    webhook_url: str | None = Field(default=None, max_length=512)


class CreateQuery(Model):
    start: bool = True


class ListQuery(Model):
    include_deleted: bool = False
    limit: int = Field(default=50, ge=1, le=1000)
    skip: int = Field(default=0, ge=0)
    status: str | None = None
    origin_instance: str | None = None
    origin_tenant_id: str | None = None


class CleanupQuery(Model):
    cleanup_tasks: bool = True


class WorkflowStepPublic(Model):
    id: uuid.UUID
    step_id: str
    task_type: str
    config: dict[str, Any] | None = None
    provider_config: dict[str, Any] | None = None
    active_provider_capabilities: list[str] | None = None
    fallback_provider_type: str | None = None
    fallback_provider_config: dict[str, Any] | None = None
    fallback_provider_capabilities: list[str] | None = None
    dependencies: list[str]
    input_mappings: list[dict[str, Any]]
    status: str
    task_id: uuid.UUID | None = None
    result: dict[str, Any] | None = None
    error_message: str | None = None
    started_at: Any = None
    completed_at: Any = None
    retry_count: int
    max_retries: int
    created_at: Any
    updated_at: Any


class WorkflowPublic(Model):
    id: uuid.UUID
    name: str
    description: str | None = None
    status: str
    total_steps: int
    completed_steps: int
    progress: float
    current_step: str | None = None
    final_step_id: str | None = None
    final_step_result: dict[str, Any] | None = None
    canvas_task_id: str | None = None
    config: dict[str, Any]
    suppress_subtask_events: bool
    origin_instance: str
    origin_zone: str | None = None
    origin_tenant_id: str | None = None
    origin_reference: str | None = None
    webhook_url: str | None = None
    error_message: str | None = None
    errors: list[str]
    started_at: Any = None
    completed_at: Any = None
    created_at: Any
    updated_at: Any
    is_deleted: bool = False
    deleted_at: Any = None
    steps: list[WorkflowStepPublic] = Field(default_factory=list)


class WorkflowListResponse(Model):
    workflows: list[WorkflowPublic]
    total: int
    skip: int
    limit: int


class WorkflowCleanupError(Model):
    task_id: uuid.UUID
    step_id: str
    task_type: str
    error: str


class WorkflowCleanupDetail(Model):
    tasks_processed: int
    tasks_cleaned: int
    deleted_paths: list[str]
    errors: list[WorkflowCleanupError]


class WorkflowCleanupResponse(Model):
    workflow: WorkflowPublic
    cleanup: WorkflowCleanupDetail


def invalid(loc: list[Any], msg: str, kind: str = "value_error") -> RequestInvalid:
    return RequestInvalid([{"loc": loc, "msg": msg, "type": kind}])


# -- validation and the graph ----------------------------------------------------------------------------


def ordered(steps: list[WorkflowStepDefinition]) -> list[WorkflowStepDefinition]:
    """The steps in a topological order of their dependencies (and mappings); 422 naming the step for a
    duplicate id, an unknown dependency, a mapping from a step it does not depend on, or a cycle."""
    by_id: dict[str, WorkflowStepDefinition] = {}
    for i, step in enumerate(steps):
        if step.id in by_id:
            raise invalid(["body", "steps", i, "id"], f"Step id '{step.id}' is used twice")
        by_id[step.id] = step
    needs: dict[str, set[str]] = {}
    for i, step in enumerate(steps):
        deps = set(step.depends_on)
        for dep in deps:
            if dep not in by_id:
                raise invalid(["body", "steps", i, "depends_on"], f"Step '{step.id}' depends on unknown step '{dep}'")
            if dep == step.id:
                raise invalid(["body", "steps", i, "depends_on"], f"Step '{step.id}' depends on itself")
        for j, mapping in enumerate(step.input_mappings):
            loc = ["body", "steps", i, "input_mappings", j]
            if mapping.from_step not in by_id:
                raise invalid([*loc, "from_step"], f"Step '{step.id}' maps from unknown step '{mapping.from_step}'")
            if mapping.from_step == step.id:
                raise invalid([*loc, "from_step"], f"Step '{step.id}' maps from itself")
            if mapping.transform is not None:
                raise invalid([*loc, "transform"], "No transform is supported: leave it null")
            deps.add(mapping.from_step)  # a mapping is a dependency too
        needs[step.id] = deps
    order: list[WorkflowStepDefinition] = []
    done: set[str] = set()
    pending = [s.id for s in steps]
    while pending:
        ready = [sid for sid in pending if needs[sid] <= done]
        if not ready:
            cycle = ", ".join(sorted(pending))
            index = next(i for i, s in enumerate(steps) if s.id in pending)
            raise invalid(["body", "steps", index, "depends_on"], f"The steps {cycle} depend on each other (a cycle)")
        for sid in ready:
            order.append(by_id[sid])
            done.add(sid)
        pending = [sid for sid in pending if sid not in done]
    return order


def step_fields(workflow: CreateWorkflow | SartiqWorkflow, step: WorkflowStepDefinition, index: int,
                mapped: dict[str, str]) -> dict[str, Any]:
    """The step's task body (validated as its Create*Task) with placeholders in its mapped fields."""
    body: dict[str, Any] = {
        **(step.config or {}),
        "task_type": step.task_type,
        "origin_instance": workflow.origin_instance,
        "origin_zone": workflow.origin_zone,
        "origin_tenant_id": workflow.origin_tenant_id,
        "provider_config": step.provider_config,
        "active_provider_capabilities": step.active_provider_capabilities,
        "fallback_provider_type": step.fallback_provider_type,
        "fallback_provider_config": step.fallback_provider_config,
        "fallback_provider_capabilities": step.fallback_provider_capabilities,
    }
    if isinstance(step.provider_config, dict) and step.provider_config.get("provider_type"):
        body.setdefault("provider_type", step.provider_config["provider_type"])
    body.pop("webhook_url", None)  # the workflow's webhook speaks for its steps
    for name, kind in mapped.items():
        body[name] = PLACEHOLDER[kind]
    try:
        return S.CREATE_MODELS[step.task_type].model_validate(body).model_dump()
    except ValidationError as exc:
        raise RequestInvalid(
            [
                {"loc": ["body", "steps", index, "config", *err["loc"]], "msg": err["msg"], "type": err["type"]}
                for err in exc.errors(include_url=False, include_input=False)
            ]
        ) from None


def compile_workflow(workflow: CreateWorkflow | SartiqWorkflow,
                     steps: list[WorkflowStepDefinition]) -> tuple[dict, dict[str, Any], list[dict[str, Any]]]:
    """(the run's graph, its inputs, one record per step in topological order) for ``steps``; 422 for a
    mapping the target or source type cannot take, 501 for a step this server cannot execute."""
    order = ordered(steps)
    index_of = {s.id: i for i, s in enumerate(steps)}
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    inputs: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    compiled: dict[str, dict[str, Any]] = {}  # step id -> prefix, final node, result port, plan
    for position, step in enumerate(order):
        i = index_of[step.id]
        prefix = f"s{position}__"
        source_of: dict[str, tuple[str, str]] = {}  # mapped field -> (source node, source port)
        mapped_kind: dict[str, str] = {}
        for j, mapping in enumerate(step.input_mappings):
            loc = ["body", "steps", i, "input_mappings", j]
            source = compiled[mapping.from_step]
            if mapping.from_field not in RESULT_FIELDS or RESULT_FIELDS[mapping.from_field][0] != source["result"]:
                gives = next((f for f, (r, _) in RESULT_FIELDS.items() if r == source["result"]), None)
                raise invalid([*loc, "from_field"], f"Step '{mapping.from_step}' gives "
                              f"{gives or 'no field another step can take'}, not {mapping.from_field}")
            kind = RESULT_FIELDS[mapping.from_field][1]
            if mapping.to_field not in S.CREATE_MODELS[step.task_type].model_fields:
                raise invalid([*loc, "to_field"], f"A {step.task_type} step takes no field '{mapping.to_field}'")
            source_of[mapping.to_field] = (source["final"], source["port"])
            mapped_kind[mapping.to_field] = kind
        fields = step_fields(workflow, step, i, mapped_kind)
        plan = plan_for(step.task_type, fields)
        for j, mapping in enumerate(step.input_mappings):
            takes = plan.images if mapped_kind[mapping.to_field] == "image" else plan.texts
            if mapping.to_field not in takes or takes[mapping.to_field].startswith(KEPT):
                raise invalid(["body", "steps", i, "input_mappings", j, "to_field"],
                              f"A {step.task_type} step takes no {mapped_kind[mapping.to_field]} field "
                              f"'{mapping.to_field}'")
        graph = plan.graph()
        removed = {f"in_{name}" for name in source_of}
        first = None
        for node in graph["nodes"]:
            if node["id"] in removed or node["id"] == "out":
                continue
            node = {**node, "id": prefix + node["id"], "position": {
                "x": node["position"]["x"], "y": node["position"]["y"] + position * 600}}
            if node["type"].startswith("INPUT__"):
                node["params"] = {**node["params"], "name": prefix + node["params"]["name"]}
            if node["id"] == prefix + TASK_NODE:
                first = node
                if step.max_retries:
                    node["retry"] = {"max_retries": step.max_retries}
            nodes.append(node)
        final = None
        for edge in graph["edges"]:
            src, dst = edge["from"]["node"], edge["to"]["node"]
            new_src = source_of.get(src[3:]) if src in removed else (prefix + src, edge["from"]["port"])
            if dst == "out":
                target = ("out", prefix + edge["to"]["port"])
                if edge["to"]["port"] == plan.result:
                    final = new_src[0]
            else:
                target = (prefix + dst, edge["to"]["port"])
            edges.append({
                "id": f"{new_src[0]}:{new_src[1]}-{target[0]}:{target[1]}",
                "from": {"node": new_src[0], "port": new_src[1]},
                "to": {"node": target[0], "port": target[1]},
            })
        order_only = [compiled[d]["final"] for d in step.depends_on
                      if d not in {m.from_step for m in step.input_mappings}]
        if order_only and first is not None:
            first["after"] = order_only
        given = {**fields, **plan.values}
        for name in plan.images:
            if name not in source_of and given.get(name) is not None:
                inputs[prefix + name] = image_input(name, given[name])
        for name in plan.texts:
            if name not in source_of:
                inputs[prefix + name] = fields[name]
        link = plan.link
        compiled[step.id] = {"prefix": prefix, "final": final, "port": link, "result": plan.result}
        own = {k: v for k, v in fields.items() if k not in COMMON_FIELDS and k != "task_type"}
        for name in plan.images:
            own[name] = None
        if source_of:
            own["_mapped"] = {name: node for name, (node, _port) in source_of.items()}
        records.append({"definition": step, "position": position, "prefix": prefix, "final": final or "",
                        "fields": fields, "params": own, "images": list(plan.images), "values": plan.values,
                        "mapped": source_of})
    nodes.append({"id": "out", "type": "OUTPUT__", "params": {}, "position": {"x": 1500, "y": 0}})
    graph = {"nodes": nodes, "edges": edges}
    try:
        ensure_valid(graph)
    except GraphInvalid as exc:
        raise RequestInvalid(
            [{"loc": ["body", "steps"], "msg": e.message, "type": "value_error"} for e in exc.errors]
        ) from None
    return graph, inputs, records


# -- create, start ------------------------------------------------------------------------------------------


def definitions(workflow: SartiqWorkflow) -> list[WorkflowStepDefinition]:
    return [
        WorkflowStepDefinition(
            id=s.step_id, task_type=s.task_type, config=s.config, depends_on=s.dependencies,
            input_mappings=[FieldMapping(**m) for m in s.input_mappings], max_retries=s.max_retries,
            provider_config=s.provider_config, active_provider_capabilities=s.active_provider_capabilities,
            fallback_provider_type=s.fallback_provider_type, fallback_provider_config=s.fallback_provider_config,
            fallback_provider_capabilities=s.fallback_provider_capabilities,
        )
        for s in workflow.steps.order_by("position")
    ]


def create_workflow(user: Any, data: CreateWorkflow, start: bool, base_url: dict[str, str]) -> SartiqWorkflow:
    if data.webhook_url:
        try:
            check_webhook_url(data.webhook_url)
        except NodeError as exc:
            raise invalid(["body", "webhook_url"], f"Value error, {exc.message}") from None
    _graph, _inputs, records = compile_workflow(data, data.steps)  # everything is checked before anything is kept
    with transaction.atomic():
        workflow = SartiqWorkflow.objects.create(
            owner=user, **data.model_dump(exclude={"steps"}),
        )
        for record in records:
            d = record["definition"]
            SartiqWorkflowStep.objects.create(
                workflow=workflow, position=record["position"], step_id=d.id, task_type=d.task_type,
                config=d.config, provider_config=d.provider_config,
                active_provider_capabilities=d.active_provider_capabilities,
                fallback_provider_type=d.fallback_provider_type, fallback_provider_config=d.fallback_provider_config,
                fallback_provider_capabilities=d.fallback_provider_capabilities, dependencies=d.depends_on,
                input_mappings=[m.model_dump() for m in d.input_mappings], max_retries=d.max_retries,
            )
    if start:
        workflow = start_workflow(workflow, base_url)
    return workflow


def start_workflow(workflow: SartiqWorkflow, base_url: dict[str, str]) -> SartiqWorkflow:
    """Compile the workflow's DAG into one run and queue it; 409 unless it is PENDING."""
    with transaction.atomic():
        workflow = SartiqWorkflow.objects.select_for_update().get(pk=workflow.pk)
        if status_of(workflow) != WorkflowStatus.PENDING:
            raise Conflict(f"Only a PENDING workflow can be started; this one is {status_of(workflow)}",
                           code="INVALID_STATE")
        graph, inputs, records = compile_workflow(workflow, definitions(workflow))
        submission = services.submit_run(
            pipeline=sartiq_pipeline(workflow.owner), version=None, graph=graph, billed_to=workflow.owner,
            requested_by=workflow.owner, surface=Surface.SARTIQ, inputs=inputs,
            options={**base_url, STORE_INTERMEDIATES: True}, webhook_url=workflow.webhook_url or "",
            enqueue=False,
        )
        run = submission.run
        stored = T.stored_paths(run.inputs)
        steps = {s.step_id: s for s in workflow.steps.all()}
        for record in records:
            d, prefix, own = record["definition"], record["prefix"], dict(record["params"])
            for name in record["values"]:
                own[name.rsplit("_", 1)[0]] = []
            for name in record["images"]:
                key = prefix + name
                if key not in run.inputs:
                    continue
                path = stored.get(run.inputs[key], run.inputs[key])
                if name in record["values"]:
                    own[name.rsplit("_", 1)[0]].append(path)
                else:
                    own[path_field(name)] = path
            fields = record["fields"]
            SartiqTask.objects.create(
                run=run, owner=workflow.owner, task_type=d.task_type, params=own, prefix=prefix,
                final_node=record["final"], step=steps[d.id], workflow_id=str(workflow.id),
                **{k: fields.get(k) for k in COMMON_FIELDS if k != "webhook_url"},
            )
        workflow.run = run
        workflow.save(update_fields=["run", "updated_at"])
    queue.enqueue_run(run)
    workflow.refresh_from_db()
    return workflow


# -- read ---------------------------------------------------------------------------------------------------


def visible(user: Any, include_deleted: bool = False) -> Any:
    qs = SartiqWorkflow.objects.filter(owner=user).select_related("run").order_by("-created_at", "-pk")
    return qs if include_deleted else qs.filter(is_deleted=False)


def get_workflow(user: Any, workflow_id: str) -> SartiqWorkflow:
    try:
        pk = uuid.UUID(str(workflow_id))
    except ValueError:
        raise NotFound("Workflow not found") from None
    workflow = visible(user).filter(pk=pk).first()
    if workflow is None:
        raise NotFound("Workflow not found")
    return workflow


def status_of(workflow: SartiqWorkflow) -> str:
    if workflow.run_id is None:
        return WorkflowStatus.CANCELLED if workflow.cancelled else WorkflowStatus.PENDING
    return RUN_TO_WORKFLOW[workflow.run.status]


def step_tasks(workflow: SartiqWorkflow) -> dict[Any, SartiqTask]:
    """step pk -> its task (with its run's node runs loaded once)."""
    if workflow.run_id is None:
        return {}
    found = SartiqTask.objects.filter(run_id=workflow.run_id).exclude(prefix="").select_related("run")
    found = found.prefetch_related("run__node_runs")
    return {t.step_id: t for t in found}


def step_view(step: SartiqWorkflowStep, task: SartiqTask | None, results: dict[str, str]) -> dict[str, Any]:
    body = public(task, results) if task is not None else None
    status = body["status"] if body else (
        TaskStatus.CANCELLED.value if step.workflow.cancelled else TaskStatus.PENDING.value
    )
    result = None
    if body and body["status"] == TaskStatus.COMPLETED.value:
        result = {k: body[k] for k in ("result_image_path", "result_text", "result_url", "result_video_path")
                  if body.get(k) is not None}
    return {
        "id": step.id,
        "step_id": step.step_id,
        "task_type": step.task_type,
        "config": step.config,
        "provider_config": step.provider_config,
        "active_provider_capabilities": step.active_provider_capabilities,
        "fallback_provider_type": step.fallback_provider_type,
        "fallback_provider_config": step.fallback_provider_config,
        "fallback_provider_capabilities": step.fallback_provider_capabilities,
        "dependencies": step.dependencies,
        "input_mappings": step.input_mappings,
        "status": status,
        "task_id": task.id if task is not None else None,
        "result": result,
        "error_message": (body["errors"] or [None])[-1] if body and body["status"] == "FAILED" else None,
        "started_at": body["started_at"] if body else None,
        "completed_at": body["completed_at"] if body else None,
        "retry_count": body["retry_count"] if body else 0,
        "max_retries": step.max_retries,
        "created_at": step.created_at,
        "updated_at": max(step.updated_at, task.updated_at) if task is not None else step.updated_at,
    }


def render(workflow: SartiqWorkflow) -> dict[str, Any]:
    steps = list(workflow.steps.order_by("position"))
    by_step = step_tasks(workflow)
    results = result_paths(list(by_step.values()))
    views = [step_view(s, by_step.get(s.pk), results) for s in steps]
    completed = [v for v in views if v["status"] == TaskStatus.COMPLETED.value]
    depended = {d for s in steps for d in s.dependencies} | {
        m["from_step"] for s in steps for m in s.input_mappings
    }
    finals = [v for v in views if v["step_id"] not in depended]
    final = finals[-1] if finals else None
    running = [v["step_id"] for v in views if v["status"] == TaskStatus.EXECUTING.value]
    run = workflow.run
    errors = [f"{v['step_id']}: {v['error_message']}" for v in views if v["error_message"]]
    status = status_of(workflow)
    return {
        "id": workflow.id,
        "name": workflow.name,
        "description": workflow.description,
        "status": status,
        "total_steps": len(views),
        "completed_steps": len(completed),
        "progress": round(100.0 * len(completed) / len(views), 2) if views else 0.0,
        "current_step": running[0] if running else None,
        "final_step_id": final["step_id"] if final else None,
        "final_step_result": final["result"] if final else None,
        "canvas_task_id": run.pk if run is not None else None,
        "config": workflow.config or {},
        "suppress_subtask_events": workflow.suppress_subtask_events,
        "origin_instance": workflow.origin_instance,
        "origin_zone": workflow.origin_zone,
        "origin_tenant_id": workflow.origin_tenant_id,
        "origin_reference": workflow.origin_reference,
        "webhook_url": workflow.webhook_url,
        "error_message": errors[0] if errors else (
            (run.error or {}).get("message") if run is not None and run.status in TERMINAL and status != "COMPLETED"
            else None
        ),
        "errors": errors,
        "started_at": run.started_at if run is not None else None,
        "completed_at": run.finished_at if run is not None and run.status in TERMINAL else None,
        "created_at": workflow.created_at,
        "updated_at": max(workflow.updated_at, run.updated_at) if run is not None else workflow.updated_at,
        "is_deleted": workflow.is_deleted,
        "deleted_at": workflow.deleted_at,
        "steps": views,
    }


def public_workflow(workflow: SartiqWorkflow) -> dict[str, Any]:
    return WorkflowPublic.model_validate(render(workflow)).model_dump(mode="json")


# -- change -------------------------------------------------------------------------------------------------


def update_workflow(workflow: SartiqWorkflow, changes: dict[str, Any]) -> SartiqWorkflow:
    if changes.get("webhook_url"):
        try:
            check_webhook_url(changes["webhook_url"])
        except NodeError as exc:
            raise invalid(["body", "webhook_url"], f"Value error, {exc.message}") from None
    if "name" in changes and changes["name"] is None:
        changes.pop("name")  # every workflow has one
    for name, value in changes.items():
        setattr(workflow, name, value)
    workflow.save(update_fields=[*changes, "updated_at"])
    if "webhook_url" in changes and workflow.run_id and workflow.run.status not in TERMINAL:
        Run.objects.filter(pk=workflow.run_id).update(webhook_url=workflow.webhook_url or "")
    return workflow


def cancel_workflow(workflow: SartiqWorkflow) -> SartiqWorkflow:
    """The seed's DELETE: cancel a PENDING or RUNNING workflow (its running steps stop); the record stays."""
    status = status_of(workflow)
    if status not in (WorkflowStatus.PENDING, WorkflowStatus.RUNNING):
        raise Conflict(f"Only a PENDING or RUNNING workflow can be cancelled; this one is {status}",
                       code="INVALID_STATE")
    if workflow.run_id is None:
        workflow.cancelled = True
        workflow.save(update_fields=["cancelled", "updated_at"])
    else:
        services.cancel_run(workflow.run)
        workflow.run.refresh_from_db()
    return workflow


def resume_workflow(workflow: SartiqWorkflow) -> SartiqWorkflow:
    """Run a FAILED (or cancelled-by-failure) workflow again from where it stopped: the engine's resume."""
    status = status_of(workflow)
    if status not in (WorkflowStatus.FAILED, WorkflowStatus.PAUSED):
        raise Conflict(f"Only a FAILED or PAUSED workflow can be resumed; this one is {status}",
                       code="INVALID_STATE")
    services.resume_run(workflow.run)
    workflow.run.refresh_from_db()
    return workflow


def cleanup_workflow(workflow: SartiqWorkflow, cleanup_tasks: bool) -> dict[str, Any]:
    """Soft delete; with ``cleanup_tasks`` its steps' tasks are soft deleted and their files removed."""
    if workflow.run_id is not None and workflow.run.status == RunStatus.RUNNING:
        raise Conflict("The workflow is running: cancel it (DELETE) and clean it up once it has stopped",
                       code="WORKFLOW_RUNNING")
    deleted: list[str] = []
    errors: list[dict[str, Any]] = []
    processed = cleaned = 0
    with transaction.atomic():
        if workflow.run_id is not None and workflow.run.status not in TERMINAL:
            services.cancel_run(workflow.run)
        if cleanup_tasks:
            for task in step_tasks(workflow).values():
                processed += 1
                try:
                    with transaction.atomic():
                        deleted += T.remove_files(task)
                        task.is_deleted, task.deleted_at = True, timezone.now()
                        task.save(update_fields=["is_deleted", "deleted_at", "updated_at"])
                    cleaned += 1
                except Exception as exc:  # noqa: BLE001 - reported to the caller, the others go on
                    errors.append({"task_id": task.id, "step_id": task.step.step_id if task.step else "",
                                   "task_type": task.task_type, "error": str(exc)[:500]})
        workflow.is_deleted, workflow.deleted_at = True, timezone.now()
        workflow.save(update_fields=["is_deleted", "deleted_at", "updated_at"])
    if workflow.run_id:
        workflow.run.refresh_from_db()
    return {
        "workflow": WorkflowPublic.model_validate(render(workflow)).model_dump(mode="json"),
        "cleanup": {"tasks_processed": processed, "tasks_cleaned": cleaned, "deleted_paths": deleted,
                    "errors": [WorkflowCleanupError(**e).model_dump(mode="json") for e in errors]},
    }


# -- events -------------------------------------------------------------------------------------------------


def webhook_payload(workflow: SartiqWorkflow) -> dict[str, Any]:
    """What the workflow's ``webhook_url`` gets when its run ends: the seed's status event shape for the
    workflow (``task_id`` is the workflow's id, ``task_type`` ``WORKFLOW``), its steps in ``metadata``."""
    body = render(workflow)
    run = workflow.run
    return {
        "event_type": EventType.TASK_STATUS.value,
        "task_id": str(workflow.id),
        "status": body["status"],
        "timestamp": iso_z(run.finished_at or timezone.now()),
        "entity_id": None,
        "origin_instance": workflow.origin_instance,
        "origin_zone": workflow.origin_zone,
        "origin_version": None,
        "metadata": {
            "workflow_id": str(workflow.id),
            "name": workflow.name,
            "origin_tenant_id": workflow.origin_tenant_id,
            "origin_reference": workflow.origin_reference,
            "final_step_id": body["final_step_id"],
            "final_step_result": body["final_step_result"],
            "steps": [
                {"step_id": s["step_id"], "task_id": str(s["task_id"]) if s["task_id"] else None,
                 "status": s["status"], "result": s["result"]}
                for s in body["steps"]
            ],
        },
        "task_type": "WORKFLOW",
        "progress": body["progress"],
        "started_at": iso_z(run.started_at) if run.started_at else None,
        "completed_at": iso_z(run.finished_at) if run.finished_at else None,
        "error_message": body["error_message"],
        "error_category": None,
    }


# -- monitoring (M5–M7) -------------------------------------------------------------------------------------


class MonitoringQuery(Model):
    page: int = Field(default=1, ge=1, description="Page number (1-indexed)")
    page_size: int = Field(default=50, ge=1, le=200, description="Items per page")
    sort_by: Literal["created_at", "started_at", "completed_at", "name", "status", "progress"] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    status: Literal["PENDING", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"] | None = None
    origin_instance: str | None = None
    origin_zone: str | None = None
    origin_tenant_id: str | None = None
    created_after: S.UtcDatetime | None = None
    created_before: S.UtcDatetime | None = None
    search: str | None = Field(default=None, max_length=255, description="Workflow name or ID prefix")


class OriginQuery(Model):
    origin_instance: str | None = None
    origin_zone: str | None = None


class WorkflowListItem(Model):
    id: uuid.UUID
    name: str
    description: str | None = None
    status: str
    total_steps: int
    completed_steps: int
    progress: float
    current_step: str | None = None
    final_step_id: str | None = None
    origin_instance: str
    origin_zone: str | None = None
    origin_tenant_id: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: float | None = None
    has_error: bool


class MonitoringWorkflowListResponse(Model):
    items: list[WorkflowListItem]
    total: int
    page: int
    page_size: int
    pages: int


class WorkflowAggregateStats(Model):
    total_workflows: int
    by_status: dict[str, int] = Field(default_factory=dict)
    workflows_last_hour: int = 0
    workflows_last_24h: int = 0
    avg_steps_per_workflow: float = 0.0


class WorkflowStepMonitor(Model):
    id: uuid.UUID
    step_id: str
    task_type: str
    status: str
    task_id: uuid.UUID | None = None
    dependencies: list[str]
    input_mappings: list[dict[str, Any]]
    config: dict[str, Any] | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: float | None = None
    error_message: str | None = None
    retry_count: int
    max_retries: int
    result: dict[str, Any] | None = None


class WorkflowDetailResponse(Model):
    id: uuid.UUID
    name: str
    description: str | None = None
    status: str
    total_steps: int = 0
    completed_steps: int = 0
    progress: float = 0.0
    current_step: str | None = None
    final_step_id: str | None = None
    canvas_task_id: str | None = None
    config: dict[str, Any] | None = None
    origin_instance: str
    origin_zone: str | None = None
    origin_tenant_id: str | None = None
    origin_reference: str | None = None
    webhook_url: str | None = None
    error_message: str | None = None
    errors: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    duration_ms: float | None = None
    steps: list[WorkflowStepMonitor] = Field(default_factory=list)


def duration_ms(started: Any, completed: Any) -> float | None:
    return round((completed - started).total_seconds() * 1000, 3) if started and completed else None


def monitoring_list(user: Any, q: MonitoringQuery) -> dict[str, Any]:
    qs = visible(user)
    for name in ("origin_instance", "origin_zone", "origin_tenant_id"):
        if getattr(q, name) is not None:
            qs = qs.filter(**{name: getattr(q, name)})
    if q.created_after is not None:
        qs = qs.filter(created_at__gt=q.created_after)
    if q.created_before is not None:
        qs = qs.filter(created_at__lt=q.created_before)
    found = list(qs)
    if q.search:  # the user's workflows are few: name or id prefix, read here on every database alike
        term = q.search.strip().lower()
        found = [w for w in found if str(w.pk).startswith(term) or term in w.name.lower()]
    rows = [render(w) for w in found]
    if q.status is not None:
        rows = [r for r in rows if r["status"] == q.status]
    present = [r for r in rows if r[q.sort_by] is not None]
    missing = [r for r in rows if r[q.sort_by] is None]
    present.sort(key=lambda r: r[q.sort_by], reverse=q.sort_order == "desc")
    rows = present + missing  # unknown values last either way
    total = len(rows)
    page = rows[(q.page - 1) * q.page_size : q.page * q.page_size]
    items = [
        WorkflowListItem.model_validate(
            {**r, "duration_ms": duration_ms(r["started_at"], r["completed_at"]),
             "has_error": bool(r["errors"] or r["error_message"])}
        ).model_dump(mode="json")
        for r in page
    ]
    return {"items": items, "total": total, "page": q.page, "page_size": q.page_size,
            "pages": math.ceil(total / q.page_size) if total else 0}


def monitoring_stats(user: Any, q: OriginQuery) -> dict[str, Any]:
    qs = visible(user)
    for name in ("origin_instance", "origin_zone"):
        if getattr(q, name) is not None:
            qs = qs.filter(**{name: getattr(q, name)})
    now = timezone.now()
    statuses = [status_of(w) for w in qs]
    by_status: dict[str, int] = {}
    for status in statuses:
        by_status[status] = by_status.get(status, 0) + 1
    total = len(statuses)
    steps = SartiqWorkflowStep.objects.filter(workflow__in=qs).count()
    return {
        "total_workflows": total,
        "by_status": by_status,
        "workflows_last_hour": qs.filter(created_at__gte=now - timedelta(hours=1)).count(),
        "workflows_last_24h": qs.filter(created_at__gte=now - timedelta(hours=24)).count(),
        "avg_steps_per_workflow": round(steps / total, 3) if total else 0.0,
    }


def monitoring_detail(workflow: SartiqWorkflow) -> dict[str, Any]:
    """The workflow with its steps in topological order (the order they were compiled in)."""
    body = render(workflow)
    body["duration_ms"] = duration_ms(body["started_at"], body["completed_at"])
    body["steps"] = [
        {**s, "duration_ms": duration_ms(s["started_at"], s["completed_at"])} for s in body["steps"]
    ]
    return WorkflowDetailResponse.model_validate(body).model_dump(mode="json")
