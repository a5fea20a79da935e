"""The node-output store: the node-output cache, and the outputs a resumed run reuses.

A cacheable node's outputs are keyed by content: its node type and version, its resolved params, the hashes
of its input values and the account that owns them (a cache never answers one user with another's work).
Running the same graph on the same inputs again reuses every unchanged node's outputs; changing one param
changes that node's key, so it and the nodes after it (whose input hashes change) run again. A node type that
is not deterministic (``cacheable = False``) is never looked up, but its outputs are still stored under a key
of its run, so that resuming the run reuses them.

Outputs are serialized in the node's own thread (:func:`serialize`: images as lossless PNG, or TIFF for the
modes PNG cannot hold, the rest as JSON) and written by the engine (:func:`store`). The store is bounded by
NODE_CACHE_MAX_BYTES: writing past it removes the least recently used entries.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import struct
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from config.media import delete_on_commit
from pipelines.nodes.base import ImageValue, NodeType
from runs.models import NodeOutput

logger = logging.getLogger(__name__)

PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}
HEADER = struct.Struct(">I")


class Unhashable(Exception):
    """A value the cache cannot key (the node then simply runs)."""


def value_hash(value: Any) -> str:
    h = hashlib.sha256()
    if isinstance(value, ImageValue):
        image = value.image
        h.update(f"image:{image.mode}:{image.width}x{image.height}:{value.format}:".encode())
        h.update(json.dumps(value.metadata, sort_keys=True, default=str).encode())
        h.update(image.tobytes())
        return h.hexdigest()
    try:
        h.update(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())
    except (TypeError, ValueError) as exc:
        raise Unhashable(str(exc)) from exc
    return h.hexdigest()


def content_key(
    owner_id: int, node_type: type[NodeType], params: dict, inputs: dict[str, Any], context: dict[str, Any]
) -> str | None:
    """The cache key of a cacheable node run, None when the node is not cacheable or an input has no hash.

    ``context``: what else the node reads (the surface's run options it honours, the run input it exposes)."""
    if not node_type.cacheable:
        return None
    try:
        material = {
            "owner": owner_id,
            "type": node_type.type,
            "version": node_type.version,
            "params": params,
            "inputs": {port: value_hash(v) for port, v in sorted(inputs.items())},
            "context": context,
        }
        blob = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    except (Unhashable, TypeError, ValueError):
        return None
    return "n:" + hashlib.sha256(blob.encode()).hexdigest()


def run_key(run_id: str, node_id: str) -> str:
    """The key of a node's outputs kept for a resume of its run (nodes that are not cacheable)."""
    return "r:" + hashlib.sha256(f"{run_id}/{node_id}".encode()).hexdigest()


# -- (de)serialization: no database, safe in a node's thread -------------------------------------------------


def serialize(outputs: dict[str, Any]) -> bytes | None:
    """The outputs as one blob, None when a value is neither an image nor JSON."""
    ports: dict[str, Any] = {}
    blobs: list[bytes] = []
    offset = 0
    for port, value in outputs.items():
        if isinstance(value, ImageValue):
            buf = io.BytesIO()
            codec = "PNG" if value.image.mode in PNG_MODES else "TIFF"
            save = {"compress_level": 1} if codec == "PNG" else {}
            value.image.save(buf, codec, **save)
            data = buf.getvalue()
            ports[port] = {
                "kind": "image",
                "format": value.format,
                "metadata": value.metadata,
                "source": value.source,
                "offset": offset,
                "length": len(data),
            }
            blobs.append(data)
            offset += len(data)
        else:
            ports[port] = {"kind": "json", "value": value}
    try:
        header = json.dumps(ports, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return None
    return HEADER.pack(len(header)) + header + b"".join(blobs)


def deserialize(data: bytes) -> dict[str, Any]:
    from PIL import Image

    (size,) = HEADER.unpack_from(data)
    ports = json.loads(data[HEADER.size : HEADER.size + size])
    body = memoryview(data)[HEADER.size + size :]
    outputs: dict[str, Any] = {}
    for port, spec in ports.items():
        if spec["kind"] == "image":
            raw = bytes(body[spec["offset"] : spec["offset"] + spec["length"]])
            image = Image.open(io.BytesIO(raw))
            image.load()
            outputs[port] = ImageValue(image, spec["format"], spec["metadata"], spec["source"])
        else:
            outputs[port] = spec["value"]
    return outputs


# -- the store: the engine's thread ------------------------------------------------------------------------


def load(key: str, owner_id: int, *, hit: bool = True) -> dict[str, Any] | None:
    """The outputs stored under ``key`` for ``owner_id``; None when absent (evicted, never stored) or
    unreadable. Marks the entry used (and, for a cache ``hit``, counts it)."""
    entry = NodeOutput.objects.filter(key=key, owner_id=owner_id).first()
    if entry is None:
        return None
    try:
        with entry.file.open("rb") as fh:
            outputs = deserialize(fh.read())
    except Exception:  # noqa: BLE001 - a lost or damaged entry is a miss, never a failed run
        logger.warning("node output %s is unreadable; dropped", key, exc_info=True)
        entry.delete()
        delete_on_commit([entry.file.name])
        return None
    NodeOutput.objects.filter(pk=entry.pk).update(
        last_used_at=timezone.now(), hits=F("hits") + (1 if hit else 0)
    )
    return outputs


def store(key: str, owner_id: int, node_type: str, blob: bytes) -> None:
    """Keep ``blob`` under ``key`` (a key already stored is left as it is), then keep the store in bounds."""
    if len(blob) > settings.NODE_CACHE_MAX_BYTES or NodeOutput.objects.filter(key=key).exists():
        return
    entry = NodeOutput(key=key, owner_id=owner_id, node_type=node_type, size=len(blob))
    entry.file.save(f"{key.replace(':', '-')}.bin", ContentFile(blob), save=False)
    try:
        with transaction.atomic():
            entry.save()
    except Exception:  # noqa: BLE001 - a concurrent run stored the same key first: keep theirs
        entry.file.storage.delete(entry.file.name)
        return
    evict()


def prepare_rerun(node_runs: list[Any], owner_id: int) -> list[str]:
    """Get a run's node runs ready to run again (a resume, a requeue after a lost worker): a completed node
    whose outputs are still stored is kept and marked reused, every other node is reset. Saves them and
    returns the ids of the reused nodes."""
    from runs.models import NodeRun, NodeStatus

    refs = [nr.output_ref for nr in node_runs if nr.output_ref]
    stored = set(NodeOutput.objects.filter(owner_id=owner_id, key__in=refs).values_list("key", flat=True))
    reused = []
    for nr in node_runs:
        if nr.status == NodeStatus.COMPLETED and nr.output_ref in stored:
            nr.reused = True
            reused.append(nr.node_id)
        else:
            nr.reset()
    NodeRun.objects.bulk_update(node_runs, NodeRun.RESET_FIELDS)
    return reused


def evict(limit: int | None = None) -> int:
    """Remove least recently used entries until the store holds at most ``limit`` bytes; returns how many."""
    limit = settings.NODE_CACHE_MAX_BYTES if limit is None else limit
    total = NodeOutput.objects.aggregate(s=Sum("size"))["s"] or 0
    removed = 0
    while total > limit:
        batch = list(NodeOutput.objects.order_by("last_used_at", "pk")[:50])
        if not batch:
            break
        for entry in batch:
            if total <= limit:
                break
            entry.delete()
            delete_on_commit([entry.file.name])
            total -= entry.size
            removed += 1
    return removed
