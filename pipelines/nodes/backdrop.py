"""Backdrop colour correction for studio shots with numpy/scipy (Sartiq's BACKGROUND_FIX).

No segmentation model ships with our packages, so the subject is found the way a studio backdrop allows: the
backdrop is what is connected to the image's border and close in colour to the border's median colour; the
subject is everything else. The subject mask is grown by ``mask_expansion_percentage`` of the image's larger
side and its edge softened with a Gaussian of ``edge_blur_sigma``. The backdrop then moves to the palette
image's backdrop colour (the median of its border):

* ``color_shift`` multiplies each channel by palette / backdrop, so the backdrop's light and shadows stay;
  the shift is full above ``light_threshold`` (brightness, 0-255), none below ``shadow_threshold`` and
  linear between, so deep shadows and dark props are left alone;
* ``replace`` paints the palette colour flat over the backdrop.

A subject that touches the border in the backdrop's own colour is taken for backdrop: this is for plain
backdrops, not for scenes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from pipelines.nodes.base import ImageValue, NodeContext, NodeError, NodeType, Port, register

# How far (RGB distance) from the backdrop's median a pixel may be and still count as backdrop: a multiple of
# the border's own spread, within bounds.
SPREAD_FACTOR = 3.0
MIN_DISTANCE, MAX_DISTANCE = 12.0, 60.0


def border_pixels(rgb: np.ndarray) -> np.ndarray:
    return np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)


def backdrop_color(rgb: np.ndarray) -> np.ndarray:
    return np.median(border_pixels(rgb), axis=0)


def subject_mask(rgb: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    """True where the subject is: not backdrop-coloured, or enclosed by what is not."""
    border = border_pixels(rgb)
    spread = float(np.median(np.linalg.norm(border - backdrop, axis=1)))
    limit = min(MAX_DISTANCE, max(MIN_DISTANCE, SPREAD_FACTOR * spread))
    close = np.linalg.norm(rgb.astype(np.float32) - backdrop, axis=2) <= limit
    labels, _ = ndimage.label(close)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    backdrop_area = np.isin(labels, edge_labels[edge_labels > 0])
    return ~backdrop_area


def subject_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The bounding box (left, top, right, bottom) of the subject on a plain backdrop, None when there is
    none (the whole image is backdrop)."""
    rgb = np.asarray(image.convert("RGB"))
    mask = subject_mask(rgb, backdrop_color(rgb))
    if not mask.any():
        return None
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def fix_backdrop(
    image: Image.Image,
    palette: Image.Image,
    *,
    strategy: str = "color_shift",
    edge_blur_sigma: float = 20.0,
    light_threshold: int = 220,
    shadow_threshold: int = 150,
    mask_expansion_percentage: float = 0.005,
) -> tuple[Image.Image, dict[str, Any]]:
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    rgb = np.asarray(image.convert("RGB"))
    target = backdrop_color(np.asarray(palette.convert("RGB")))
    source = backdrop_color(rgb)
    subject = subject_mask(rgb, source)
    grow = round(mask_expansion_percentage * max(image.size))
    if grow > 0 and subject.any():
        subject = ndimage.distance_transform_edt(~subject) <= grow
    weight_img = Image.fromarray(np.where(subject, 0, 255).astype(np.uint8), "L")
    if edge_blur_sigma > 0:
        weight_img = weight_img.filter(ImageFilter.GaussianBlur(edge_blur_sigma))
    weight = np.asarray(weight_img, dtype=np.float32) / 255.0
    pixels = rgb.astype(np.float32)
    if strategy == "replace":
        shifted = np.broadcast_to(target, pixels.shape)
    else:
        brightness = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        span = max(1.0, float(light_threshold - shadow_threshold))
        ramp = np.clip((brightness - shadow_threshold) / span, 0.0, 1.0)
        weight = weight * ramp
        gain = (target + 1.0) / (source + 1.0)
        shifted = pixels * gain
    out = pixels + (shifted - pixels) * weight[..., None]
    result = Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGB")
    if alpha is not None:
        result.putalpha(alpha)
    info = {
        "backdrop_color": [int(v) for v in np.rint(source)],
        "palette_color": [int(v) for v in np.rint(target)],
        "subject_fraction": round(float(subject.mean()), 4),
    }
    return result, info


@register
class BackgroundFix(NodeType):
    type = "IMAGE__BACKGROUND_FIX"
    family = "backdrop"
    title = "Backdrop colour fix"
    description = (
        "Move a plain studio backdrop to the backdrop colour of a palette image, keeping the subject (found "
        "as what is not connected to the border in the backdrop's colour) and, with color_shift, the "
        "backdrop's light and shadows."
    )
    inputs = (
        Port("image", "image", "Photo on a plain backdrop"),
        Port("palette", "image", "Image whose backdrop colour is the target"),
    )
    outputs = (Port("image", "image", "The photo with its backdrop moved to the palette colour"),)
    params_schema = {
        "type": "object",
        "properties": {
            "strategy": {"type": "string", "enum": ["color_shift", "replace"], "default": "color_shift"},
            "edge_blur_sigma": {"type": "number", "minimum": 0, "maximum": 200, "default": 20.0},
            "light_threshold": {"type": "integer", "minimum": 0, "maximum": 255, "default": 220},
            "shadow_threshold": {"type": "integer", "minimum": 0, "maximum": 255, "default": 150},
            "mask_expansion_percentage": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.005},
        },
        "additionalProperties": False,
    }
    credit_cost = 2
    # Measured on one core: labelling, a distance transform and a blur, about 0.4 s per megapixel.
    base_seconds = 0.1
    seconds_per_megapixel = 0.5
    max_input_pixels = 40_000_000

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        value: ImageValue = inputs["image"]
        palette: ImageValue = inputs["palette"]
        if params["shadow_threshold"] > params["light_threshold"]:
            raise NodeError("shadow_threshold must not exceed light_threshold", code="INVALID_PARAM")
        if min(value.image.size) < 3:
            raise NodeError("the image is too small to find its backdrop", code="INVALID_INPUT")
        ctx.report_progress(0.1)
        out, info = fix_backdrop(value.image, palette.image, **params)
        meta = {**value.metadata, **info, "width": out.width, "height": out.height}
        fmt = value.format if value.format in ("PNG", "WEBP", "JPEG") else "PNG"
        return {"image": ImageValue(image=out, format=fmt, metadata=meta, source=value.source)}
