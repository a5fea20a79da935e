"""Artifacts: image outputs encoded and written to the default storage."""

from __future__ import annotations

import io
from typing import Any

from django.core.files.base import ContentFile

from config import media
from pipelines.nodes.base import ImageValue
from runs.models import Artifact, new_artifact_id

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


def encode(value: ImageValue) -> tuple[bytes, str]:
    fmt = value.format.upper() if value.format and value.format.upper() in CONTENT_TYPES else "PNG"
    image = value.image
    kwargs: dict[str, Any] = {}
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        kwargs["quality"] = int(value.metadata.get("quality", 92))
    elif fmt == "WEBP":
        kwargs["quality"] = int(value.metadata.get("quality", 90))
    elif fmt == "PNG":
        kwargs["compress_level"] = 1  # fast; outputs are short-lived
        if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            image = image.convert("RGBA")
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue(), fmt


def store_image(
    owner: Any, value: ImageValue, *, run: Any = None, node_id: str = "", output_key: str = ""
) -> Artifact:
    data, fmt = encode(value)
    artifact_id = new_artifact_id()
    artifact = Artifact(
        id=artifact_id,
        owner=owner,
        run=run,
        node_id=node_id,
        output_key=output_key,
        content_type=CONTENT_TYPES[fmt],
        width=value.width,
        height=value.height,
        size=len(data),
        metadata={k: v for k, v in value.metadata.items() if k != "quality"},
    )
    artifact.file.save(f"{artifact_id}.{EXTENSIONS[fmt]}", ContentFile(data), save=False)
    artifact.save()
    return artifact


def public_url(artifact: Artifact, request: Any = None) -> str:
    """Absolute, signed and expiring URL of the file (config.media): hand it only to who may read the run."""
    return media.absolute_url(artifact.file.name, request)


def describe(artifact: Artifact, request: Any = None) -> dict[str, Any]:
    return {
        "type": "image",
        "artifact_id": artifact.id,
        "url": public_url(artifact, request),
        "content_type": artifact.content_type,
        "width": artifact.width,
        "height": artifact.height,
        "metadata": artifact.metadata,
    }


VALUE_TYPES = {"text": ("text/plain; charset=utf-8", "txt"), "number": ("application/json", "json")}


def store_value(owner: Any, kind: str, value: Any, *, run: Any, output_key: str) -> Artifact:
    """A text, number or JSON output of ``run`` as a file, for surfaces whose outputs are all artifacts."""
    import json

    content_type, ext = VALUE_TYPES.get(kind, ("application/json", "json"))
    data = value.encode() if ext == "txt" else json.dumps(value, ensure_ascii=False).encode()
    artifact_id = new_artifact_id()
    artifact = Artifact(
        id=artifact_id, owner=owner, run=run, output_key=output_key, content_type=content_type, size=len(data)
    )
    artifact.file.save(f"{artifact_id}.{ext}", ContentFile(data), save=False)
    artifact.save()
    return artifact
