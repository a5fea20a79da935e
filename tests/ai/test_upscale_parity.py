"""Our engine against realesrgan's reference ``RealESRGANer``: same weights, same input, float32 on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.ml import realesrgan_compat, upscale_models

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def engines():
    from pipelines.ml.upscale import UpscaleEngine

    cache: dict[str, UpscaleEngine] = {}

    def get(name: str) -> UpscaleEngine:
        if name not in cache:
            cache[name] = UpscaleEngine(name, "cpu")
        return cache[name]

    return get


def reference(name: str, engine, **kwargs):
    """RealESRGANer on the very file our engine loaded; no pre-padding so that borders are comparable."""
    options = {"tile": 0, "pre_pad": 0, "half": False} | kwargs
    # uninitialised parameters (skips basicsr's slow random init): RealESRGANer overwrites all of them
    network = upscale_models.build_network(upscale_models.MODELS[name], "meta").to_empty(device="cpu")
    return realesrgan_compat.realesrganer(scale=4, model_path=str(engine.weights), model=network,
                                          device=torch.device("cpu"), **options)


def bgr(pixels: np.ndarray) -> np.ndarray:
    """RealESRGANer takes OpenCV's channel order."""
    if pixels.ndim == 2:
        return pixels
    order = [2, 1, 0, 3][: pixels.shape[2]]
    return np.ascontiguousarray(pixels[:, :, order])


def test_x4plus_rgb_matches_realesrganer(upscale_weights, engines, upscale_sample, upscale_psnr):
    image = upscale_sample(32, 32, 3)
    engine = engines("RealESRGAN_x4plus")
    expected, mode = reference("RealESRGAN_x4plus", engine).enhance(bgr(image), outscale=4)

    ours = engine.upscale(image, scale=4)

    assert mode == "RGB" and ours.shape == (128, 128, 3) and ours.dtype == np.uint8
    assert upscale_psnr(ours, bgr(expected)) >= 50.0


def test_grayscale_matches_realesrganer(upscale_weights, engines, upscale_sample, upscale_psnr):
    image = upscale_sample(24, 32, 1, seed=1)
    engine = engines("RealESRGAN_x4plus_anime_6B")
    expected, mode = reference("RealESRGAN_x4plus_anime_6B", engine).enhance(image, outscale=4)

    ours = engine.upscale(image)

    assert mode == "L" and ours.shape == expected.shape == (96, 128)
    assert upscale_psnr(ours, expected) >= 50.0


def test_sixteen_bit_matches_realesrganer(upscale_weights, engines, upscale_sample, upscale_psnr):
    image = upscale_sample(24, 24, 3, np.uint16, seed=2)
    engine = engines("realesr-animevideov3")
    expected, _ = reference("realesr-animevideov3", engine).enhance(bgr(image), outscale=4)

    ours = engine.upscale(image)

    assert ours.dtype == expected.dtype == np.uint16
    assert upscale_psnr(ours, bgr(expected), 65535.0) >= 50.0


def test_rgba_colour_matches_and_alpha_is_kept(upscale_weights, engines, upscale_sample, upscale_psnr):
    image = upscale_sample(24, 24, 4, seed=4)
    image[:8, :8, 3] = 0  # a transparent corner
    engine = engines("realesr-animevideov3")
    # RealESRGANer's non-network alpha path is a bilinear resize; ours is bicubic: compare colour exactly,
    # alpha loosely
    expected, mode = reference("realesr-animevideov3", engine).enhance(bgr(image), outscale=4,
                                                                       alpha_upsampler="bilinear")
    ours = engine.upscale(image)

    assert mode == "RGBA" and ours.shape == (96, 96, 4)
    assert upscale_psnr(ours[:, :, :3], bgr(expected)[:, :, :3]) >= 50.0
    assert upscale_psnr(ours[:, :, 3], expected[:, :, 3]) >= 30.0
    assert ours[:28, :28, 3].max() == 0 and ours[40:, 40:, 3].min() > 0


def test_tiled_run_matches_realesrganer_tiled_and_whole(upscale_weights, engines, upscale_sample, upscale_psnr):
    image = upscale_sample(80, 72, 3, seed=5)
    engine = engines("realesr-animevideov3")
    whole, _ = reference("realesr-animevideov3", engine).enhance(bgr(image), outscale=4)
    tiled, _ = reference("realesr-animevideov3", engine, tile=32, tile_pad=16).enhance(bgr(image), outscale=4)

    ours = engine.upscale(image, tile_size=32)  # 3×3 windows of 64×64

    assert upscale_psnr(ours, bgr(tiled)) >= 50.0
    assert upscale_psnr(ours, bgr(whole)) >= 50.0


def test_scale_two_is_close_to_realesrganer_outscale(upscale_weights, engines, upscale_sample, upscale_psnr):
    """×2 differs by design (bicubic on the float output vs. Lanczos on the 8-bit one): same picture, not bits."""
    image = upscale_sample(24, 24, 3, seed=6)
    engine = engines("realesr-animevideov3")
    expected, _ = reference("realesr-animevideov3", engine).enhance(bgr(image), outscale=2)

    ours = engine.upscale(image, scale=2)

    assert ours.shape == expected.shape == (48, 48, 3)
    assert upscale_psnr(ours, bgr(expected)) >= 35.0
