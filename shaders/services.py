"""Shader rules: who sees and edits what, versions, forks, restores, publishing quota, search.

Views, the MCP server, admin and the demo seeder call these; none of them re-implements a rule.
A draft or archived shader exists only for its owner: everyone else gets 404, as if it did not exist.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from config import media
from config.errors import BadRequest, Forbidden, NotFound, RateLimited
from shaders import feed, glsl
from shaders.models import RenderStatus, Shader, ShaderStatus, ShaderType, ShaderVersion

FREE_PUBLISHES_PER_MONTH = 5
MAX_TAGS = 10
MAX_TAG_CHARS = 32
METADATA_FIELDS = ("title", "description", "tags", "shader_type")
_TAG_CLEAN = re.compile(r"[^a-z0-9 _-]+")
_trigram_cache: dict[str, bool] = {}


# --- lookups --------------------------------------------------------------------------------------


def parse_uuid(raw: Any, what: str = "Shader") -> uuid.UUID:
    """Path ids that are not UUIDs name nothing: 404 with the seed's message."""
    try:
        return raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"{what} not found") from None


def visible_to(user: User | None) -> Q:
    if user is not None and user.is_authenticated:
        return Q(status=ShaderStatus.PUBLISHED) | Q(owner_id=user.pk)
    return Q(status=ShaderStatus.PUBLISHED)


def get_visible(user: User | None, shader_id: Any) -> Shader:
    pk = parse_uuid(shader_id)
    shader = Shader.objects.select_related("owner", "forked_from").filter(visible_to(user), pk=pk).first()
    if shader is None:
        raise NotFound("Shader not found")
    return shader


def get_owned(user: User, shader_id: Any, *, lock: bool = False) -> Shader:
    """The shader if ``user`` owns it; 403 when it is someone else's published shader, 404 otherwise."""
    shader = get_visible(user, shader_id)
    if shader.owner_id != user.pk:
        raise Forbidden("Not the owner of this shader")
    if lock:
        shader = Shader.objects.select_for_update().select_related("owner").get(pk=shader.pk)
    return shader


def get_version(shader: Shader, number: int) -> ShaderVersion:
    version = shader.versions.filter(number=number).first()
    if version is None:
        raise NotFound("Version not found")
    return version


# --- normalisation --------------------------------------------------------------------------------


def normalize_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, list | tuple):
        raise BadRequest("tags: expected a list of strings")
    clean: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise BadRequest("tags: expected a list of strings")
        tag = " ".join(_TAG_CLEAN.sub(" ", tag.strip().lower()).split())[:MAX_TAG_CHARS]
        if tag and tag not in clean:
            clean.append(tag)
    if len(clean) > MAX_TAGS:
        raise BadRequest(f"tags: at most {MAX_TAGS} tags")
    return clean


def _set_tags(shader: Shader, tags: list[str]) -> None:
    shader.tags = tags
    shader.tags_index = "," + ",".join(tags) + "," if tags else ""


