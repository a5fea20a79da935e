"""Votes and engagement events (views, dwell, replays): the signals behind scores and the feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.models import User
from config.errors import Conflict, NotFound
from shaders import feed
from shaders.models import EngagementEvent, EventKind, Shader, ShaderStatus, Vote

MAX_DWELL_SECS = 3600.0


@dataclass
class VoteResult:
    shader: Shader
    value: int | None
    created: bool


def _votable(user: User, shader_id) -> Shader:  # noqa: ANN001
    from shaders.services import get_visible

    shader = get_visible(user, shader_id)
    if shader.status != ShaderStatus.PUBLISHED:
        raise NotFound("Shader not found")  # drafts take no votes, not even the owner's
    return shader


def recalculate_score(shader_id) -> Shader:  # noqa: ANN001
    """Recount votes and rewrite the Wilson score and trending key (inside the caller's transaction)."""
    shader = Shader.objects.select_for_update().get(pk=shader_id)
    counts = Vote.objects.filter(shader_id=shader_id).aggregate(
        up=Count("pk", filter=Q(value=1)), down=Count("pk", filter=Q(value=-1))
    )
    shader.upvotes, shader.downvotes = counts["up"], counts["down"]
    shader.score = feed.wilson_lower_bound(shader.upvotes, shader.downvotes)
    shader.hot_score = feed.hot_score(shader.score, shader.published_at or shader.created_at)
    shader.save(update_fields=["upvotes", "downvotes", "score", "hot_score"])
    return shader


def cast_vote(user: User, shader_id, value: int) -> VoteResult:  # noqa: ANN001
    """Cast or change a vote; the same vote twice is a 409 (the seed's duplicate vote)."""
    shader = _votable(user, shader_id)
    try:
        with transaction.atomic():
            vote = Vote.objects.select_for_update().filter(shader=shader, user=user).first()
            if vote is not None and vote.value == value:
                raise Conflict("Already voted with this value", code="DUPLICATE_VOTE")
            created = vote is None
            if created:
                Vote.objects.create(shader=shader, user=user, value=value)
            else:
                vote.value = value
                vote.save(update_fields=["value", "updated_at"])
            shader = recalculate_score(shader.pk)
    except IntegrityError:  # a concurrent first vote by the same user won the unique constraint
        raise Conflict("Already voted", code="DUPLICATE_VOTE") from None
    return VoteResult(shader, value, created)


def remove_vote(user: User, shader_id) -> VoteResult:  # noqa: ANN001
    shader = _votable(user, shader_id)
    with transaction.atomic():
        deleted, _ = Vote.objects.filter(shader=shader, user=user).delete()
        if not deleted:
            raise NotFound("Vote not found")
        shader = recalculate_score(shader.pk)
    return VoteResult(shader, None, False)


def _actor(user: User | None) -> User | None:
    return user if user is not None and user.is_authenticated else None


def record_view(shader: Shader, user: User | None, session_id: str = "") -> None:
    """Count a detail view; remember who saw it so the personalised feed can leave it out."""
    Shader.objects.filter(pk=shader.pk).update(view_count=F("view_count") + 1)
    shader.view_count += 1
    actor = _actor(user)
    if actor is not None or session_id:
        EngagementEvent.objects.create(
            shader=shader, user=actor, session_id=session_id[:128], kind=EventKind.VIEW
        )


def record_dwell(user: User | None, shader_id, dwell_secs: float, session_id: str = "") -> EngagementEvent:  # noqa: ANN001
    from shaders.services import get_visible

    shader = get_visible(user, shader_id)
    return EngagementEvent.objects.create(
        shader=shader,
        user=_actor(user),
        session_id=(session_id or "")[:128],
        kind=EventKind.DWELL,
        dwell_secs=min(float(dwell_secs), MAX_DWELL_SECS),
    )


def record_replay(user: User | None, shader_id, session_id: str = "") -> EngagementEvent:  # noqa: ANN001
    from shaders.services import get_visible

    shader = get_visible(user, shader_id)
    return EngagementEvent.objects.create(
        shader=shader, user=_actor(user), session_id=(session_id or "")[:128], kind=EventKind.REPLAY
    )


def prune_events(older_than_days: int = 180) -> int:
    """Drop old engagement rows (the feed reads 90 days at most)."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = EngagementEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
