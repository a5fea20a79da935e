"""Feed ranking: trending (Wilson lower bound with time decay), new, similar (tag overlap), personalised.

Trending keeps no clock-dependent number that would go stale. With exponential decay

    trending(now) = (wilson + BASE) * exp(-(now - published) / TAU)

the order between two shaders never depends on ``now``, so we store its logarithm without the ``now``
term — ``hot_score = ln(wilson + BASE) + published / TAU`` — and ``ORDER BY hot_score DESC`` is the
trending order at any moment. Votes rewrite ``hot_score``; time needs no job.

The personalised feed blends, per candidate, values that each lie in [0, 1]:

* signed-in: tag affinity (learned from the viewer's votes and dwell) 0.40, recency 0.25, score 0.25;
* anonymous: score 0.45, recency 0.45;
* and always 0.10 × uniform randomness, so chance can move a shader by at most 0.10.

Shaders the viewer has seen in the last ``VIEWED_WINDOW`` are left out, and so are their own.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from shaders.models import EngagementEvent, EventKind, Shader, ShaderStatus, Vote

WILSON_Z = 1.96  # 95 % confidence
BASE = 0.05  # keeps unvoted shaders ordered by age instead of all at ln(0)
TAU = timedelta(hours=48).total_seconds()  # e-folding time of trending and recency (half-life ≈ 33 h)
VIEWED_WINDOW = timedelta(days=30)
AFFINITY_WINDOW = timedelta(days=90)
CANDIDATES = 500
RANDOMNESS = 0.10
SIGNED_IN_WEIGHTS = {"affinity": 0.40, "recency": 0.25, "score": 0.25}
ANONYMOUS_WEIGHTS = {"affinity": 0.0, "recency": 0.45, "score": 0.45}
DWELL_FULL_CREDIT_SECS = 30.0  # a 30 s dwell counts like an up-vote for the shader's tags


def wilson_lower_bound(up: int, down: int, z: float = WILSON_Z) -> float:
    n = up + down
    if n == 0:
        return 0.0
    phat = up / n
    centre = phat + z * z / (2 * n)
    margin = z * math.sqrt((phat * (1 - phat) + z * z / (4 * n)) / n)
    return max(0.0, (centre - margin) / (1 + z * z / n))


def hot_score(wilson: float, published_at: datetime | None) -> float:
    stamp = (published_at or timezone.now()).timestamp()
    return math.log(wilson + BASE) + stamp / TAU


def trending_value(shader: Shader, now: datetime | None = None) -> float:
    """The decayed score itself, for display: exp(hot_score − now/τ)."""
    now = now or timezone.now()
    return math.exp(shader.hot_score - now.timestamp() / TAU)


def recency(published_at: datetime | None, now: datetime) -> float:
    if published_at is None:
        return 0.0
    return math.exp(-max(0.0, (now - published_at).total_seconds()) / TAU)


def published() -> QuerySet[Shader]:
    return Shader.objects.filter(status=ShaderStatus.PUBLISHED).select_related("owner")


def trending(qs: QuerySet[Shader] | None = None) -> QuerySet[Shader]:
    return (qs if qs is not None else published()).order_by("-hot_score", "-published_at")


def newest(qs: QuerySet[Shader] | None = None) -> QuerySet[Shader]:
    return (qs if qs is not None else published()).order_by("-published_at", "-created_at")


def top(qs: QuerySet[Shader] | None = None) -> QuerySet[Shader]:
    return (qs if qs is not None else published()).order_by("-score", "-upvotes", "-published_at")


def tag_filter(tags: Iterable[str]) -> Q:
    """Shaders carrying any of ``tags`` (portable across SQLite and PostgreSQL through ``tags_index``)."""
    query = Q()
    for tag in tags:
        query |= Q(tags_index__contains=f",{tag},")
    return query


def similar(shader: Shader, limit: int, offset: int = 0) -> list[Shader]:
    """Published shaders sharing tags with ``shader``, by Jaccard overlap, then score."""
    tags = set(shader.tags)
    if not tags:
        return []
    candidates = trending(published().filter(tag_filter(tags)).exclude(pk=shader.pk))[:CANDIDATES]

    def key(other: Shader) -> tuple[float, float, float]:
        theirs = set(other.tags)
        return (len(tags & theirs) / len(tags | theirs), other.score, other.hot_score)

    ranked = sorted(candidates, key=key, reverse=True)
    return ranked[offset : offset + limit]


def viewed_shader_ids(user_id: int | None, session_id: str | None, now: datetime) -> set:
    """Shaders this viewer viewed, dwelt on, replayed or voted on within ``VIEWED_WINDOW``."""
    if user_id is None and not session_id:
        return set()
    since = now - VIEWED_WINDOW
    who = Q(user_id=user_id) if user_id is not None else Q(session_id=session_id, user__isnull=True)
    seen = set(EngagementEvent.objects.filter(who, created_at__gte=since).values_list("shader_id", flat=True))
    if user_id is not None:  # a vote means the shader was seen, too
        seen |= set(
            Vote.objects.filter(user_id=user_id, updated_at__gte=since).values_list("shader_id", flat=True)
        )
    return seen


def tag_affinity(user_id: int, now: datetime) -> dict[str, float]:
    """Per-tag preference in [-1, 1] from the user's votes and dwell, recent signals weighing more."""
    weights: dict[str, float] = defaultdict(float)
    since = now - AFFINITY_WINDOW
    for tags, value, when in Vote.objects.filter(user_id=user_id, updated_at__gte=since).values_list(
        "shader__tags", "value", "updated_at"
    ):
        decay = math.exp(-(now - when).total_seconds() / AFFINITY_WINDOW.total_seconds())
        for tag in tags or []:
            weights[tag] += value * decay
    for tags, secs, when in EngagementEvent.objects.filter(
        user_id=user_id, kind=EventKind.DWELL, created_at__gte=since
    ).values_list("shader__tags", "dwell_secs", "created_at"):
        decay = math.exp(-(now - when).total_seconds() / AFFINITY_WINDOW.total_seconds())
        credit = min(secs or 0.0, 2 * DWELL_FULL_CREDIT_SECS) / DWELL_FULL_CREDIT_SECS
        for tag in tags or []:
            weights[tag] += credit * decay
    peak = max((abs(w) for w in weights.values()), default=0.0)
    return {tag: w / peak for tag, w in weights.items()} if peak else {}


