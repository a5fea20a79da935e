"""Framing an image to a target size or aspect ratio with Pillow: crop, pad, scale (Sartiq IMAGE_ADJUSTER).

Modes: ``crop`` keeps the largest box of the target ratio (placed by ``cropping_position``), ``pad`` extends
the canvas to the target ratio with the image's own border colour (transparent for an image with alpha),
``scale`` resizes by ``scaling_proportions`` (``height``/``width`` match that side and crop or pad the other,
``fit`` fits inside and pads, ``fill`` covers and crops), ``auto`` pads when the ratios differ by more than 5%
and crops otherwise. An image whose ratio is already within ``tolerance`` (relative) of the target is not
cropped or padded, only resized to the target size when one is given.
"""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageStat

from pipelines.nodes.base import ImageValue, NodeContext, NodeError, NodeType, Port, register

MAX_SIDE = 16384
AUTO_PAD_ABOVE = 0.05
POSITIONS = (
    "center",
    "top",
    "bottom",
    "left",
    "right",
    "top_left",
    "top_right",
    "bottom_left",
    "bottom_right",
)
RESAMPLING = ("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")


def _anchor(position: str) -> tuple[float, float]:
    """Where the kept box sits in the image: (0, 0) top-left … (1, 1) bottom-right."""
    x = 0.0 if "left" in position else 1.0 if "right" in position else 0.5
    y = 0.0 if "top" in position else 1.0 if "bottom" in position else 0.5
    return x, y


def crop_to_ratio(image: Image.Image, ratio: float, position: str = "center") -> Image.Image:
    width, height = image.size
    if width / height > ratio:
        box_w, box_h = max(1, round(height * ratio)), height
    else:
        box_w, box_h = width, max(1, round(width / ratio))
    ax, ay = _anchor(position)
    left, top = round((width - box_w) * ax), round((height - box_h) * ay)
    return image.crop((left, top, left + box_w, top + box_h))


def border_color(image: Image.Image) -> tuple[int, ...]:
    """The median colour of the image's outermost pixels (its backdrop, on a studio shot)."""
    width, height = image.size
    strips = [
        image.crop((0, 0, width, 1)),
        image.crop((0, height - 1, width, height)),
        image.crop((0, 0, 1, height)),
        image.crop((width - 1, 0, width, height)),
    ]
    border = Image.new(image.mode, (2 * width + 2 * height, 1))
    x = 0
    for strip in strips:
        strip = strip if strip.height == 1 else strip.transpose(Image.Transpose.ROTATE_90)
        border.paste(strip, (x, 0))
        x += strip.width
    return tuple(int(v) for v in ImageStat.Stat(border).median)


def pad_to_ratio(image: Image.Image, ratio: float, position: str = "center") -> Image.Image:
    width, height = image.size
    if width / height > ratio:
        canvas_w, canvas_h = width, max(height, round(width / ratio))
    else:
        canvas_w, canvas_h = max(width, round(height * ratio)), height
    if image.mode in ("RGBA", "LA"):
        fill: Any = (0,) * len(image.getbands())
    else:
        fill = border_color(image)
    canvas = Image.new(image.mode, (canvas_w, canvas_h), fill if len(fill) > 1 else fill[0])
    ax, ay = _anchor(position)
    canvas.paste(image, (round((canvas_w - width) * ax), round((canvas_h - height) * ay)))
    return canvas


def fit_exactly(
    image: Image.Image, size: tuple[int, int], how: str, position: str, resample: Any
) -> Image.Image:
    """``image`` scaled by ``how`` and cropped or padded to exactly ``size``."""
    width, height = image.size
    target_w, target_h = size
    scale = {
        "height": target_h / height,
        "width": target_w / width,
        "fit": min(target_w / width, target_h / height),
        "fill": max(target_w / width, target_h / height),
    }[how]
    scaled = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), resample)
    ratio = target_w / target_h
    if scaled.width / scaled.height > ratio + 1e-9:
        framed = (
            crop_to_ratio(scaled, ratio, position) if how != "fit" else pad_to_ratio(scaled, ratio, position)
        )
    elif scaled.width / scaled.height < ratio - 1e-9:
        framed = (
            pad_to_ratio(scaled, ratio, position) if how != "fill" else crop_to_ratio(scaled, ratio, position)
        )
    else:
        framed = scaled
    return framed if framed.size == size else framed.resize(size, resample)


