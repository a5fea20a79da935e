"""Image inputs are stored once, as input artifacts the runs refer to by ``art_`` id.

A data: image sent inline would otherwise be copied into ``Run.inputs`` of every run of the request (a Fluxara
job of 16 runs) and rewritten with each save of the row. Here it is decoded once, checked from its header (no
pixels are decoded in the request), written to storage as an artifact owned by the caller (the same rule as
:func:`runs.inputs.input_artifact`, which resolves it at run time) and replaced by its id. The same bytes sent
again by the same caller reuse the artifact.

The image bytes a caller sends are bounded per request (413) and per user and hour (429); uploads made through
the studio count towards the hourly bound too, since they are stored the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import Min, Sum
from django.utils import timezone
from PIL import Image

from config.errors import PayloadTooLarge, RateLimited, ValidationFailed
from pipelines.nodes.base import NodeError
from runs import fetch
from runs.models import Artifact, new_artifact_id

EXTENSIONS = {"JPEG": "jpg", "TIFF": "tif"}
HOUR = timedelta(hours=1)


@dataclass
class DataImage:
    name: str
    data: bytes
    format: str
    width: int
    height: int
    sha256: str


@dataclass
class StoredInputs:
    # the inputs, each data: image replaced by the id of its input artifact
    values: dict[str, Any]
    # pixels of each image input whose size is known now (data: and art_ inputs), by input name
    pixels: dict[str, int] = field(default_factory=dict)


def image_input_names(schema: dict[str, Any]) -> list[str]:
    return [name for name, spec in schema.items() if spec.get("format") == "uri"]


def store_inputs(schema: dict[str, Any], inputs: dict[str, Any], owner: Any) -> StoredInputs:
    """Store the data: images of validated ``inputs`` as ``owner``'s input artifacts; bound their bytes."""
    values = dict(inputs)
    images = [
        _decode(name, values[name])
        for name in image_input_names(schema)
        if isinstance(values.get(name), str) and values[name].startswith("data:")
    ]
    stored = StoredInputs(values)
    if images:
        # the same bytes sent before by this caller: stored once, counted once (one query per image)
        known = {image.sha256: _existing(owner, image) for image in images}
        _check_bytes(owner, images, known)
        for image in images:
            artifact = known[image.sha256] or _store(owner, image)
            known[image.sha256] = artifact
            values[image.name] = artifact.id
            stored.pixels[image.name] = image.width * image.height
    refs = {
        name: values[name]
        for name in image_input_names(schema)
        if str(values.get(name, "")).startswith("art_")
    }
    refs = {name: ref for name, ref in refs.items() if name not in stored.pixels}
    if refs:
        sizes = {
            a["id"]: (a["width"] or 0) * (a["height"] or 0)
            for a in Artifact.objects.filter(pk__in=refs.values(), owner=owner).values(
                "id", "width", "height"
            )
        }
        stored.pixels.update({name: sizes[ref] for name, ref in refs.items() if sizes.get(ref)})
    return stored


def _decode(name: str, uri: str) -> DataImage:
    """The bytes, format and size of a data: image, read from its header (the node decodes the pixels)."""
    try:
        data = fetch.data_uri_bytes(uri)
        image = fetch.open_image(data)
    except NodeError as exc:
        raise ValidationFailed(
            f"Input '{name}': {exc.message}", code=exc.code, details={"input": name, **exc.details}
        ) from exc
    return DataImage(name, data, image.format, image.width, image.height, hashlib.sha256(data).hexdigest())


def _existing(owner: Any, image: DataImage) -> Artifact | None:
    return Artifact.objects.filter(owner=owner, run=None, metadata__sha256=image.sha256).first()


def _check_bytes(owner: Any, images: list[DataImage], known: dict[str, Artifact | None]) -> None:
    total = sum(len(image.data) for image in images)
    per_request = settings.INPUT_MAX_BYTES_PER_REQUEST
    if total > per_request:
        raise PayloadTooLarge(
            f"The request's images are {total} bytes; at most {per_request} bytes of images per request",
            details={"input_bytes": total, "max_input_bytes": per_request},
        )
    check_hourly_quota(owner, sum(len(image.data) for image in images if known[image.sha256] is None))


def check_hourly_quota(owner: Any, new: int) -> None:
    """429 when ``new`` more bytes of input images (data: inputs and uploads alike) would pass the hour's
    bound of ``owner``."""
    if not new:
        return
    per_hour = settings.INPUT_MAX_BYTES_PER_USER_PER_HOUR
    window = Artifact.objects.filter(owner=owner, run=None, created_at__gte=timezone.now() - HOUR).aggregate(
        used=Sum("size"), oldest=Min("created_at")
    )
    used = window["used"] or 0
    if used + new > per_hour:
        retry = (window["oldest"] + HOUR - timezone.now()).total_seconds() if window["oldest"] else 3600
        raise RateLimited(
            f"At most {per_hour} bytes of input images per hour; {used} bytes sent in the last hour",
            code="INPUT_QUOTA_EXCEEDED",
            retry_after=max(1, int(retry) + 1),
            details={"input_bytes_last_hour": used, "max_input_bytes_per_hour": per_hour},
        )


def _store(owner: Any, image: DataImage) -> Artifact:
    artifact_id = new_artifact_id()
    artifact = Artifact(
        id=artifact_id,
        owner=owner,
        content_type=Image.MIME.get(image.format, "application/octet-stream"),
        width=image.width,
        height=image.height,
        size=len(image.data),
        metadata={"input": image.name, "sha256": image.sha256},
    )
    ext = EXTENSIONS.get(image.format, image.format.lower())
    artifact.file.save(f"{artifact_id}.{ext}", ContentFile(image.data), save=False)
    artifact.save()
    return artifact
