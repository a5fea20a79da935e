"""A run's outputs: the summaries node runs and events show, and the artifacts stored for them.

The pipeline's own outputs (what reaches ``OUTPUT__``) are always stored: images as artifacts, the rest as
typed values. Intermediate images are stored only when the caller asked to see every node's result (the run
option ``store_intermediates``: the canvas, a Fizzly event stream).
"""

from __future__ import annotations

from typing import Any

from pipelines.nodes.base import ImageValue
from runs import artifacts
from runs.models import Run

# Run option: store every node's image outputs as artifacts, not only the pipeline's outputs.
STORE_INTERMEDIATES = "store_intermediates"
MAX_TEXT_SUMMARY = 20000


def summarize(value: Any) -> Any:
    """A JSON-safe summary of a node output (images are described, not embedded)."""
    if isinstance(value, ImageValue):
        return {
            "type": "image",
            "width": value.width,
            "height": value.height,
            "format": value.format,
            "metadata": value.metadata,
        }
    if isinstance(value, str) and len(value) > MAX_TEXT_SUMMARY:
        return value[:MAX_TEXT_SUMMARY] + "…"
    return value


def preview(run: Run, node_id: str, port: str, value: Any) -> Any:
    """The summary of an intermediate output, with its artifact when the run stores intermediates."""
    summary = summarize(value)
    if isinstance(value, ImageValue) and run.options.get(STORE_INTERMEDIATES):
        art = artifacts.store_image(
            run.billed_to, value, run=run, node_id=node_id, output_key=f"{node_id}.{port}"
        )
        summary["artifact_id"] = art.id
    return summary


def final_outputs(run: Run, node_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's outputs as a run reports them: images stored as artifacts, other values typed."""
    final: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, ImageValue):
            art = artifacts.store_image(run.billed_to, value, run=run, node_id=node_id, output_key=key)
            final[key] = {
                "type": "image",
                "artifact_id": art.id,
                "content_type": art.content_type,
                "width": art.width,
                "height": art.height,
                "metadata": art.metadata,
            }
        else:
            kind = (
                "text"
                if isinstance(value, str)
                else "number"
                if isinstance(value, int | float) and not isinstance(value, bool)
                else "json"
            )
            final[key] = {"type": kind, "value": value}
    return final
