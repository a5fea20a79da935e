"""Runs: one execution of a pipeline graph, its node runs, artifacts, events and webhook deliveries."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def _public_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def new_run_id() -> str:
    return _public_id("run")


def new_artifact_id() -> str:
    return _public_id("art")


def new_job_id() -> str:
    return _public_id("job")


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    BLOCKED = "blocked", "Blocked"


TERMINAL = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.BLOCKED)
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


class Surface(models.TextChoices):
    STUDIO = "studio", "Studio (canvas)"
    FRACTALQ = "fractalq", "FractalQ"
    FLUXARA = "fluxara", "Fluxara"
    FIZZLY = "fizzly", "Fizzly"
    SARTIQ = "sartiq", "Sartiq Compute"
    FAL = "fal", "fal-compatible queue"
    REPLICATE = "replicate", "Replicate-compatible API"
    MCP = "mcp", "MCP tool"


# Writes that record liveness, not a change of state: they leave ``updated_at`` alone.
LIVENESS_FIELDS = frozenset({"heartbeat_at"})


class RunQuerySet(models.QuerySet):
    def update(self, **kwargs):
        """``auto_now`` only acts on ``save()``: the engine moves runs along with ``update()``, so without this
        ``updated_at`` would stay at the time of the submit however far the run got (Fluxara's job
        ``updated_at``, the admin's ordering)."""
        if "updated_at" not in kwargs and not set(kwargs) <= LIVENESS_FIELDS:
            kwargs["updated_at"] = timezone.now()
        return super().update(**kwargs)


class Run(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_run_id, editable=False)
    pipeline = models.ForeignKey("pipelines.Pipeline", on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(
        "pipelines.PublishedVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
        help_text="Empty for a run of the draft",
    )
    graph = models.JSONField(help_text="The graph that ran (a snapshot)")
    billed_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="billed_runs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requested_runs",
    )
    surface = models.CharField(max_length=16, choices=Surface.choices)
    job_id = models.CharField(max_length=32, blank=True, db_index=True, help_text="Fluxara job grouping")
    inputs = models.JSONField(default=dict)
    options = models.JSONField(default=dict, blank=True)
    preset = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)
    current_node = models.CharField(max_length=64, blank=True)
    credits_reserved = models.PositiveIntegerField(default=0)
    credits_used = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the canonical request, to tell a replay from a conflict",
    )
    webhook_url = models.URLField(max_length=2000, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.JSONField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    resumes = models.PositiveSmallIntegerField(
        default=0, help_text="Times a failed or cancelled run was resumed"
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "surface", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="run_idempotency",
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return self.id

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def execution_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None

    @property
    def total_ms(self) -> int | None:
        if self.finished_at:
            return int((self.finished_at - self.created_at).total_seconds() * 1000)
        return None


class NodeStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    BLOCKED = "blocked", "Blocked"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


class NodeRun(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="node_runs")
    node_id = models.CharField(max_length=64)
    node_type = models.CharField(max_length=64)
    position = models.PositiveIntegerField(default=0, help_text="Order of execution")
    status = models.CharField(max_length=16, choices=NodeStatus.choices, default=NodeStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    credit_cost = models.PositiveIntegerField(
        default=0, help_text="Its price, frozen in the version that ran"
    )
    outputs = models.JSONField(default=dict, blank=True)
    error = models.JSONField(null=True, blank=True)
    attempt_log = models.JSONField(
        default=list,
        blank=True,
        help_text="Each attempt: number, node type, provider, outcome, error, timing",
    )
    fallback_used = models.BooleanField(default=False)
    cached = models.BooleanField(
        default=False, help_text="Outputs taken from the node-output cache, not billed"
    )
    reused = models.BooleanField(default=False, help_text="Outputs kept from before the run was resumed")
    paid = models.BooleanField(default=False, help_text="A settled charge of the run paid for this node")
    output_ref = models.CharField(max_length=80, blank=True, help_text="Its outputs in the node-output store")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["run", "node_id"], name="one_node_run_per_node")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.node_id}"

    RESET_FIELDS = [
        "status",
        "progress",
        "outputs",
        "error",
        "attempts",
        "attempt_log",
        "fallback_used",
        "cached",
        "reused",
        "output_ref",
        "started_at",
        "finished_at",
    ]

    def reset(self) -> None:
        """Back to queued, as if it never ran (what it was paid stays: a node is paid once)."""
        self.status, self.progress, self.outputs, self.error = NodeStatus.QUEUED, 0, {}, None
        self.attempts, self.attempt_log, self.fallback_used = 0, [], False
        self.cached, self.reused, self.output_ref = False, False, ""
        self.started_at = self.finished_at = None


class Artifact(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_artifact_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="artifacts")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.CASCADE, related_name="artifacts")
    node_id = models.CharField(max_length=64, blank=True)
    output_key = models.CharField(max_length=64, blank=True)
    file = models.FileField(upload_to="artifacts/%Y/%m/%d/", max_length=300)
    content_type = models.CharField(max_length=100)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.id


class NodeOutput(models.Model):
    """A node's outputs, stored: the node-output cache (keyed by content) and the outputs a resumed run reuses.

    ``key`` is the content key (node type and version, resolved params, input hashes, the owner) of a
    cacheable node, or ``run:<run id>:<node id>`` for a node whose outputs cannot be cached but may be reused
    by a resume. Bounded by NODE_CACHE_MAX_BYTES, least recently used first out (runs.cache)."""

    key = models.CharField(max_length=80, unique=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="node_outputs")
    node_type = models.CharField(max_length=64)
    file = models.FileField(upload_to="node-outputs/", max_length=300)
    size = models.PositiveBigIntegerField(default=0)
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.node_type} {self.key}"


class RunEvent(models.Model):
    """Append-only: the single source for status polling, SSE and the WebSocket."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=32)
    node_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "id"])]

    def __str__(self) -> str:
        return f"{self.run_id} #{self.pk} {self.type}"

    def as_message(self) -> dict:
        return {
            "id": self.pk,
            "type": self.type,
            "node": self.node_id or None,
            "data": self.data,
            "created_at": self.created_at.isoformat(),
        }


class WebhookKind(models.TextChoices):
    FIZZLY = "fizzly", "Fizzly webhook"
    FRACTALQ = "fractalq", "FractalQ callback"
    SARTIQ = "sartiq", "Sartiq task webhook"
    FAL = "fal", "fal webhook (compatible queue)"
    REPLICATE = "replicate", "Replicate webhook (compatible API)"


class WebhookDelivery(models.Model):
    # The run it reports on; null for an event of something else (a training task's).
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries")
    kind = models.CharField(max_length=16, choices=WebhookKind.choices)
    # The node whose ending it reports (a Sartiq workflow step's event); empty for the run's own callback.
    node_id = models.CharField(max_length=64, blank=True, default="")
    url = models.URLField(max_length=2000)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16,
        default="pending",
        choices=[("pending", "Pending"), ("delivered", "Delivered"), ("failed", "Failed")],
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    response_codes = models.JSONField(default=list, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} → {self.url} ({self.status})"
