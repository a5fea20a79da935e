"""A Sartiq task: the seed's record around one run of our engine.

The run (``runs.models.Run``, surface ``sartiq``) is the single source of the task's status, progress,
timings, errors, outputs and credits; this row holds what the seed adds around it: the Sartiq-facing UUID, the
task type and the request's fields, the origin and provider fields, and what a client sets through ``PUT``
(priority, config, errors, executor). ``is_deleted``/``deleted_at``: ``POST …/cleanup`` keeps the row and
removes the files.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class SartiqTask(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.OneToOneField("runs.Run", on_delete=models.CASCADE, related_name="sartiq_task")
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