@register
class AdjustImage(NodeType):
    type = "IMAGE__ADJUST"
    family = "framing"
    title = "Adjust framing"
    description = (
        "Bring an image to a target size or aspect ratio: crop, pad (with its border colour), scale, or auto "
        "(pad when the ratios differ by more than 5%, crop otherwise). Within `tolerance` it is left alone."
    )
    inputs = (Port("image", "image", "Image to adjust"),)
    outputs = (Port("image", "image", "Adjusted image"),)
    params_schema = {
        "type": "object",
        "properties": {
            "mode": {"type": "string", "enum": ["auto", "crop", "pad", "scale"], "default": "auto"},
            "target_width": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_SIDE, "default": None},
            "target_height": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_SIDE,
                "default": None,
            },
            "aspect_ratio": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "maximum": 100,
                "default": None,
                "description": "width / height; used when no target size is given",
            },
            "cropping_position": {"type": "string", "enum": list(POSITIONS), "default": "center"},
            "resampling": {"type": "string", "enum": list(RESAMPLING), "default": "lanczos"},
            "scaling_proportions": {
                "type": "string",
                "enum": ["height", "width", "fit", "fill"],
                "default": "fit",
            },
            "tolerance": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
        },
        "additionalProperties": False,
    }
    credit_cost = 1
    # Pillow crops and pads in milliseconds; a resize costs about 0.05 s per megapixel on one core.
    base_seconds = 0.05
    seconds_per_megapixel = 0.06
    max_input_pixels = 100_000_000

    @classmethod
    def output_pixels(cls, pixels: int, params: dict[str, Any]) -> int:
        if params.get("target_width") and params.get("target_height"):
            return params["target_width"] * params["target_height"]
        return pixels * 2  # a pad to the target ratio at most doubles a reasonable image

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        value: ImageValue = inputs["image"]
        image = value.image
        size = None
        if params["target_width"] or params["target_height"]:
            if not (params["target_width"] and params["target_height"]):
                raise NodeError("target_width and target_height go together", code="INVALID_PARAM")
            size = (params["target_width"], params["target_height"])
        ratio = size[0] / size[1] if size else params["aspect_ratio"]
        if not ratio:
            raise NodeError("give a target size or an aspect ratio", code="INVALID_PARAM")
        resample = getattr(Image.Resampling, params["resampling"].upper())
        position = params["cropping_position"]
        current = image.width / image.height
        difference = abs(current / ratio - 1)
        mode = params["mode"]
        if mode == "auto":
            mode = "pad" if difference > AUTO_PAD_ABOVE else "crop"
        if mode == "scale":
            if size is None:
                raise NodeError("mode 'scale' needs target_width and target_height", code="INVALID_PARAM")
            out = fit_exactly(image, size, params["scaling_proportions"], position, resample)
            applied = "scale"
        elif difference <= params["tolerance"]:
            out, applied = image, "none"
        elif mode == "crop":
            out, applied = crop_to_ratio(image, ratio, position), "crop"
        else:
            out, applied = pad_to_ratio(image, ratio), "pad"
        if size is not None and out.size != size:
            out = out.resize(size, resample)
        meta = {**value.metadata, "adjustment": applied, "width": out.width, "height": out.height}
        return {"image": ImageValue(image=out, format=value.format, metadata=meta, source=value.source)}


@register
class ScaleImage(NodeType):
    type = "IMAGE__SCALE"
    family = "framing"
    title = "Scale by a factor"
    description = "Resize by a factor, keeping the aspect ratio (0.5 halves each side, 1.5 adds half)."
    inputs = (Port("image", "image", "Image to scale"),)
    outputs = (Port("image", "image", "Scaled image"),)
    params_schema = {
        "type": "object",
        "properties": {
            "factor": {"type": "number", "exclusiveMinimum": 0, "maximum": 8, "default": 1.0},
            "resampling": {"type": "string", "enum": list(RESAMPLING), "default": "lanczos"},
        },
        "additionalProperties": False,
    }
    credit_cost = 1
    base_seconds = 0.05
    seconds_per_megapixel = 0.06
    max_input_pixels = 100_000_000

    @classmethod
    def output_pixels(cls, pixels: int, params: dict[str, Any]) -> int:
        return int(pixels * params.get("factor", 1.0) ** 2)

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        value: ImageValue = inputs["image"]
        factor = params["factor"]
        size = (max(1, round(value.width * factor)), max(1, round(value.height * factor)))
        if max(size) > MAX_SIDE:
            raise NodeError(
                f"the result would be {size[0]}x{size[1]}; at most {MAX_SIDE} a side", "INVALID_PARAM"
            )
        resample = getattr(Image.Resampling, params["resampling"].upper())
        out = value.image if size == value.image.size else value.image.resize(size, resample)
        meta = {**value.metadata, "width": out.width, "height": out.height}
        return {"image": ImageValue(image=out, format=value.format, metadata=meta, source=value.source)}
