"""Training pairs for upscaler LoRAs: high-resolution patches of the user's images and low-resolution inputs
made from them with Real-ESRGAN's kind of degradation.

Per pair (all drawn from one ``numpy.random.Generator``, so a seed fixes every pair):

1. an ``patch × patch`` crop of one of the images, flipped and rotated by a multiple of 90°;
2. blur with a Gaussian kernel, isotropic or anisotropic (rotated), 7…21 taps, σ 0.2…3;
3. downscale by the model's scale with a random resample (bicubic, bilinear or area);
4. noise: Gaussian (σ 1…25 of 255) or Poisson (scale 0.05…2.5), in colour or the same on every channel;
5. JPEG at a random quality (30…95).

This is one pass of Real-ESRGAN's "high-order" pipeline (which repeats it twice, and adds a sinc filter):
enough to teach an adapter the user's content under realistic damage; we do not claim more.

Numpy, Pillow and torch only; nothing here knows Django.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

RESAMPLES = (Image.Resampling.BICUBIC, Image.Resampling.BILINEAR, Image.Resampling.BOX)
BLUR_SIZES = (7, 9, 11, 13, 15, 17, 19, 21)
MAX_IMAGE_PIXELS = 50_000_000

ImageLike = Image.Image | bytes | bytearray
NamedImage = ImageLike | tuple[str, ImageLike]


@dataclass(frozen=True)
class Degradation:
    """The ranges of the degradation (defaults: moderate Real-ESRGAN first-stage settings)."""

    blur_prob: float = 0.9
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    anisotropic_prob: float = 0.5
    gaussian_noise_prob: float = 0.5
    noise_sigma: tuple[float, float] = (1.0, 25.0)  # of 255
    poisson_scale: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob: float = 0.4
    jpeg_quality: tuple[int, int] = (30, 95)


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """A normalised ``size × size`` Gaussian with the given axes' σ, rotated by ``theta`` radians."""
    half = size // 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    cos, sin = math.cos(theta), math.sin(theta)
    u, v = cos * xx + sin * yy, -sin * xx + cos * yy
    kernel = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (kernel / kernel.sum()).astype(np.float32)


def _blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``image`` (H×W×3 float32 in 0..1) convolved with ``kernel``, borders reflected."""
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    pad = kernel.shape[0] // 2
    pad_mode = "reflect" if min(image.shape[:2]) > pad else "replicate"
    x = F.pad(x, (pad, pad, pad, pad), mode=pad_mode)
    weight = torch.from_numpy(kernel)[None, None].expand(3, 1, -1, -1)
    return F.conv2d(x, weight, groups=3)[0].numpy().transpose(1, 2, 0)


def degrade(hr: np.ndarray, scale: int, rng: np.random.Generator,
            settings: Degradation = Degradation()) -> np.ndarray:
    """The low-resolution input for ``hr`` (H×W×3 uint8, sides divisible by ``scale``): H/s×W/s×3 uint8."""
    s = settings
    image = hr.astype(np.float32) / 255.0
    if rng.random() < s.blur_prob:
        size = int(rng.choice(BLUR_SIZES))
        if rng.random() < s.anisotropic_prob:
            sigma_x, sigma_y = rng.uniform(*s.blur_sigma, size=2)
            theta = rng.uniform(0, math.pi)
        else:
            sigma_x = sigma_y = rng.uniform(*s.blur_sigma)
            theta = 0.0
        image = _blur(image, gaussian_kernel(size, float(sigma_x), float(sigma_y), float(theta)))
    height, width = hr.shape[0] // scale, hr.shape[1] // scale
    resample = RESAMPLES[int(rng.integers(len(RESAMPLES)))]
    # resize each channel as a float image: no rounding before the noise
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(image[:, :, c])).resize((width, height), resample))
              for c in range(3)]
    image = np.stack(planes, axis=2)
    gray = rng.random() < s.gray_noise_prob
    if rng.random() < s.gaussian_noise_prob:
        sigma = rng.uniform(*s.noise_sigma) / 255.0
        shape = (height, width, 1) if gray else image.shape
        image = image + rng.normal(0.0, sigma, size=shape).astype(np.float32)
    else:
        # Poisson noise as Real-ESRGAN adds it: counts at 10^k levels, scaled
        noise_scale = rng.uniform(*s.poisson_scale)
        clipped = np.clip(image, 0.0, 1.0)
        if gray:
            luma = clipped @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            source = luma[:, :, None]
        else:
            source = clipped
        levels = 2 ** np.ceil(np.log2(max(len(np.unique((source * 255).round())), 2)))
        noisy = rng.poisson(source * levels) / levels
        image = image + (noisy - source).astype(np.float32) * noise_scale
    lr = np.clip(image * 255.0, 0, 255).round().astype(np.uint8)
    quality = int(rng.integers(s.jpeg_quality[0], s.jpeg_quality[1] + 1))
    buffer = io.BytesIO()
    Image.fromarray(lr).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def random_patch(image: np.ndarray, patch: int, rng: np.random.Generator) -> np.ndarray:
    """A ``patch × patch`` crop at a random place, randomly flipped and rotated by k·90°."""
    height, width = image.shape[:2]
    y = int(rng.integers(height - patch + 1))
    x = int(rng.integers(width - patch + 1))
    crop = image[y:y + patch, x:x + patch]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = np.rot90(crop, int(rng.integers(4)))
    return np.ascontiguousarray(crop)


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 → 3×H×W float32 in 0..1."""
    return torch.from_numpy(np.array(pixels, dtype=np.float32)).permute(2, 0, 1).div_(255.0)


