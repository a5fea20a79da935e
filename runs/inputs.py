"""Run inputs: checked against the published input schema at submit, resolved by nodes at run time."""

from __future__ import annotations

from typing import Any

from config.errors import BadRequest, ValidationFailed
from pipelines.nodes.base import ImageValue, NodeError
from runs import fetch
from runs.models import Artifact

MAX_TEXT = 100_000


def validate_inputs(schema: dict[str, Any], inputs: Any) -> dict[str, Any]:
    """Raise 400 (missing/malformed) or 422 (semantically invalid) errors; return the clean inputs."""
    if not isinstance(inputs, dict):
        raise BadRequest("'inputs' must be an object of key/value pairs", code="INVALID_REQUEST")
    unknown = sorted(set(inputs) - set(schema))
    if unknown:
        raise BadRequest(
            f"Unknown input: {unknown[0]}", code="UNKNOWN_INPUT", details={"expected": sorted(schema)}
        )
    for name, spec in schema.items():
        value = inputs.get(name)
        if value in (None, ""):
            if spec.get("required", True):
                raise BadRequest(f"Missing required input: {name}", code="MISSING_INPUT")
            continue
        if spec.get("type") == "string" and not isinstance(value, str):
            raise BadRequest(f"Input '{name}' must be a string", code="INVALID_INPUT")
        if isinstance(value, str) and len(value) > MAX_TEXT and not value.startswith("data:"):
            raise ValidationFailed(f"Input '{name}' is too long", code="INVALID_INPUT")
        if spec.get("format") == "uri":
            _check_image_ref(name, value)
    return dict(inputs)


def _check_image_ref(name: str, value: str) -> None:
    if value.startswith(("art_", "data:image/")):
        return
    if not value.startswith(("http://", "https://")):
        raise ValidationFailed(
            f"Input '{name}' must be an http(s) URL, a data: image URI or an uploaded art_ id",
            code="INVALID_INPUT",
        )


def load_image(ref: str, run: Any) -> ImageValue:
    """Resolve an image reference for a node of ``run``."""
    if ref.startswith("art_"):
        return read_artifact_image(input_artifact(ref, run), ref)
    if ref.startswith("data:"):
        return fetch.decode_data_uri(ref)
    return fetch.fetch_image(ref)


def read_artifact_image(artifact: Artifact | None, ref: str) -> ImageValue:
    """The decoded image of an input artifact found by :func:`input_artifact` (None: not found)."""
    if artifact is None:
        raise NodeError(f"artifact {ref} not found", code="INVALID_INPUT")
    with artifact.file.open("rb") as fh:
        return fetch.decode_image(fh.read(), source=ref)


def input_artifact(ref: str, run: Any) -> Artifact | None:
    """The artifact ``ref`` when the caller of ``run`` owns it, else None (reported as not found).

    The caller is the user who submitted the run (``requested_by``), else the user it is billed to. Never the
    pipeline's owner as such: a public pipeline must not become a way for its consumers to read the owner's
    private uploads and outputs, nor the other way round. A FractalQ call is made with the owner's session key
    and billed to the owner, so the owner's artifacts are its caller's."""
    caller_id = run.requested_by_id or run.billed_to_id
    return Artifact.objects.filter(pk=ref, owner_id=caller_id).first()