# --- publishing -----------------------------------------------------------------------------------


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(now: datetime) -> datetime:
    start = _month_start(now)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def publishes_this_month(user: User, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return Shader.objects.filter(owner=user, first_published_at__gte=_month_start(now)).count()


def check_publish_quota(user: User) -> None:
    """Free tier: five first-time publications per calendar month (UTC); Pro and Ultimate are unlimited."""
    if user.is_pro or user.is_staff:
        return
    # Serialise concurrent publications by the same user so the count cannot be raced past the limit.
    User.objects.select_for_update().filter(pk=user.pk).first()
    now = timezone.now()
    if publishes_this_month(user, now) >= FREE_PUBLISHES_PER_MONTH:
        raise RateLimited(
            f"Free tier limit reached: {FREE_PUBLISHES_PER_MONTH} published shaders per month",
            retry_after=max(1, int((_next_month(now) - now).total_seconds())),
            code="PUBLISH_LIMIT",
        )


def _mark_published(shader: Shader) -> None:
    now = timezone.now()
    shader.status = ShaderStatus.PUBLISHED
    shader.published_at = now
    shader.first_published_at = shader.first_published_at or now
    shader.hot_score = feed.hot_score(shader.score, now)
    shader.render_status = RenderStatus.PENDING


def schedule_render(shader: Shader) -> None:
    """Queue the thumbnail/preview render once the surrounding transaction has committed."""
    from django_q.tasks import async_task

    shader_id = str(shader.pk)
    transaction.on_commit(
        lambda: async_task("shaders.tasks.render_shader", shader_id, task_name=f"render shader {shader_id}")
    )


# --- lifecycle ------------------------------------------------------------------------------------


def _snapshot(shader: Shader, user: User | None, note: str) -> ShaderVersion:
    return ShaderVersion.objects.create(
        shader=shader,
        number=shader.current_version,
        glsl_code=shader.glsl_code,
        title=shader.title,
        description=shader.description,
        tags=list(shader.tags),
        shader_type=shader.shader_type,
        change_note=note[:300],
        created_by=user,
    )


@dataclass
class Saved:
    shader: Shader
    warnings: list[glsl.Diagnostic]
    created_version: bool


def create_shader(
    user: User,
    *,
    title: str,
    glsl_code: str,
    description: str = "",
    tags: Any = None,
    shader_type: str = ShaderType.TWO_D,
    status: str = ShaderStatus.DRAFT,
    change_note: str = "",
    is_system: bool = False,
) -> Saved:
    result = glsl.require_valid(glsl_code)
    with transaction.atomic():
        shader = Shader(
            owner=user,
            title=title,
            description=description,
            shader_type=shader_type,
            glsl_code=glsl_code,
            is_system=is_system,
            current_version=1,
        )
        _set_tags(shader, normalize_tags(tags))
        if status == ShaderStatus.PUBLISHED:
            check_publish_quota(user)
            _mark_published(shader)
        else:
            shader.status = status
        shader.save()
        _snapshot(shader, user, change_note or "Created")
        if shader.is_published:
            schedule_render(shader)
    return Saved(shader, result.warnings, True)


def update_shader(user: User, shader_id: Any, changes: dict[str, Any]) -> Saved:
    """Apply ``changes``; a change of code or metadata writes a new version, a published change re-renders."""
    warnings: list[glsl.Diagnostic] = []
    if "glsl_code" in changes:
        warnings = glsl.require_valid(changes["glsl_code"]).warnings
    with transaction.atomic():
        shader = get_owned(user, shader_id, lock=True)
        changed_code = "glsl_code" in changes and changes["glsl_code"] != shader.glsl_code
        if changed_code:
            shader.glsl_code = changes["glsl_code"]
        changed_meta = False
        for name in METADATA_FIELDS:
            if name not in changes:
                continue
            value = normalize_tags(changes[name]) if name == "tags" else changes[name]
            if value != getattr(shader, name):
                changed_meta = True
                if name == "tags":
                    _set_tags(shader, value)
                else:
                    setattr(shader, name, value)
        new_status = changes.get("status", shader.status)
        publishing = new_status == ShaderStatus.PUBLISHED and not shader.is_published
        if publishing:
            if shader.first_published_at is None:
                check_publish_quota(user)
            _mark_published(shader)
        elif new_status != shader.status:
            shader.status = new_status
        if changed_code or changed_meta:
            shader.current_version += 1
        if shader.is_published and (changed_code or publishing):
            shader.render_status = RenderStatus.PENDING
        shader.save()
        if changed_code or changed_meta:
            _snapshot(shader, user, changes.get("change_note") or "")
        if shader.is_published and (changed_code or publishing):
            schedule_render(shader)
    return Saved(shader, warnings, changed_code or changed_meta)


def restore_version(user: User, shader_id: Any, number: int) -> Saved:
    """Bring back version ``number``'s code and metadata as a new version (history is never rewritten)."""
    with transaction.atomic():
        shader = get_owned(user, shader_id, lock=True)
        version = get_version(shader, number)
        code_changed = version.glsl_code != shader.glsl_code
        shader.glsl_code = version.glsl_code
        shader.title, shader.description, shader.shader_type = (
            version.title,
            version.description,
            version.shader_type,
        )
        _set_tags(shader, list(version.tags))
        shader.current_version += 1
        if shader.is_published and code_changed:
            shader.render_status = RenderStatus.PENDING
        shader.save()
        _snapshot(shader, user, f"Restored from version {number}")
        if shader.is_published and code_changed:
            schedule_render(shader)
    return Saved(shader, [], True)


def fork_shader(user: User, shader_id: Any) -> Shader:
    """A draft copy owned by ``user``, linked to the original (its code was validated when saved)."""
    source = get_visible(user, shader_id)
    with transaction.atomic():
        fork = Shader(
            owner=user,
            title=source.title,
            description=source.description,
            shader_type=source.shader_type,
            glsl_code=source.glsl_code,
            status=ShaderStatus.DRAFT,
            forked_from=source,
            current_version=1,
        )
        _set_tags(fork, list(source.tags))
        fork.save()
        _snapshot(fork, user, f"Forked from {source.pk} v{source.current_version}")
    return fork


def delete_shader(user: User, shader_id: Any) -> None:
    """Delete with its versions, votes and events (database cascade) and its rendered files."""
    shader = get_owned(user, shader_id)
    delete_files(shader)
    shader.delete()


def delete_files(shader: Shader) -> None:
    media.delete_on_commit([f.name for f in (shader.thumbnail, shader.preview) if f.name])


def save_from_admin(shader: Shader, user: User, changed: list[str], created: bool) -> None:
    """Save an admin edit: tags normalised, a version for changed code or metadata, a render when due."""
    _set_tags(shader, normalize_tags(shader.tags))
    versioned = created or any(name in changed for name in ("glsl_code", *METADATA_FIELDS))
    with transaction.atomic():
        if shader.is_published and shader.published_at is None:
            _mark_published(shader)
        if versioned and not created:
            shader.current_version += 1
        shader.save()
        if versioned:
            _snapshot(shader, user, "Created in admin" if created else "Edited in admin")
        if shader.is_published and (created or "glsl_code" in changed or "status" in changed):
            shader.render_status = RenderStatus.PENDING
            shader.save(update_fields=["render_status"])
            schedule_render(shader)


def record_view(shader: Shader, user: User | None, session_id: str = "") -> None:
    from shaders import engagement

    engagement.record_view(shader, user, session_id)


# --- listing and search ---------------------------------------------------------------------------

SORTS = {"trending": feed.trending, "new": feed.newest, "top": feed.top}


def trigram_available(alias: str = "default") -> bool:
    """pg_trgm installed on this PostgreSQL database (migration 0002 creates it where it can)."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return False
    name = str(connection.settings_dict.get("NAME"))
    if name not in _trigram_cache:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            _trigram_cache[name] = cursor.fetchone() is not None
    return _trigram_cache[name]


def search(
    *,
    q: str = "",
    tags: list[str] | None = None,
    shader_type: str | None = None,
    system: bool | None = None,
    sort: str = "trending",
) -> QuerySet[Shader]:
    qs = feed.published()
    if shader_type:
        qs = qs.filter(shader_type=shader_type)
    if system is not None:
        qs = qs.filter(is_system=system)
    if tags:
        qs = qs.filter(feed.tag_filter(tags))
    qs = SORTS[sort](qs)
    if q:
        if trigram_available():
            from django.contrib.postgres.search import TrigramSimilarity

            qs = qs.annotate(similarity=TrigramSimilarity("title", q)).filter(
                Q(similarity__gte=0.15) | Q(title__icontains=q)
            )
            qs = qs.order_by("-similarity", *qs.query.order_by)
        else:
            qs = qs.filter(title__icontains=q)
    return qs


def mine(user: User, status: str | None = None) -> QuerySet[Shader]:
    qs = Shader.objects.filter(owner=user).select_related("owner").order_by("-updated_at")
    return qs.filter(status=status) if status else qs
