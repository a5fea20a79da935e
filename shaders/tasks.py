"""django-q2 task entries of the shader community. Each tolerates a row deleted since it was queued."""

from __future__ import annotations

import logging
from uuid import UUID

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from shaders import glsl, render
from shaders.models import RenderStatus, Shader

logger = logging.getLogger(__name__)


def _replace_file(field, name: str, content: bytes) -> None:  # noqa: ANN001 - a FieldFile
    """Store under upload_to (``shaders/``) + ``name`` and drop the previous file."""
    old = field.name
    field.save(name, ContentFile(content), save=False)
    if old and old != field.name:
        default_storage.delete(old)


def render_shader(shader_id: str | UUID) -> str:
    """Render the shader's current code to a PNG thumbnail and an animated preview in default storage."""
    shader = Shader.objects.filter(pk=shader_id).first()
    if shader is None:
        return "gone"
    version, code = shader.current_version, shader.glsl_code
    try:
        output = render.render(glsl.wrap(code), glsl.VERTEX_SHADER)
    except render.RenderError as exc:
        logger.warning("render of shader %s v%s failed: %s", shader_id, version, exc)
        Shader.objects.filter(pk=shader_id).update(
            render_status=RenderStatus.FAILED, render_error=str(exc)[:2000]
        )
        return "failed"
    with transaction.atomic():
        shader = Shader.objects.select_for_update().filter(pk=shader_id).first()
        if shader is None:
            return "gone"
        if shader.current_version != version:
            return "stale"  # a newer version was saved meanwhile; its own render is queued
        _replace_file(shader.thumbnail, f"{shader.pk}/thumbnail-v{version}.png", output.thumbnail)
        _replace_file(
            shader.preview, f"{shader.pk}/preview-v{version}.{output.preview_format}", output.preview
        )
        shader.render_status = RenderStatus.DONE
        shader.render_error = ""
        shader.rendered_version = version
        shader.save(
            update_fields=["thumbnail", "preview", "render_status", "render_error", "rendered_version"]
        )
    return "done"


def embed_desire(desire_id: str | UUID) -> str:
    """Embed a desire's prompt, place it in a cluster and refresh the cluster's heat scores."""
    from shaders import desires

    return desires.embed_and_cluster(desire_id)
