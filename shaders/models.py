"""The shader community (fractafrag, seed 004): shaders and their versions, votes, engagement, desires.

Ids are UUIDs as in the seed. Deleting a shader cascades to its versions, votes and engagement events;
a fork keeps its own life when the original goes (``forked_from`` is set to NULL).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ShaderType(models.TextChoices):
    TWO_D = "2d", "2D"
    THREE_D = "3d", "3D"
    AUDIO_REACTIVE = "audio-reactive", "Audio-reactive"


class ShaderStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class RenderStatus(models.TextChoices):
    NONE = "none", "Not rendered"
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Shader(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shaders")
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=4000)
    # Normalised tags; ``tags_index`` (",neon,glow,") lets SQLite and PostgreSQL alike filter on them.
    tags = models.JSONField(default=list, blank=True)
    tags_index = models.CharField(max_length=400, blank=True, default="", editable=False)
    shader_type = models.CharField(max_length=16, choices=ShaderType.choices, default=ShaderType.TWO_D)
    glsl_code = models.TextField()
    status = models.CharField(
        max_length=16, choices=ShaderStatus.choices, default=ShaderStatus.DRAFT, db_index=True
    )
    is_system = models.BooleanField(default=False, help_text="System / curated shader")
    forked_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks"
    )
    current_version = models.PositiveIntegerField(default=1)

    view_count = models.PositiveIntegerField(default=0)
    upvotes = models.PositiveIntegerField(default=0)
    downvotes = models.PositiveIntegerField(default=0)
    # Wilson lower bound of the up-vote share (0..1) and the trending key (see shaders.feed.hot_score).
    score = models.FloatField(default=0.0)
    hot_score = models.FloatField(default=0.0, db_index=True)

    thumbnail = models.FileField(upload_to="shaders/", blank=True, max_length=300)
    preview = models.FileField(upload_to="shaders/", blank=True, max_length=300)
    render_status = models.CharField(max_length=16, choices=RenderStatus.choices, default=RenderStatus.NONE)
    render_error = models.TextField(blank=True)
    rendered_version = models.PositiveIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Set once, the first time the shader is published: the free tier's monthly quota counts these.
    first_published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-hot_score"]), models.Index(fields=["owner", "status"])]

    def __str__(self) -> str:
        return self.title

    @property
    def is_published(self) -> bool:
        return self.status == ShaderStatus.PUBLISHED


class ShaderVersion(models.Model):
    """An immutable snapshot of a shader's code and metadata, written on every change of either."""

    shader = models.ForeignKey(Shader, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    glsl_code = models.TextField()
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    shader_type = models.CharField(max_length=16, choices=ShaderType.choices)
    change_note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["shader", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["shader", "number"], name="one_number_per_shader_version")
        ]

    def __str__(self) -> str:
        return f"{self.shader_id} v{self.number}"

    @property
    def metadata(self) -> dict:
        return {
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "shader_type": self.shader_type,
        }


class Vote(models.Model):
    shader = models.ForeignKey(Shader, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shader_votes")
    value = models.SmallIntegerField(choices=[(1, "+1"), (-1, "-1")])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shader", "user"], name="one_vote_per_user_and_shader"),
            models.CheckConstraint(
                condition=models.Q(value__in=[1, -1]), name="vote_value_plus_or_minus_one"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.value:+d} {self.shader_id}"


class EventKind(models.TextChoices):
    VIEW = "view", "View"
    DWELL = "dwell", "Dwell"
    REPLAY = "replay", "Replay"


class EngagementEvent(models.Model):
    """A view, dwell report or replay: the feed's signals (viewed set, tag affinity)."""

    shader = models.ForeignKey(Shader, on_delete=models.CASCADE, related_name="events")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="shader_events",
    )
    session_id = models.CharField(max_length=128, blank=True, db_index=True)
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    dwell_secs = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.shader_id}"


class DesireStatus(models.TextChoices):
    OPEN = "open", "Open"
    FULFILLED = "fulfilled", "Fulfilled"
    CLOSED = "closed", "Closed"


class DesireCluster(models.Model):
    """Desires whose prompts mean nearly the same thing (sentence embeddings, cosine similarity)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=300, blank=True, help_text="The prompt that founded the cluster")
    size = models.PositiveIntegerField(default=0)
    centroid = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-size", "-updated_at"]

    def __str__(self) -> str:
        return f"{self.label[:60]} ({self.size})"


class Desire(models.Model):
    """A bounty: someone wants a shader that does X."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="desires")
    prompt_text = models.TextField(max_length=2000)
    style_hints = models.JSONField(default=dict, blank=True)
    tip_amount_cents = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=DesireStatus.choices, default=DesireStatus.OPEN, db_index=True
    )
    heat_score = models.FloatField(default=0.0, db_index=True)
    embedding = models.JSONField(null=True, blank=True, editable=False)
    cluster = models.ForeignKey(
        DesireCluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="desires"
    )
    fulfilled_by = models.ForeignKey(
        Shader, null=True, blank=True, on_delete=models.SET_NULL, related_name="fulfilled_desires"
    )
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-heat_score", "-created_at"]

    def __str__(self) -> str:
        return self.prompt_text[:80]
