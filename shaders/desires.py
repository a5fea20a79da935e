"""Desires (bounties): creation, heat, clustering of near-duplicate wishes, fulfilment.

Clustering is online: when a desire's embedding arrives (a django-q2 task) it joins the cluster whose
centroid is nearest, if that centroid is at least ``CLUSTER_THRESHOLD`` cosine-similar, and founds a new
cluster otherwise. With all-MiniLM-L6-v2, rephrasings of one wish ("northern lights reflecting on water" /
"aurora mirrored on a lake") score 0.6–0.85 and different wishes on a shared theme ("ocean waves at sunset")
stay below 0.55.

Heat combines demand (open desires in the cluster), tips pledged across the cluster and recency:

    heat = 10 × (log2(1 + open desires in cluster) + 0.5 × ln(1 + tips in dollars)) × exp(−age / 30 days)

It is written when the desire is created, when its cluster changes and by ``refresh_heat`` (the
``refresh_desire_heat`` command, meant for a daily django-q2 schedule) as time passes.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, NoReturn

import numpy as np
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from config.errors import Conflict, Forbidden, NotFound, NotImplementedYet
from shaders.models import Desire, DesireCluster, DesireStatus, Shader, ShaderStatus

CLUSTER_THRESHOLD = 0.6
HEAT_DECAY = timedelta(days=30)
SIMILAR_LIMIT = 5


def heat_score(
    open_in_cluster: int, tips_cents: int, created_at: datetime, now: datetime | None = None
) -> float:
    now = now or timezone.now()
    demand = math.log2(1 + max(1, open_in_cluster))
    tips = 0.5 * math.log1p(max(0, tips_cents) / 100)
    age = max(0.0, (now - created_at).total_seconds())
    return round(10 * (demand + tips) * math.exp(-age / HEAT_DECAY.total_seconds()), 4)


def parse_desire_id(raw: Any) -> Any:
    from shaders.services import parse_uuid

    return parse_uuid(raw, "Desire")


def get_desire(desire_id: Any) -> Desire:
    desire = (
        Desire.objects.select_related("author", "cluster", "fulfilled_by")
        .filter(pk=parse_desire_id(desire_id))
        .first()
    )
    if desire is None:
        raise NotFound("Desire not found")
    return desire


def list_desires(status: str = DesireStatus.OPEN, min_heat: float = 0.0) -> QuerySet[Desire]:
    return (
        Desire.objects.select_related("author", "fulfilled_by")
        .filter(status=status, heat_score__gte=min_heat)
        .order_by("-heat_score", "-created_at")
    )


def schedule_embedding(desire: Desire) -> None:
    from django_q.tasks import async_task

    desire_id = str(desire.pk)
    transaction.on_commit(
        lambda: async_task("shaders.tasks.embed_desire", desire_id, task_name=f"embed desire {desire_id}")
    )


def create_desire(
    user: User, prompt_text: str, style_hints: dict | None = None, tip_amount_cents: int = 0
) -> Desire:
    """Pro and Ultimate only. Embedding and clustering follow in a django-q2 task."""
    if not user.is_pro:
        raise Forbidden("Creating bounties requires a Pro or Ultimate subscription", code="TIER_REQUIRED")
    with transaction.atomic():
        desire = Desire(
            author=user,
            prompt_text=prompt_text,
            style_hints=style_hints or {},
            tip_amount_cents=tip_amount_cents,
        )
        desire.heat_score = heat_score(1, tip_amount_cents, timezone.now())
        desire.save()
        schedule_embedding(desire)
    return desire


def fulfill(user: User, desire_id: Any, shader_id: Any) -> Desire:
    """Link a published shader: its owner submits it, or the desire's author accepts it."""
    from shaders.services import parse_uuid

    desire_pk = parse_desire_id(desire_id)
    shader_pk = parse_uuid(shader_id)
    with transaction.atomic():
        desire = Desire.objects.select_for_update().filter(pk=desire_pk).first()
        if desire is None:
            raise NotFound("Desire not found")
        shader = Shader.objects.filter(pk=shader_pk, status=ShaderStatus.PUBLISHED).first()
        if shader is None:
            raise NotFound("Shader not found")
        if shader.owner_id != user.pk and desire.author_id != user.pk:
            raise Forbidden("Only the shader's author or the desire's author can link it")
        if desire.status != DesireStatus.OPEN:
            raise Conflict(f"Desire is already {desire.status}", code="DESIRE_NOT_OPEN")
        desire.status = DesireStatus.FULFILLED
        desire.fulfilled_by = shader
        desire.fulfilled_at = timezone.now()
        desire.save(update_fields=["status", "fulfilled_by", "fulfilled_at"])
        if desire.cluster_id:
            refresh_cluster(desire.cluster_id)
    return get_desire(desire.pk)


