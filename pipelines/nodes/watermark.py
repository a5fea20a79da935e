"""IMAGE__WATERMARK: find watermarks (text or logo marks), with boxes and confidence.

The detector is our own small network trained on synthetic watermarks
(``manage.py train_watermark``; see :mod:`pipelines.ml.watermark_train`). Boxes are
in the input image's pixel coordinates.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from typing import Any

from pipelines.nodes.base import NodeContext, NodeError, NodeType, Port, register
from pipelines.nodes.safety import image_input, max_input_pixels, rgb

if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
    raise ImportError("IMAGE__WATERMARK needs torch and torchvision (the `ai` extra)")

logger = logging.getLogger(__name__)


@register
class Watermark(NodeType):
    type = "IMAGE__WATERMARK"
    family = "watermark"
    title = "Watermark detection"
    description = (
        "Detects and localizes watermarks (semi-transparent text and logo marks: centred, tiled, or in a "
        "corner). Returns one box per watermark with its confidence, in the image's pixel coordinates."
    )
    inputs = (Port("image", "image", "Image to inspect"),)
    outputs = (
        Port("watermarks", "json", "[{box: [x1, y1, x2, y2], confidence}] sorted by confidence",
             schema={"type": "array", "items": {"type": "object", "properties": {
                 "box": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                 "confidence": {"type": "number"}}}}),
        Port("count", "number", "Number of watermarks found"),
    )
    params_schema = {
        "type": "object",
        "properties": {
            "threshold": {
                "type": ["number", "null"], "minimum": 0.0, "maximum": 1.0, "default": None,
                "description": ("Minimum confidence of a detection. null uses the calibrated default (at "
                                "most ~3% of clean images get any detection); lower finds fainter marks."),
                "examples": [None, 0.3],
            },
            "input_size": {
                "type": "integer", "enum": [256, 384, 512], "default": 256,
                "description": ("Side of the square the image is fitted into for detection. The detector was "
                                "trained at 256; larger sizes help with small marks on big images."),
                "examples": [256],
            },
        },
        "additionalProperties": False,
    }
    credit_cost = 2
    resource_class = "gpu"
    # The detector sees input_size² pixels; what grows with the input is decoding and fitting it.
    base_seconds = 1.0
    seconds_per_megapixel = 0.5

    @classmethod
    def max_pixels(cls, params: dict[str, Any]) -> int | None:
        return max_input_pixels()

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        from pipelines.ml import watermark

        params = self.resolved_params(params)
        threshold = params.get("threshold")
        if threshold is not None:
            try:
                threshold = float(threshold)
            except (TypeError, ValueError) as exc:
                raise NodeError("threshold must be a number or null", "INVALID_PARAM") from exc
            if not 0.0 < threshold <= 1.0:
                raise NodeError("threshold must be within (0, 1]", "INVALID_PARAM",
                                details={"threshold": threshold})
        input_size = params.get("input_size", 256)
        if input_size not in (256, 384, 512):
            raise NodeError("input_size must be 256, 384 or 512", "INVALID_PARAM",
                            details={"input_size": input_size})
        source = image_input(ctx, inputs.get("image"))
        started = time.perf_counter()
        try:
            detector = watermark.get_detector()
            found = detector.detect(rgb(source.image), threshold=threshold, input_size=input_size)
        except FileNotFoundError as exc:
            raise NodeError(f"watermark model unavailable: {exc}", "MODEL_UNAVAILABLE", server_fault=True) from exc
        except MemoryError as exc:
            raise NodeError("out of memory during watermark detection", "WATERMARK_FAILED",
                            retryable=True) from exc
        except Exception as exc:  # noqa: BLE001 - a node never crashes the run
            logger.exception("IMAGE__WATERMARK failed (run %s, node %s)", ctx.run_id, ctx.node_id)
            raise NodeError(f"watermark detection failed: {exc}", "WATERMARK_FAILED", retryable=True) from exc
        found.sort(key=lambda d: -d.confidence)
        ctx.log(f"found {len(found)} watermark(s) in {time.perf_counter() - started:.2f}s")
        return {"watermarks": [d.as_dict() for d in found], "count": len(found)}
