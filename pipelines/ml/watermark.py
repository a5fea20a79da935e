"""Watermark detection: the trained detector, loaded once per process.

The weights (``weights/watermark.pt``, about 1.6 MB in float16) are produced by
``python manage.py train_watermark`` (see :mod:`pipelines.ml.watermark_train`)
from synthetic data; nothing is downloaded. Images are letterboxed onto a square
canvas of ``input_size`` pixels (the training geometry), detected, and the boxes
mapped back to the caller's pixel coordinates.

Torch is imported inside functions so that importing this module stays cheap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "watermark.pt"
PAD_VALUE = 114
DEFAULT_INPUT_SIZE = 256


@dataclass
class Detection:
    box: tuple[float, float, float, float]
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        return {"box": [round(v, 1) for v in self.box], "confidence": round(self.confidence, 4)}


def letterbox(image: Image.Image, size: int) -> tuple[np.ndarray, float]:
    """Scale the longer side to ``size``, pad bottom/right; return (HWC uint8 array, scale)."""
    image = image.convert("RGB")
    scale = size / max(image.width, image.height)
    w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
    canvas[:h, :w] = np.asarray(image.resize((w, h), Image.BILINEAR))
    return canvas, scale


class WatermarkDetector:
    """The network plus its calibrated threshold; thread-safe for inference."""

    def __init__(self, weights: Path = WEIGHTS_PATH, device: str | None = None):
        import torch

        from .watermark_net import WatermarkNet

        if not weights.is_file():
            raise FileNotFoundError(f"watermark weights missing: {weights.name} "
                                    "(run manage.py train_watermark)")
        ckpt = torch.load(weights, map_location="cpu", weights_only=True)
        self.meta: dict[str, Any] = dict(ckpt["meta"])
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model = WatermarkNet(tuple(self.meta["widths"]), self.meta["head"])
        model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
        model.eval().to(self.device)
        if self.device.type == "cuda":
            model = model.half().to(memory_format=torch.channels_last)
        self.model = model
        self.threshold = float(self.meta["threshold"])

    def detect_arrays(self, batch: np.ndarray, threshold: float | None = None
                      ) -> list[list[tuple[float, float, float, float, float]]]:
        """Detect on letterboxed NHWC uint8 arrays; boxes in array pixels."""
        import torch

        from .watermark_net import decode, normalize

        thr = self.threshold if threshold is None else threshold
        with torch.inference_mode():
            x = normalize(torch.from_numpy(np.ascontiguousarray(batch)).to(self.device))
            if self.device.type == "cuda":
                x = x.half().contiguous(memory_format=torch.channels_last)
            heat, ltrb = self.model(x)
            return decode(heat.float(), ltrb.float(), thr)

    def detect(self, image: Image.Image, threshold: float | None = None,
               input_size: int = DEFAULT_INPUT_SIZE) -> list[Detection]:
        arr, scale = letterbox(image, input_size)
        dets = self.detect_arrays(arr[None], threshold)[0]
        out = []
        for x1, y1, x2, y2, score in dets:
            box = (
                min(max(x1 / scale, 0.0), image.width), min(max(y1 / scale, 0.0), image.height),
                min(max(x2 / scale, 0.0), image.width), min(max(y2 / scale, 0.0), image.height),
            )
            if box[2] - box[0] >= 1 and box[3] - box[1] >= 1:
                out.append(Detection(box, score))
        return out


_detector: WatermarkDetector | None = None
_detector_lock = threading.Lock()


def get_detector() -> WatermarkDetector:
    """The process-wide detector, built on first use."""
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                import torch

                # a worker shares its cores with others; cap intra-op threads sensibly
                torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
                _detector = WatermarkDetector()
    return _detector