def tip(desire_id: Any) -> NoReturn:
    raise NotImplementedYet("Tipping is coming in M4 (payments)", code="NOT_IMPLEMENTED")


# --- embedding and clustering ---------------------------------------------------------------------


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def nearest_cluster(vector: np.ndarray) -> tuple[DesireCluster | None, float]:
    clusters = [c for c in DesireCluster.objects.filter(size__gt=0) if c.centroid]
    if not clusters:
        return None, 0.0
    centroids = np.asarray([c.centroid for c in clusters], dtype=np.float32)
    sims = centroids @ vector
    best = int(np.argmax(sims))
    return clusters[best], float(sims[best])


def refresh_cluster(cluster_id: Any) -> None:
    """Recompute a cluster's size, centroid and its desires' heat."""
    cluster = DesireCluster.objects.select_for_update().filter(pk=cluster_id).first()
    if cluster is None:
        return
    members = list(Desire.objects.filter(cluster=cluster))
    vectors = [np.asarray(d.embedding, dtype=np.float32) for d in members if d.embedding]
    cluster.size = len(members)
    cluster.centroid = _unit(np.mean(vectors, axis=0)).tolist() if vectors else []
    cluster.save(update_fields=["size", "centroid", "updated_at"])
    open_members = [d for d in members if d.status == DesireStatus.OPEN]
    tips = sum(d.tip_amount_cents for d in open_members)
    now = timezone.now()
    for desire in members:
        desire.heat_score = heat_score(len(open_members), tips, desire.created_at, now)
    Desire.objects.bulk_update(members, ["heat_score"])


def embed_and_cluster(desire_id: Any) -> str:
    from shaders import embeddings

    desire = Desire.objects.filter(pk=desire_id).first()
    if desire is None:
        return "gone"
    vector = embeddings.embed([desire.prompt_text])[0]
    with transaction.atomic():
        desire = Desire.objects.select_for_update().filter(pk=desire_id).first()
        if desire is None:
            return "gone"
        previous = desire.cluster_id
        desire.embedding = [round(float(x), 6) for x in vector]
        cluster, similarity = nearest_cluster(vector)
        if cluster is None or similarity < CLUSTER_THRESHOLD:
            cluster = DesireCluster.objects.create(label=desire.prompt_text[:300])
        desire.cluster = cluster
        desire.save(update_fields=["embedding", "cluster"])
        refresh_cluster(cluster.pk)
        if previous and previous != cluster.pk:
            refresh_cluster(previous)
    return str(cluster.pk)


def cluster_context(desire: Desire) -> dict[str, Any]:
    """``cluster_count`` (desires sharing the cluster, itself included) and the most similar of them."""
    if desire.cluster_id is None:
        return {"cluster_id": None, "cluster_count": 1, "similar_desires": []}
    others = list(
        Desire.objects.filter(cluster_id=desire.cluster_id).exclude(pk=desire.pk).select_related("author")
    )
    mine = np.asarray(desire.embedding, dtype=np.float32) if desire.embedding else None

    def similarity(other: Desire) -> float | None:
        if mine is None or not other.embedding:
            return None
        return round(float(np.asarray(other.embedding, dtype=np.float32) @ mine), 4)

    scored = [(other, similarity(other)) for other in others]
    scored.sort(key=lambda pair: (pair[1] or 0.0, pair[0].heat_score), reverse=True)
    return {
        "cluster_id": str(desire.cluster_id),
        "cluster_count": len(others) + 1,
        "similar_desires": [
            {
                "id": str(o.pk),
                "prompt_text": o.prompt_text,
                "status": o.status,
                "heat_score": o.heat_score,
                "similarity": sim,
            }
            for o, sim in scored[:SIMILAR_LIMIT]
        ],
    }


def refresh_heat() -> int:
    """Re-decay every open desire's heat (run daily); returns how many were updated."""
    now = timezone.now()
    loose = list(Desire.objects.filter(status=DesireStatus.OPEN, cluster__isnull=True))
    for desire in loose:
        desire.heat_score = heat_score(1, desire.tip_amount_cents, desire.created_at, now)
    Desire.objects.bulk_update(loose, ["heat_score"])
    count = len(loose)
    cluster_ids = set(
        Desire.objects.filter(status=DesireStatus.OPEN, cluster__isnull=False).values_list(
            "cluster_id", flat=True
        )
    )
    for cluster_id in cluster_ids:
        with transaction.atomic():
            refresh_cluster(cluster_id)
    return count + Desire.objects.filter(cluster_id__in=cluster_ids).count()
