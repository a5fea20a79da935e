"""A Sartiq task: the seed's record around one run of our engine.

The run (``runs.models.Run``, surface ``sartiq``) is the single source of the task's status, progress,
timings, errors, outputs and credits; this row holds what the seed adds around it: the Sartiq-facing UUID, the
task type and the request's fields, the origin and provider fields, and what a client sets through ``PUT``
(priority, config, errors, executor). ``is_deleted``/``deleted_at``: ``POST …/cleanup`` keeps the row and
removes the files.

A workflow (:class:`SartiqWorkflow`) is one run too: the graph of all its steps, each step's nodes named with
its ``prefix`` (``s0__task``, ``s0__in_prompt``…), its outputs ``s0__result_image``…; each step is a task whose
status, progress and results are those of its own nodes in that run (``prefix`` non-empty, ``final_node`` the
node its result comes from). A task of its own has the run to itself (``prefix`` empty).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class SartiqTask(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(
        "runs.Run", on_delete=models.CASCADE, related_name="sartiq_tasks", related_query_name="sartiq_task"
    )
    # A workflow step's nodes in the workflow's run: their id prefix, and the node its result comes from.
    prefix = models.CharField(max_length=16, blank=True, default="")
    final_node = models.CharField(max_length=64, blank=True, default="")
    step = models.OneToOneField(
        "SartiqWorkflowStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="task"
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sartiq_tasks")
    task_type = models.CharField(max_length=32, db_index=True)
    # The type's own request fields as validated (images replaced by where they are stored).
    params = models.JSONField(default=dict, blank=True)
    origin_instance = models.CharField(max_length=200)
    origin_zone = models.CharField(max_length=100, null=True, blank=True)
    origin_tenant_id = models.CharField(max_length=200, null=True, blank=True)
    origin_reference = models.CharField(max_length=512, null=True, blank=True)
    workflow_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    priority = models.IntegerField(default=0)
    config = models.JSONField(null=True, blank=True)
    provider_type = models.CharField(max_length=64, null=True, blank=True)
    provider_config = models.JSONField(null=True, blank=True)
    queue_name = models.CharField(max_length=100, null=True, blank=True)
    active_provider_capabilities = models.JSONField(null=True, blank=True)
    fallback_provider_type = models.CharField(max_length=64, null=True, blank=True)
    fallback_provider_config = models.JSONField(null=True, blank=True)
    fallback_provider_capabilities = models.JSONField(null=True, blank=True)
    webhook_url = models.CharField(max_length=2000, null=True, blank=True)
    # Set by clients through PUT; shown after the engine's own errors.
    errors = models.JSONField(null=True, blank=True)
    executor_type = models.CharField(max_length=100, null=True, blank=True)
    executor_instance = models.CharField(max_length=200, null=True, blank=True)
    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.task_type} {self.id}"


class SartiqWorkflow(models.Model):
    """A DAG of Sartiq tasks run as one engine run (``run``: null until it is started)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sartiq_workflows"
    )
    run = models.OneToOneField(
        "runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="sartiq_workflow"
    )
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    config = models.JSONField(default=dict, blank=True)
    origin_instance = models.CharField(max_length=100)
    origin_zone = models.CharField(max_length=50, null=True, blank=True)
    origin_tenant_id = models.CharField(max_length=100, null=True, blank=True)
    origin_reference = models.CharField(max_length=512, null=True, blank=True)
    webhook_url = models.CharField(max_length=512, null=True, blank=True)
    suppress_subtask_events = models.BooleanField(default=True)
    # Set when the workflow is cancelled before it started (no run to say so).
    cancelled = models.BooleanField(default=False)
    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} {self.id}"


class SartiqWorkflowStep(models.Model):
    """One step of a workflow as it was defined (``step_id`` is the definition's ``id``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(SartiqWorkflow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()  # topological order
    step_id = models.CharField(max_length=100)
    task_type = models.CharField(max_length=32)
    config = models.JSONField(null=True, blank=True)
    provider_config = models.JSONField(null=True, blank=True)
    active_provider_capabilities = models.JSONField(null=True, blank=True)
    fallback_provider_type = models.CharField(max_length=64, null=True, blank=True)
    fallback_provider_config = models.JSONField(null=True, blank=True)
    fallback_provider_capabilities = models.JSONField(null=True, blank=True)
    dependencies = models.JSONField(default=list)
    input_mappings = models.JSONField(default=list)
    max_retries = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workflow", "position"]
        constraints = [models.UniqueConstraint(fields=["workflow", "step_id"], name="one_step_id_per_workflow")]

    def __str__(self) -> str:
        return f"{self.step_id} of {self.workflow_id}"
