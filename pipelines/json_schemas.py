"""A published version's inputs and outputs as JSON Schema, for the callers that take one schema object:
an MCP tool's ``inputSchema`` and a Replicate model version's ``Input``/``Output`` (Cog's OpenAPI schema).

The version stores them in the FractalQ docs shape (one entry per input: its type, ``required``,
``description`` and the node it feeds); these functions only translate that shape."""

from __future__ import annotations

from typing import Any

IMAGE_INPUT_NOTE = "an image: its https URL, or a data: URI (data:image/png;base64,…)"
DOCS_ONLY = ("required", "node")


def input_json_schema(input_schema: dict[str, Any], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ``object`` schema: a property per input, the required ones listed, nothing else accepted."""
    properties: dict[str, Any] = {}
    for name, spec in input_schema.items():
        prop = {k: v for k, v in spec.items() if k not in DOCS_ONLY and v not in ("", None)}
        if prop.get("format") == "uri":
            what = prop.get("description", "").rstrip(".")
            prop["description"] = f"{what}: {IMAGE_INPUT_NOTE}" if what else IMAGE_INPUT_NOTE.capitalize()
            prop.pop("format")  # a data: URI is welcome too, which JSON Schema's uri format would refuse
        if examples and name in examples:
            prop["examples"] = [examples[name]]
        properties[name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(name for name, spec in input_schema.items() if spec.get("required", True)),
        "additionalProperties": False,
    }


def output_json_schema(output_schema: dict[str, Any], single_as_value: bool = False) -> dict[str, Any]:
    """The outputs as an ``object`` schema; ``single_as_value``: a version with one output answers that value
    itself (as a Replicate model's output is)."""
    properties = {
        name: {k: v for k, v in spec.items() if k not in DOCS_ONLY} for name, spec in output_schema.items()
    }
    if single_as_value and len(properties) == 1:
        return next(iter(properties.values()))
    return {"type": "object", "properties": properties}
