"""Pillow images <-> the pixel arrays the upscale engine works on.

The engine takes ``H×W`` (gray), ``H×W×2`` (gray + alpha), ``H×W×3`` (RGB) or
``H×W×4`` (RGBA) arrays of ``uint8``, ``uint16`` or ``float32`` (0..1) and
returns the same layout and type, bigger. This module maps every Pillow mode
onto one of those without losing precision or transparency, and back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


def image_to_array(image: Image.Image) -> np.ndarray:
    """Decode ``image`` (forces Pillow's lazy load) into an engine array."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)  # the output has no EXIF, so bake the rotation in
    mode = image.mode
    if mode in SIXTEEN_BIT_MODES:
        return np.asarray(image).astype(np.uint16)
    if mode == "I":  # 16-bit PNGs and TIFFs may open as 32-bit integers
        return np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
    if mode == "F":
        return np.clip(np.asarray(image, dtype=np.float32) / 255.0, 0.0, 1.0)
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image)
    if mode in ("1",):
        return np.asarray(image.convert("L"))
    if mode == "La":
        return np.asarray(image.convert("LA"))
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    if mode in ("RGBa",):
        return np.asarray(image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))  # CMYK, YCbCr, LAB, HSV, RGBX, ...


def array_to_image(pixels: np.ndarray, *, eight_bit: bool = False) -> Image.Image:
    """Build a Pillow image from an engine array.

    Pillow has no 16-bit colour modes: 16-bit gray stays ``I;16`` (PNG keeps it), 16-bit
    colour and anything when ``eight_bit`` (JPEG/WEBP) is rounded to 8 bits per channel.
    """
    from PIL import Image

    if pixels.dtype == np.float32:
        if pixels.ndim == 2 and not eight_bit:
            return Image.fromarray(pixels * 255.0)  # F
        pixels = np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
    if pixels.dtype == np.uint16:
        if pixels.ndim == 2 and not eight_bit:
            return Image.fromarray(pixels)  # I;16
        pixels = ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    # uint8: H×W -> L, H×W×2 -> LA, H×W×3 -> RGB, H×W×4 -> RGBA
    return Image.fromarray(np.ascontiguousarray(pixels))


def flatten_alpha(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Composite onto ``background`` (for JPEG, which has no alpha channel)."""
    from PIL import Image

    if image.mode in ("LA", "RGBA"):
        base = Image.new("RGB", image.size, background)
        base.paste(image.convert("RGBA"), mask=image.getchannel("A"))
        return base
    return image
