"""IMAGE__OCR: printed text extraction, Arabic and English.

Text lines are found by PaddleOCR's PP-OCR detector and read by the engine that
measured best for their script (see :mod:`pipelines.ml.ocr`). ``text`` is the
lines joined by newlines in reading order; ``lines`` carries each line's text,
box, polygon, confidence, script and engine.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from typing import Any

from pipelines.nodes.base import NodeContext, NodeError, NodeType, Port, register
from pipelines.nodes.safety import image_input, max_input_pixels, rgb

for _package in ("onnxruntime", "rapidocr", "cv2"):
    if importlib.util.find_spec(_package) is None:
        raise ImportError(f"IMAGE__OCR needs the '{_package}' package (the `ai` extra)")

logger = logging.getLogger(__name__)


@register
class Ocr(NodeType):
    type = "IMAGE__OCR"
    family = "ocr"
    title = "OCR (Arabic & English)"
    description = (
        "Text extraction supporting Arabic & English. PaddleOCR's PP-OCR detector finds the lines; each line "
        "is read by the engine that measured best for its script (Tesseract 5 for Arabic and, on clean "
        "print, for English; PP-OCR's recognizer on request). Returns the full text and every line with its "
        "box, polygon and confidence, in reading order (right to left within Arabic rows)."
    )
    inputs = (Port("image", "image", "Image containing printed text"),)
    outputs = (
        Port("text", "text", "All recognised text, one line per row, in reading order"),
        Port(
            "lines",
            "json",
            "[{text, box: [x1,y1,x2,y2], polygon: [[x,y]x4], confidence, script, engine}]",
            schema={
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "box": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                        "polygon": {
                            "type": "array",
                            "items": {"type": "array", "items": {"type": "number"}},
                        },
                        "confidence": {"type": "number"},
                        "script": {"type": "string"},
                        "engine": {"type": "string"},
                    },
                },
            },
        ),
    )
    params_schema = {
        "type": "object",
        "properties": {
            "lang": {
                "type": "string", "enum": ["auto", "en", "ar"], "default": "auto",
                "description": "Script of the text. 'auto' detects it per line (Arabic or Latin).",
                "examples": ["auto", "ar"],
            },
            "backend": {
                "type": "string", "enum": ["auto", "ppocr", "tesseract", "paddleocr"], "default": "auto",
                "description": ("Recognition engine. 'auto' picks the best measured engine per script; "
                                "'ppocr' is PP-OCRv6 (Latin script only); 'paddleocr' needs that package "
                                "and local models."),
                "examples": ["auto"],
            },
            "min_confidence": {
                "type": "number", "minimum": 0.0, "maximum": 1.0, "default": 0.3,
                "description": "Drop lines read with a lower confidence (0..1).",
                "examples": [0.3, 0.0],
            },
        },
        "additionalProperties": False,
    }
    credit_cost = 2
    resource_class = "gpu"  # detection runs on onnxruntime's CUDA provider when present
    # Detection sees a resized image; decoding and resizing grow with the input, recognition with the lines.
    base_seconds = 2.0
    seconds_per_megapixel = 1.0

    @classmethod
    def max_pixels(cls, params: dict[str, Any]) -> int | None:
        return max_input_pixels()

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        from pipelines.ml import ocr

        params = self.resolved_params(params)
        lang, backend = params["lang"], params["backend"]
        if lang not in ocr.LANGS:
            raise NodeError(f"lang must be one of {list(ocr.LANGS)}", "INVALID_PARAM", details={"lang": lang})
        if backend not in ocr.BACKENDS:
            raise NodeError(f"backend must be one of {list(ocr.BACKENDS)}", "INVALID_PARAM",
                            details={"backend": backend})
        try:
            min_conf = float(params["min_confidence"])
        except (TypeError, ValueError) as exc:
            raise NodeError("min_confidence must be a number", "INVALID_PARAM") from exc
        source = image_input(ctx, inputs.get("image"))
        started = time.perf_counter()
        try:
            result = ocr.get_pipeline().recognize(rgb(source.image), lang=lang, backend=backend)
        except ocr.OcrUnavailable as exc:
            raise NodeError(str(exc), "OCR_UNAVAILABLE", server_fault=True, details={"lang": lang, "backend": backend}) from exc
        except MemoryError as exc:
            raise NodeError("out of memory during OCR", "OCR_FAILED", retryable=True) from exc
        except Exception as exc:  # noqa: BLE001 - a node never crashes the run
            logger.exception("IMAGE__OCR failed (run %s, node %s)", ctx.run_id, ctx.node_id)
            raise NodeError(f"OCR failed: {exc}", "OCR_FAILED", retryable=True) from exc
        lines = [line for line in result.lines if line.confidence >= min_conf]
        ctx.log(f"OCR read {len(lines)} lines ({lang}/{backend}) in {time.perf_counter() - started:.2f}s")
        return {"text": "\n".join(line.text for line in lines), "lines": [line.as_dict() for line in lines]}
