"""Image operations with Pillow: resize, crop, rotate, grayscale, format conversion."""

from __future__ import annotations

import re
from typing import Any

from PIL import Image, ImageOps

from pipelines.nodes.base import ImageValue, NodeContext, NodeError, NodeType, Port, register

IMAGE_IN = (Port("image", "image", "Image to process"),)
IMAGE_OUT = (Port("image", "image", "Processed image"),)
MAX_SIDE = 16384
RESOLUTION_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


def _derive(value: ImageValue, image: Image.Image, **metadata: Any) -> ImageValue:
    meta = {**value.metadata, **metadata, "width": image.width, "height": image.height}
    return ImageValue(image=image, format=value.format, metadata=meta, source=value.source)


@register
class Resize(NodeType):
    type = "IMAGE__RESIZE"
    family = "image"
    title = "Resize"
    description = (
        "Resize to a width and/or height. 'fit' keeps the aspect ratio inside the box, 'fill' crops "
        "to fill it, 'stretch' ignores the ratio. A Fluxara `resolution` option (WxH) overrides the size."
    )
    inputs = IMAGE_IN
    outputs = IMAGE_OUT
    surface_options = ("resolution",)
    params_schema = {
        "type": "object",
        "properties": {
            "width": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_SIDE,
                "default": 512,
                "description": "Target width in pixels",
                "examples": [512],
            },
            "height": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_SIDE,
                "default": 512,
                "description": "Target height in pixels",
                "examples": [512],
            },
            "mode": {
                "type": "string",
                "enum": ["fit", "fill", "stretch"],
                "default": "fit",
                "description": "How to treat the aspect ratio",
            },
            "resample": {
                "type": "string",
                "enum": ["lanczos", "bicubic", "bilinear", "nearest"],
                "default": "lanczos",
                "description": "Resampling filter",
            },
        },
        "additionalProperties": False,
    }
    credit_cost = 1
    inline = True

    @classmethod
    def output_pixels(cls, pixels: int, params: dict[str, Any]) -> int:
        return params["width"] * params["height"]  # at most; 'fit' may give less

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        value: ImageValue = inputs["image"]
        width, height = params["width"], params["height"]
        resolution = ctx.options.get("resolution")
        if resolution:
            match = RESOLUTION_RE.match(str(resolution))
            if not match:
                raise NodeError("resolution must look like 1024x1024", code="INVALID_INPUT")
            width, height = int(match[1]), int(match[2])
            if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
                raise NodeError(f"resolution must be at most {MAX_SIDE}x{MAX_SIDE}", code="INVALID_INPUT")
        resample = getattr(Image.Resampling, params["resample"].upper())
        image = value.image
        if params["mode"] == "stretch":
            out = image.resize((width, height), resample)
        elif params["mode"] == "fill":
            out = ImageOps.fit(image, (width, height), resample)
        else:
            out = ImageOps.contain(image, (width, height), resample)
        return {"image": _derive(value, out)}


@register
class Crop(NodeType):
    type = "IMAGE__CROP"
    family = "image"
    title = "Crop"
    description = "Crop a rectangle given by its top-left corner and size (clamped to the image)."
    inputs = IMAGE_IN
    outputs = IMAGE_OUT
    params_schema = {
        "type": "object",
        "properties": {
            "x": {"type": "integer", "minimum": 0, "default": 0, "description": "Left edge"},
            "y": {"type": "integer", "minimum": 0, "default": 0, "description": "Top edge"},
            "width": {"type": "integer", "minimum": 1, "maximum": MAX_SIDE, "default": 256},
            "height": {"type": "integer", "minimum": 1, "maximum": MAX_SIDE, "default": 256},
        },
        "additionalProperties": False,
    }
    credit_cost = 1
    inline = True

    @classmethod
    def output_pixels(cls, pixels: int, params: dict[str, Any]) -> int:
        return min(pixels, params["width"] * params["height"])

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        value: ImageValue = inputs["image"]
        img = value.image
        x, y = params["x"], params["y"]
        if x >= img.width or y >= img.height:
            raise NodeError(
                f"crop origin ({x},{y}) is outside the {img.width}x{img.height} image", code="INVALID_INPUT"
            )
        box = (x, y, min(img.width, x + params["width"]), min(img.height, y + params["height"]))
        return {"image": _derive(value, img.crop(box))}


@register
class Rotate(NodeType):
    type = "IMAGE__ROTATE"
    family = "image"
    title = "Rotate"
    description = "Rotate counter-clockwise by an angle in degrees; 'expand' grows the canvas to fit."
    inputs = IMAGE_IN
    outputs = IMAGE_OUT
    params_schema = {
        "type": "object",
        "properties": {
            "angle": {
                "type": "number",
                "minimum": -360,
                "maximum": 360,
                "default": 90,
                "description": "Degrees, counter-clockwise",
                "examples": [90, -90, 180],
            },
            "expand": {"type": "boolean", "default": True, "description": "Grow the canvas to fit"},
        },
        "additionalProperties": False,
    }
    credit_cost = 1
    inline = True

    @classmethod
    def output_pixels(cls, pixels: int, params: dict[str, Any]) -> int:
        return pixels * 2 if params["expand"] and float(params["angle"]) % 90 else pixels  # a 45° turn: ×2

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        value: ImageValue = inputs["image"]
        angle = float(params["angle"])
        if angle % 90 == 0:
            ops = {
                90: Image.Transpose.ROTATE_90,
                180: Image.Transpose.ROTATE_180,
                270: Image.Transpose.ROTATE_270,
            }
            step = int(angle) % 360
            out = value.image.transpose(ops[step]) if step else value.image.copy()
        else:
            out = value.image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=params["expand"])
        return {"image": _derive(value, out)}


@register
class Grayscale(NodeType):
    type = "IMAGE__GRAYSCALE"
    family = "image"
    title = "Grayscale"
    description = "Convert to grayscale (alpha kept)."
    inputs = IMAGE_IN
    outputs = IMAGE_OUT
    params_schema = {"type": "object", "properties": {}, "additionalProperties": False}
    credit_cost = 1
    inline = True

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        value: ImageValue = inputs["image"]
        img = value.image
        out = img.convert("LA") if "A" in img.getbands() else img.convert("L")
        return {"image": _derive(value, out)}


@register
class Convert(NodeType):
    type = "IMAGE__CONVERT"
    family = "image"
    title = "Convert format"
    description = "Choose the encoding of the stored image (PNG, WEBP or JPEG) and its quality."
    inputs = IMAGE_IN
    outputs = IMAGE_OUT
    params_schema = {
        "type": "object",
        "properties": {
            "format": {
                "type": "string",
                "enum": ["PNG", "WEBP", "JPEG"],
                "default": "WEBP",
                "description": "Output encoding",
            },
            "quality": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
                "default": 90,
                "description": "Quality for WEBP/JPEG",
            },
        },
        "additionalProperties": False,
    }
    credit_cost = 1
    inline = True

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        value: ImageValue = inputs["image"]
        img = value.image
        if params["format"] == "JPEG" and img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        meta = {**value.metadata, "quality": params["quality"]}
        return {"image": ImageValue(image=img, format=params["format"], metadata=meta, source=value.source)}
