"""FAL__RUN: any fal app, through fal's queue, on the fal key of the account billed for the run (BYOK).

The node sends its image inputs as ``data:`` URIs and its prompt under the argument names its ``inputs``
param gives (a name ending in ``[]`` collects several inputs into one list, e.g. ``image_urls[]``), with the
fixed ``arguments`` beside them, and LoRAs by name: each one is a LoRA file its payer may use (their own upload
or an admin's, ``POST /api/v1/lora/upload``), handed to fal as a signed URL of our storage (``ctx.lora_url``)
under ``loras`` as ``[{"path", "scale"}]``. Its outputs are fal's whole result (``result``, JSON) and, when
``output`` is ``image``, the first image of that result, fetched through the safe fetcher (``image``).
"""

from __future__ import annotations

import base64
import io
from typing import Any, ClassVar

from pipelines.nodes.base import ImageValue, NodeCancelled, NodeContext, NodeError, NodeType, Port, register
from pipelines.providers import fal as provider
from pipelines.providers.base import ProviderError

IMAGE_PORTS = ("image", "reference", "reference2", "reference3")
ARGUMENT = r"^[A-Za-z_][A-Za-z0-9_.]{0,63}(\[\])?$"


def data_uri(value: ImageValue) -> str:
    buf = io.BytesIO()
    image = value.image
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def put(arguments: dict[str, Any], name: str, value: Any) -> None:
    """Set argument ``name`` (``a.b`` nests; ``x[]`` appends to the list ``x``)."""
    listed = name.endswith("[]")
    *parents, last = name.removesuffix("[]").split(".")
    target = arguments
    for part in parents:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise NodeError(f"The argument {name!r} does not fit the fixed arguments", code="INVALID_PARAMS")
    if listed:
        items = target.setdefault(last, [])
        if not isinstance(items, list):
            raise NodeError(f"The argument {name!r} is not a list", code="INVALID_PARAMS")
        items.append(value)
    else:
        target[last] = value


@register
class FalRun(NodeType):
    type = "FAL__RUN"
    family = "provider"
    title = "fal app"
    description = (
        "Runs a fal app (fal.ai) through fal's queue with the fal API key stored by the account billed for "
        'the run (PUT /api/v1/me/ai-keys, provider "fal"). Images go as data URIs under the argument names '
        "of `inputs`; LoRAs are your uploaded LoRA files, by name. Outputs fal's result and its first image. "
        "fal bills that key; the credits are the platform's fee."
    )
    inputs = (
        Port("image", "image", "First image input", required=False),
        Port("reference", "image", "Second image input", required=False),
        Port("reference2", "image", "Third image input", required=False),
        Port("reference3", "image", "Fourth image input", required=False),
        Port("prompt", "text", "Prompt", required=False),
    )
    outputs = (
        Port("image", "image", "The first image of fal's result (when output is image)"),
        Port(
            "result",
            "json",
            "fal's result as it answered (file URLs on fal's CDN)",
            schema={
                "type": "object",
                "description": "The app's own answer, plus _fal_request_id and _fal_app_id",
                "additionalProperties": True,
            },
        ),
    )
    params_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "app_id": {
                "type": "string",
                "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9_.-]+){1,4}$",
                "maxLength": 200,
                "default": "fal-ai/flux/dev",
                "description": "The fal app (endpoint id), e.g. fal-ai/flux/dev.",
            },
            "arguments": {
                "type": "object",
                "default": {},
                "description": "Fixed arguments of the app (the inputs are added to them).",
            },
            "inputs": {
                "type": "object",
                "propertyNames": {"enum": [*IMAGE_PORTS, "prompt"]},
                "additionalProperties": {"type": "string", "pattern": ARGUMENT},
                "default": {"image": "image_url", "prompt": "prompt"},
                "description": "The argument each connected input goes to (a name ending in [] collects "
                "several into a list).",
            },
            "loras": {
                "type": "array",
                "maxItems": 6,
                "default": [],
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 300},
                        "scale": {"type": "number", "minimum": -4, "maximum": 4, "default": 1.0},
                    },
                    "required": ["name"],
                    "additionalProperties": False,
                },
                "description": "LoRA files by name (e.g. identities/anna.safetensors): yours or an admin's.",
            },
            "output": {
                "type": "string",
                "enum": ["image", "video", "json"],
                "default": "image",
                "description": "What the app makes: image (the node fetches it), video or json (the result "
                "only).",
            },
        },
        "additionalProperties": False,
    }
    credit_cost = 1
    resource_class = "cpu"  # waits on the network, computes nothing
    cacheable = False  # a provider's sampled result
    provider_param = "app_id"
    max_retries = 1  # a fal failure on its side (5xx, timeout) is tried once more before any fallback
    retry_backoff_seconds = 2.0
    base_seconds = 60.0

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        arguments = dict(params["arguments"])
        for port, name in params["inputs"].items():
            value = inputs.get(port)
            if value is None:
                continue
            if isinstance(value, ImageValue):
                value = data_uri(value)
            elif port == "prompt" and not isinstance(value, str):
                raise NodeError("The prompt is not text", code="INVALID_INPUT")
            put(arguments, name, value)
        if params["loras"]:
            loras = []
            for lora in params["loras"]:
                url = ctx.lora_url(lora["name"])
                if url is None:
                    raise NodeError(
                        f"No LoRA named {lora['name']!r} among yours or the shared ones "
                        "(POST /api/v1/lora/upload)",
                        code="LORA_NOT_FOUND",
                    )
                loras.append({"path": url, "scale": lora.get("scale", 1.0)})
            arguments["loras"] = loras
        try:
            request_id, result = provider.run(
                ctx.provider_key,
                params["app_id"],
                arguments,
                cancelled=ctx.cancelled,
                progress=ctx.report_progress,
                log=ctx.log,
            )
        except provider.Cancelled:
            raise NodeCancelled(f"run {ctx.run_id} was cancelled") from None
        except ProviderError as exc:
            raise NodeError(
                exc.message, exc.code, retryable=exc.server_fault, server_fault=exc.server_fault
            ) from None
        result = {**result, "_fal_request_id": request_id, "_fal_app_id": params["app_id"]}
        outputs: dict[str, Any] = {"result": result}
        if params["output"] == "image":
            urls = [url for kind, url in provider.media_urls(result) if kind == "image"]
            if not urls:
                raise NodeError(
                    f"fal app {params['app_id']} answered without an image",
                    code="PROVIDER_FAILED",
                    retryable=True,
                    server_fault=True,
                )
            if ctx.fetch_image is None:
                raise NodeError("This node cannot fetch images here", code="NODE_FAILED", server_fault=True)
            image = ctx.fetch_image(urls[0])
            image.metadata = {**image.metadata, "fal_app_id": params["app_id"], "fal_request_id": request_id}
            outputs["image"] = image
        return outputs