def affinity_of(shader: Shader, affinity: dict[str, float]) -> float:
    """The mean affinity of the shader's tags, mapped from [-1, 1] onto [0, 1] (0.5 = no opinion)."""
    if not affinity or not shader.tags:
        return 0.5
    mean = sum(affinity.get(tag, 0.0) for tag in shader.tags) / len(shader.tags)
    return (mean + 1) / 2


@dataclass
class Ranked:
    shader: Shader
    value: float


def personalized(
    user_id: int | None,
    session_id: str | None = None,
    limit: int = 20,
    offset: int = 0,
    rng: random.Random | None = None,
    now: datetime | None = None,
) -> list[Ranked]:
    now = now or timezone.now()
    rng = rng or random.Random()
    pool = published().exclude(pk__in=viewed_shader_ids(user_id, session_id, now))
    if user_id is not None:
        pool = pool.exclude(owner_id=user_id)  # your own work is not news to you
    candidates = list(trending(pool)[:CANDIDATES])
    # Fresh shaders have no votes yet; make sure the newest are in the pool as well.
    known = {s.pk for s in candidates}
    candidates += [s for s in newest(pool)[: CANDIDATES // 5] if s.pk not in known]
    affinity = tag_affinity(user_id, now) if user_id is not None else {}
    weights = SIGNED_IN_WEIGHTS if user_id is not None else ANONYMOUS_WEIGHTS
    ranked = []
    for shader in candidates:
        value = (
            weights["affinity"] * affinity_of(shader, affinity)
            + weights["recency"] * recency(shader.published_at, now)
            + weights["score"] * shader.score
            + RANDOMNESS * rng.random()
        )
        ranked.append(Ranked(shader, value))
    ranked.sort(key=lambda r: r.value, reverse=True)
    return ranked[offset : offset + limit]