@dataclass
class Dataset:
    """The user's images, checked and decoded (RGB uint8), and how to cut training pairs from them."""

    images: list[np.ndarray]
    names: list[str]
    scale: int
    patch: int  # side of the high-resolution patch; the input is patch / scale
    degradation: Degradation = field(default_factory=Degradation)

    def __len__(self) -> int:
        return len(self.images)

    def pair(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(lr, hr)`` uint8 arrays: a random patch of a random image (weighted by its area) and its
        degraded input."""
        areas = np.array([im.shape[0] * im.shape[1] for im in self.images], dtype=np.float64)
        index = int(rng.choice(len(self.images), p=areas / areas.sum()))
        hr = random_patch(self.images[index], self.patch, rng)
        return degrade(hr, self.scale, rng, self.degradation), hr

    def batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` pairs as float tensors ``(N×3×p/s×p/s, N×3×p×p)`` in 0..1."""
        pairs = [self.pair(rng) for _ in range(size)]
        return (torch.stack([to_tensor(lr) for lr, _ in pairs]), torch.stack([to_tensor(hr) for _, hr in pairs]))


def _name_of(index: int, item: Any) -> tuple[str, Any]:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return item[0], item[1]
    filename = getattr(item, "filename", "") if isinstance(item, Image.Image) else ""
    return (filename or f"image {index + 1}"), item


def load_image(item: ImageLike, name: str, min_side: int) -> np.ndarray:
    """Decode and check one image; ValueError naming it when it is unreadable or smaller than ``min_side``."""
    try:
        if isinstance(item, (bytes, bytearray, memoryview)):
            with Image.open(io.BytesIO(bytes(item))) as opened:
                if opened.width * opened.height > MAX_IMAGE_PIXELS:
                    raise ValueError(f"{opened.width}x{opened.height} is over {MAX_IMAGE_PIXELS} pixels")
                opened.load()
                image = opened.copy()
        elif isinstance(item, Image.Image):
            image = item
            image.load()
        else:
            raise ValueError(f"expected an image, got {type(item).__name__}")
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise ValueError(f"{image.width}x{image.height} is over {MAX_IMAGE_PIXELS} pixels")
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        elif image.mode in ("I;16", "I;16B", "I;16L", "I"):
            image = Image.fromarray((np.asarray(image, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8))
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except ValueError as exc:
        raise ValueError(f"{name}: unreadable image ({exc})") from exc
    except Exception as exc:  # any decoder failure (truncated, not an image, a decompression bomb)
        raise ValueError(f"{name}: unreadable image ({exc.__class__.__name__}: {exc})") from exc
    height, width = pixels.shape[:2]
    if min(height, width) < min_side:
        raise ValueError(f"{name}: image is {width}x{height}; training needs at least {min_side}x{min_side} "
                         f"pixels")
    return pixels


def prepare(images: Sequence[NamedImage], scale: int, patch: int,
            on_file: Callable[[int, int], None] | None = None, *,
            degradation: Degradation | None = None) -> Dataset:
    """Check and decode ``images`` (PIL images or encoded bytes, each optionally as ``(name, image)``) into a
    :class:`Dataset` of ``patch``-pixel high-resolution patches for a ×``scale`` model.

    ``on_file(i, total)`` is called after each image (``i`` counts from 1). ValueError (naming the image) for
    an unreadable image or one with a side under ``patch``; ValueError for no images or a ``patch`` that is not
    a multiple of ``scale`` of at least ``8 × scale``."""
    if scale not in (1, 2, 3, 4, 8):
        raise ValueError(f"scale must be 1, 2, 3, 4 or 8, not {scale}")
    if patch % scale or patch < 8 * scale:
        raise ValueError(f"patch must be a multiple of the scale ({scale}) of at least {8 * scale}, not {patch}")
    if not images:
        raise ValueError("no images to train on")
    decoded, names = [], []
    total = len(images)
    for index, item in enumerate(images):
        name, image = _name_of(index, item)
        decoded.append(load_image(image, name, patch))
        names.append(name)
        if on_file is not None:
            on_file(index + 1, total)
    return Dataset(decoded, names, scale, patch, degradation or Degradation())
