"""Framing an image to a target size or aspect ratio with Pillow: crop, pad, scale (Sartiq IMAGE_ADJUSTER).

Modes: ``crop`` keeps the largest box of the target ratio (placed by ``cropping_position``), ``pad`` extends
the canvas to the target ratio with the image's own border colour (transparent for an image with alpha),
``scale`` resizes by ``scaling_proportions`` (``height``/``width`` match that side and crop or pad the other,
``fit`` fits inside and pads, ``fill`` covers and crops), ``auto`` pads when the ratios differ by more than 5%
and crops otherwise. An image whose ratio is already within ``tolerance`` (relative) of the target is not
cropped or padded, only resized to the target size when one is given.

Margins (``margin_*``, or those of the subject of a ``reference`` image) keep room around the subject,
found on a plain backdrop as BACKGROUND_FIX finds it (:func:`pipelines.nodes.backdrop.subject_box`): with
crop or pad the box grows and moves as little as needed for each margin to be at least what is asked
(padding where it reaches past the image); with scale the subject fills the space inside the margins,
exactly in height (``height``), width (``width``), within both (``fit``) or covering both (``fill``),
cropped or padded around.
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
MODES = ("auto", "crop", "pad", "scale")
PROPORTIONS = ("height", "width", "fit", "fill")


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


MARGINS = ("margin_top", "margin_bottom", "margin_left", "margin_right")


def render_box(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    """The part of ``image`` under ``box`` (left, top, width, height; it may reach past the image), what lies
    outside filled as :func:`pad_to_ratio` fills."""
    left, top, width, height = (round(v) for v in box)
    width, height = max(1, width), max(1, height)
    inside = (max(0, left), max(0, top), min(image.width, left + width), min(image.height, top + height))
    if inside == (left, top, left + width, top + height):
        return image.crop(inside)
    if image.mode in ("RGBA", "LA"):
        fill: Any = (0,) * len(image.getbands())
    else:
        fill = border_color(image)
    canvas = Image.new(image.mode, (width, height), fill if len(fill) > 1 else fill[0])
    if inside[2] > inside[0] and inside[3] > inside[1]:
        canvas.paste(image.crop(inside), (inside[0] - left, inside[1] - top))
    return canvas


def find_subject(image: Image.Image) -> tuple[int, int, int, int]:
    try:
        from pipelines.nodes.backdrop import subject_box
    except ImportError as exc:  # numpy/scipy (the ai extra) missing on this worker
        raise NodeError(
            "subject detection is not available here", "MODEL_UNAVAILABLE", server_fault=True
        ) from exc
    box = subject_box(image)
    if box is None:
        raise NodeError("no subject found on the image's backdrop to keep margins around", "NO_SUBJECT")
    return box


def reference_margins(reference: Image.Image) -> dict[str, float]:
    """The margins of the subject of ``reference``, as fractions of its size."""
    left, top, right, bottom = find_subject(reference)
    return {
        "margin_left": left / reference.width,
        "margin_right": (reference.width - right) / reference.width,
        "margin_top": top / reference.height,
        "margin_bottom": (reference.height - bottom) / reference.height,
    }


def place(start: float, end: float, length: float, before: float, after: float, wanted: float) -> float:
    """Where a window of ``length`` starts so that [start, end] keeps ``before``/``after`` of it on each side,
    as close to ``wanted`` as that allows."""
    low, high = end + after * length - length, start - before * length
    return min(max(wanted, low), high) if low <= high else (low + high) / 2


def box_with_margins(
    image: Image.Image, ratio: float, box: tuple[float, float, float, float], margins: dict[str, float]
) -> tuple[float, float, float, float]:
    """``box`` (of aspect ``ratio``) grown as little as needed and moved as little as needed for the subject
    to keep its minimum margins."""
    x0, y0, x1, y1 = find_subject(image)
    top, bottom = margins.get("margin_top") or 0.0, margins.get("margin_bottom") or 0.0
    left, right = margins.get("margin_left") or 0.0, margins.get("margin_right") or 0.0
    if top + bottom >= 1 or left + right >= 1:
        raise NodeError("opposite margins must leave room for the subject", "INVALID_PARAM")
    bx, by, width, height = box
    grow = max(1.0, (x1 - x0) / (1 - left - right) / width, (y1 - y0) / (1 - top - bottom) / height)
    width, height = width * grow, width * grow / ratio
    cx, cy = bx + box[2] / 2, by + box[3] / 2
    return (
        place(x0, x1, width, left, right, cx - width / 2),
        place(y0, y1, height, top, bottom, cy - height / 2),
        width,
        height,
    )


def scale_with_margins(
    image: Image.Image, size: tuple[int, int], how: str, margins: dict[str, float]
) -> tuple[float, float, float, float]:
    """The box of ``image`` that, scaled to ``size``, puts the subject inside the margins: matching the inner
    height exactly ('height'), the width ('width'), inside both ('fit') or covering both ('fill')."""
    x0, y0, x1, y1 = find_subject(image)
    top, bottom = margins.get("margin_top") or 0.0, margins.get("margin_bottom") or 0.0
    left, right = margins.get("margin_left") or 0.0, margins.get("margin_right") or 0.0
    inner_w, inner_h = (1 - left - right) * size[0], (1 - top - bottom) * size[1]
    if inner_w <= 0 or inner_h <= 0:
        raise NodeError("opposite margins must leave room for the subject", "INVALID_PARAM")
    fits = {"height": inner_h / (y1 - y0), "width": inner_w / (x1 - x0)}
    scale = fits.get(how) or (min if how == "fit" else max)(fits.values())
    center_x, center_y = left * size[0] + inner_w / 2, top * size[1] + inner_h / 2
    return (
        (x0 + x1) / 2 - center_x / scale,
        (y0 + y1) / 2 - center_y / scale,
        size[0] / scale,
        size[1] / scale,
    )


@register
class AdjustImage(NodeType):
    type = "IMAGE__ADJUST"
    family = "framing"
    title = "Adjust framing"
    description = (
        "Bring an image to a target size or aspect ratio: crop, pad (with its border colour), scale, or auto "
        "(pad when the ratios differ by more than 5%, crop otherwise). Within `tolerance` it is left alone."
    )
    inputs = (
        Port("image", "image", "Image to adjust"),
        Port("reference", "image", "Image whose subject's margins are kept (optional)", required=False),
    )
    outputs = (Port("image", "image", "Adjusted image"),)
    params_schema = {
        "type": "object",
        "properties": {
            "mode": {"type": "string", "enum": list(MODES), "default": "auto"},
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
            "scaling_proportions": {"type": "string", "enum": list(PROPORTIONS), "default": "fit"},
            "tolerance": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
            **{
                name: {
                    "type": ["number", "null"],
                    "minimum": 0,
                    "maximum": 1,
                    "default": None,
                    "description": "Least margin around the subject (found on a plain backdrop), as a "
                    "fraction of the result's height (top, bottom) or width (left, right)",
                }
                for name in MARGINS
            },
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
        margins = {name: params[name] for name in MARGINS if params[name] is not None}
        if inputs.get("reference") is not None:
            margins = {**reference_margins(inputs["reference"].image), **margins}
        if margins:
            out, applied = self._with_margins(image, mode, ratio, size, params, margins)
        elif mode == "scale":
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
        if margins:
            meta["margins"] = {k: round(v, 4) for k, v in margins.items()}
        return {"image": ImageValue(image=out, format=value.format, metadata=meta, source=value.source)}

    @staticmethod
    def _with_margins(
        image: Image.Image,
        mode: str,
        ratio: float,
        size: tuple[int, int] | None,
        params: dict[str, Any],
        margins: dict[str, float],
    ) -> tuple[Image.Image, str]:
        if mode == "scale":
            if size is None:
                raise NodeError("mode 'scale' needs target_width and target_height", code="INVALID_PARAM")
            box = scale_with_margins(image, size, params["scaling_proportions"], margins)
            return render_box(image, box), "scale"
        start = crop_to_ratio if mode == "crop" else pad_to_ratio
        framed = start(image, ratio, params["cropping_position"] if mode == "crop" else "center")
        # where that crop or pad sits in the image's own coordinates
        ax, ay = _anchor(params["cropping_position"] if mode == "crop" else "center")
        box = (
            (image.width - framed.width) * ax,
            (image.height - framed.height) * ay,
            framed.width,
            framed.height,
        )
        return render_box(image, box_with_margins(image, ratio, box, margins)), mode


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
