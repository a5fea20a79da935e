"""Fixtures of the AI node tests. Upscale fixtures are prefixed ``upscale_``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


@pytest.fixture(scope="session")
def upscale_weights() -> dict[str, str]:
    """Make sure the converted Real-ESRGAN weights exist (what `manage.py convert_realesrgan` does at install).

    Cheap when they are already there; converts from the installed ncnn package otherwise (a few seconds).
    """
    from pipelines.ml import upscale_models

    return upscale_models.ensure_converted()


@pytest.fixture
def upscale_sample() -> Callable[..., np.ndarray]:
    """A deterministic, natural-ish test image: smooth colour fields with a few hard edges."""

    def make(height: int = 32, width: int = 32, channels: int = 3, dtype: type = np.uint8,
             seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        planes = []
        for c in range(channels):
            fx, fy, phase = rng.uniform(0.05, 0.35, 2).tolist() + [rng.uniform(0, 6.28)]
            plane = 0.5 + 0.35 * np.sin(xx * fx + phase) * np.cos(yy * fy)
            plane += 0.15 * ((xx + yy * (c + 1)) % 17 < 8)  # hard edges
            planes.append(plane)
        image = np.clip(np.stack(planes, axis=2), 0.0, 1.0)
        if dtype == np.float32:
            out = image.astype(np.float32)
        else:
            out = np.round(image * np.iinfo(dtype).max).astype(dtype)
        return out[:, :, 0] if channels == 1 else out

    return make


@pytest.fixture
def upscale_psnr() -> Callable[[np.ndarray, np.ndarray, float], float]:
    def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
        assert a.shape == b.shape, (a.shape, b.shape)
        mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
        return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)

    return psnr
