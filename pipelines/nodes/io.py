"""I/O nodes from the FractalQ seed: INPUT__IMAGE, INPUT__TEXT and the OUTPUT__ sink."""

from __future__ import annotations

from typing import Any

from pipelines.nodes.base import NodeContext, NodeError, NodeType, Port, register

NAME_PARAM = {
    "type": "string",
    "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$",
    "description": "Name of the input in the published API (the key under `inputs`).",
}


@register
class InputImage(NodeType):
    type = "INPUT__IMAGE"
    family = "io"
    title = "Image input"
    description = "Accepts an image_url string (http(s) URL, data: URI or an uploaded art_ id). Entry point for image pipelines."
    outputs = (Port("image", "image", "The decoded input image"),)
    cacheable = False  # what a URL serves may change; the nodes after it are cached by the image's content
    params_schema = {
        "type": "object",
        "properties": {
            "name": {**NAME_PARAM, "default": "image_url", "examples": ["image_url"]},
            "description": {
                "type": "string",
                "default": "Image URL to process",
                "maxLength": 200,
                "description": "Shown in the published docs.",
            },
            "example": {
                "type": "string",
                "default": "https://example.com/image.jpg",
                "maxLength": 2000,
                "description": "Example value shown in the published docs.",
            },
            "required": {"type": "boolean", "default": True, "description": "Whether callers must give it."},
        },
        "additionalProperties": False,
    }
    exposes_input = {"type": "string", "format": "uri"}

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        value = ctx.run_inputs.get(params["name"])
        if value in (None, ""):
            raise NodeError(f"Missing required input: {params['name']}", code="MISSING_INPUT")
        if not isinstance(value, str):
            raise NodeError(f"Input '{params['name']}' must be a string", code="INVALID_INPUT")
        if ctx.fetch_image is None:
            raise NodeError("No image fetcher available", code="INTERNAL_ERROR", server_fault=True)
        return {"image": ctx.fetch_image(value)}


@register
class InputText(NodeType):
    type = "INPUT__TEXT"
    family = "io"
    title = "Text input"
    description = "Accepts a text string (a prompt, a command)."
    outputs = (Port("text", "text", "The input text"),)
    params_schema = {
        "type": "object",
        "properties": {
            "name": {**NAME_PARAM, "default": "text", "examples": ["command", "prompt"]},
            "description": {"type": "string", "default": "Text input", "maxLength": 200},
            "example": {"type": "string", "default": "enhance and upscale", "maxLength": 2000},
            "required": {"type": "boolean", "default": True},
            "default": {
                "type": "string",
                "default": "",
                "maxLength": 10000,
                "description": "Used when the input is optional and not given.",
            },
            "max_length": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 10000},
        },
        "additionalProperties": False,
    }
    exposes_input = {"type": "string"}
    inline = True

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        value = ctx.run_inputs.get(params["name"])
        if value is None:
            if params["required"]:
                raise NodeError(f"Missing required input: {params['name']}", code="MISSING_INPUT")
            value = params["default"]
        if not isinstance(value, str):
            raise NodeError(f"Input '{params['name']}' must be a string", code="INVALID_INPUT")
        if len(value) > params["max_length"]:
            raise NodeError(
                f"Input '{params['name']}' is longer than {params['max_length']} characters",
                code="INVALID_INPUT",
            )
        return {"text": value}


@register
class Output(NodeType):
    type = "OUTPUT__"
    family = "io"
    title = "Output"
    description = (
        "Pipeline output sink. Collects and returns all upstream results: each wire's target port "
        "name becomes an output key (e.g. result_url, metadata)."
    )
    dynamic_inputs = True
    inline = True
    params_schema = {"type": "object", "properties": {}, "additionalProperties": False}

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        return dict(inputs)
