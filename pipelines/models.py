"""Pipelines: a creator's draft graph, its immutable published versions and the FractalQ session key."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


def empty_graph() -> dict:
    return {"nodes": [], "edges": []}


class Pipeline(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pipelines")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120)
    description = models.TextField(blank=True)
    graph = models.JSONField(default=empty_graph, help_text="The draft graph edited on the canvas")
    # Named parameter sets: {"preset name": {"node id": {"param": value}}}
    presets = models.JSONField(default=dict, blank=True)
    # Listed to other users' API clients (Fluxara / Fizzly) when published.
    is_public = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "slug"], name="pipeline_slug_unique_per_owner")
        ]

    def __str__(self) -> str:
        return f"{self.owner}/{self.slug}"

    @property
    def latest_version(self) -> "PublishedVersion | None":
        return self.versions.order_by("-number").first()


class PublishedVersion(models.Model):
    """An immutable snapshot of a graph with the schema derived from it."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    graph = models.JSONField()
    input_schema = models.JSONField(default=dict)
    output_schema = models.JSONField(default=dict)
    input_examples = models.JSONField(default=dict)
    credit_cost = models.PositiveIntegerField(default=0)
    node_prices = models.JSONField(
        default=dict, blank=True, help_text="Credits per node id, frozen at publish: what a run of it is charged"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "number"], name="version_number_unique")]

    def __str__(self) -> str:
        return f"{self.pipeline} v{self.number}"


class SessionKey(models.Model):
    """The FractalQ key of a published pipeline; the secret is stored hashed, looked up by hash."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="session_keys")
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # FractalQ bills the pipeline's owner and anyone holding the key can call it: the owner bounds what the
    # key may spend (credits per UTC day / calendar month; empty: no cap). Carried over when the key is
    # rotated, and counted over every FractalQ run of the pipeline, so a new key does not reset the spend.
    daily_credit_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Credits this key may spend per UTC day; empty for no cap"
    )
    monthly_credit_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="Credits this key may spend per calendar month (UTC); empty for no cap"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline"], condition=Q(revoked_at__isnull=True), name="one_active_session_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.pipeline})"
