"""The upscale engine: tiling, pixel formats, limits, the per-process cache and the micro-batcher."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pipelines.ml import upscale
from pipelines.ml.upscale_batcher import DirectRunner, MicroBatcher

torch = pytest.importorskip("torch")


# -- tiling plan -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("height, width, tile, pad", [(1, 1, 32, 8), (100, 90, 32, 16), (300, 257, 256, 16),
                                                      (64, 640, 128, 10)])
def test_tiles_cover_every_pixel_once_with_context(height, width, tile, pad):
    tiles = upscale.plan_tiles(height, width, tile, pad)
    owner = np.zeros((height, width), dtype=int)
    shapes = set()
    for t in tiles:
        (wy0, wy1, wx0, wx1), (cy0, cy1, cx0, cx1) = t.window, t.core
        owner[cy0:cy1, cx0:cx1] += 1
        shapes.add((wy1 - wy0, wx1 - wx0))
        assert 0 <= wy0 <= cy0 < cy1 <= wy1 <= height and 0 <= wx0 <= cx0 < cx1 <= wx1 <= width
        # at least `pad` pixels of real context around the core, unless the image ends there
        assert cy0 - wy0 >= pad or wy0 == 0
        assert wy1 - cy1 >= pad or wy1 == height
        assert cx0 - wx0 >= pad or wx0 == 0
        assert wx1 - cx1 >= pad or wx1 == width
    assert (owner == 1).all()
    assert len(shapes) == 1  # one window shape per image: tiles batch together and compile once
    assert max(shapes.pop()) <= tile + 2 * pad


# -- pixels ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compact(upscale_weights):
    return upscale.UpscaleEngine("realesr-animevideov3", "cpu")


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_every_layout_comes_back_bigger_in_the_same_layout(compact, upscale_sample, channels, dtype):
    image = upscale_sample(12, 10, channels, dtype)
    out = compact.upscale(image, scale=3)
    expected_shape = (36, 30) if channels == 1 else (36, 30, channels)
    assert out.shape == expected_shape and out.dtype == dtype


def test_sixteen_bit_keeps_its_precision(compact, upscale_sample):
    """A 16-bit input must not be squeezed through 8 bits on the way."""
    image = upscale_sample(16, 16, 3, np.uint16)
    out = compact.upscale(image)
    assert len(np.unique(out % 257)) > 100  # an 8-bit round trip would leave only multiples of 257


def test_alpha_is_resized_separately(compact, upscale_sample):
    import cv2

    image = upscale_sample(16, 16, 4)
    image[:, :, 3] = np.linspace(0, 255, 16, dtype=np.uint8)[None, :]
    out = compact.upscale(image)
    expected = cv2.resize(image[:, :, 3], (64, 64), interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(out[:, :, 3], expected)


def test_tiled_output_matches_the_whole_image(compact, upscale_sample, upscale_psnr):
    image = upscale_sample(100, 90, 3, seed=7)
    whole = compact.upscale(image, tile_size=1024)
    tiled = compact.upscale(image, tile_size=32)
    assert upscale_psnr(tiled, whole) >= 60.0


def test_progress_is_reported_up_to_one(compact, upscale_sample):
    seen = []
    compact.upscale(upscale_sample(70, 70), tile_size=32, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 3


@pytest.mark.parametrize("kwargs, code", [({"scale": 5}, "INVALID_PARAM"), ({"tile_size": 8}, "INVALID_PARAM")])
def test_bad_arguments_are_refused(compact, upscale_sample, kwargs, code):
    with pytest.raises(upscale.UpscaleInputError) as exc:
        compact.upscale(upscale_sample(8, 8), **kwargs)
    assert exc.value.code == code


def test_bad_pixels_are_refused(compact):
    with pytest.raises(upscale.UpscaleInputError) as exc:
        compact.upscale(np.zeros((4, 4, 5), np.uint8))
    assert exc.value.code == "UNSUPPORTED_IMAGE"
    with pytest.raises(upscale.UpscaleInputError) as exc:
        compact.upscale(np.zeros((4, 4), np.int64))
    assert exc.value.code == "UNSUPPORTED_IMAGE"
    with pytest.raises(upscale.UpscaleInputError) as exc:
        compact.upscale(np.zeros((0, 4, 3), np.uint8))
    assert exc.value.code == "INVALID_IMAGE"


def test_pixel_limits_come_from_settings(settings, compact):
    settings.UPSCALE_MAX_INPUT_PIXELS = 10_000
    settings.UPSCALE_CPU_MAX_INPUT_PIXELS = 2_000
    assert upscale.max_input_pixels("cuda") == 10_000
    assert upscale.max_input_pixels("cpu") == 2_000
    with pytest.raises(upscale.UpscaleInputError) as exc:
        compact.upscale(np.zeros((50, 41, 3), np.uint8))
    assert exc.value.code == "IMAGE_TOO_LARGE"
    assert exc.value.details == {"width": 41, "height": 50, "max_pixels": 2_000, "device": "cpu"}


def test_device_follows_the_setting(settings):
    settings.UPSCALE_DEVICE = "cpu"
    assert upscale.select_device() == "cpu"
    settings.UPSCALE_DEVICE = "auto"
    assert upscale.select_device() == ("cuda" if torch.cuda.is_available() else "cpu")


# -- one engine per process ------------------------------------------------------------------------------

def test_engine_is_loaded_once_even_under_concurrency(upscale_weights, monkeypatch):
    upscale.clear_engines()
    built = []
    real_init = upscale.UpscaleEngine.__init__

    def counting_init(self, *args, **kwargs):
        built.append(1)
        time.sleep(0.05)  # widen the race window
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(upscale.UpscaleEngine, "__init__", counting_init)
    results = []
    threads = [threading.Thread(target=lambda: results.append(upscale.get_engine("realesr-animevideov3", "cpu")))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and len({id(e) for e in results}) == 1
    upscale.clear_engines()


def test_unknown_model_is_an_input_error():
    with pytest.raises(upscale.UpscaleInputError) as exc:
        upscale.get_engine("ESRGAN_9000", "cpu")
    assert exc.value.code == "INVALID_PARAM"


# -- micro-batching ---------------------------------------------------------------------------------------

def test_batched_path_matches_the_direct_one_under_concurrency(upscale_weights, upscale_sample, upscale_psnr):
    """The CUDA path's batcher, exercised on the CPU: tiles of concurrent requests share network calls."""
    direct = upscale.UpscaleEngine("realesr-animevideov3", "cpu")
    batched = upscale.UpscaleEngine("realesr-animevideov3", "cpu", batched=True)
    assert batched.warm_up(tile_size=32) > 0 and batched.runner.batches >= 2
    images = [upscale_sample(70, 60, 3, seed=seed) for seed in range(4)]
    expected = [direct.upscale(image, tile_size=32) for image in images]
    results: list = [None] * len(images)
    barrier = threading.Barrier(len(images))

    def request(i):
        barrier.wait()
        results[i] = batched.upscale(images[i], tile_size=32)

    before = (batched.runner.batches, batched.runner.items)
    threads = [threading.Thread(target=request, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batched.runner.close()
    batches, items = batched.runner.batches - before[0], batched.runner.items - before[1]
    assert items == 4 * 3 and batches < items  # 3 windows per image, grouped across requests
    for ours, reference in zip(results, expected):
        assert upscale_psnr(ours, reference) >= 60.0  # batched vs single convolutions: rounding only


def test_compile_failure_falls_back_to_eager(caplog):
    def broken(batch):
        raise RuntimeError("inductor exploded")

    forward = upscale._CompiledWithFallback(lambda batch: batch + 1, broken)
    assert torch.equal(forward(torch.zeros(2)), torch.ones(2))
    assert forward.compiled is None and "continuing in eager mode" in caplog.text
    assert torch.equal(forward(torch.ones(2)), torch.full((2,), 2.0))


def test_micro_batcher_groups_concurrent_requests():
    seen_batches = []

    def double(batch):
        seen_batches.append(batch.shape[0])
        return batch * 2

    batcher = MicroBatcher(double, max_batch=8, max_wait_s=0.05)
    barrier = threading.Barrier(8)
    results = {}

    def request(i):
        barrier.wait()
        results[i] = batcher.submit(torch.full((3, 4, 4), float(i))).result(timeout=5)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()
    assert all(torch.equal(results[i], torch.full((3, 4, 4), 2.0 * i)) for i in range(8))
    assert sum(seen_batches) == 8 and len(seen_batches) < 8  # at least some were batched together
    assert batcher.items == 8 and batcher.batches == len(seen_batches)


def test_micro_batcher_keeps_shapes_apart_and_reports_errors():
    def check(batch):
        if batch.shape[-1] == 5:
            raise RuntimeError("boom")
        return batch + 1

    batcher = MicroBatcher(check, max_batch=4, max_wait_s=0.05)
    good = [batcher.submit(torch.zeros(1, 4, 4)) for _ in range(2)]
    bad = batcher.submit(torch.zeros(1, 4, 5))
    assert all(torch.equal(f.result(timeout=5), torch.ones(1, 4, 4)) for f in good)
    with pytest.raises(RuntimeError, match="boom"):
        bad.result(timeout=5)
    batcher.close()


def test_direct_runner_runs_in_the_callers_thread():
    runner = DirectRunner(lambda batch: batch * 3)
    assert torch.equal(runner.submit(torch.ones(2, 2)).result(), torch.full((2, 2), 3.0))
    failing = DirectRunner(lambda batch: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.submit(torch.ones(1)).result()


# -- progress and cancellation inside one tile -----------------------------------------------------------


class Stop(Exception):
    pass


def test_progress_is_reported_inside_a_single_tile_and_can_stop_it(compact, upscale_sample):
    """A small image is one tile: its pass still reports as the network's blocks go by, and a callback that
    raises (a cancelled run) stops the pass at the next block instead of the end of the image."""
    image = upscale_sample(40, 40, 3, np.uint8)
    seen: list[float] = []
    compact.upscale(image, scale=4, tile_size=256, progress=seen.append)
    inside = [f for f in seen if 0 < f < 1]
    assert len(upscale.plan_tiles(40, 40, 256, compact.tile_pad)) == 1
    assert len(inside) >= 10 and inside == sorted(inside) and seen[-1] == 1.0

    calls = []

    def cancel_at_third(fraction: float) -> None:
        calls.append(fraction)
        if len(calls) >= 3:
            raise Stop()

    with pytest.raises(Stop):
        compact.upscale(image, scale=4, tile_size=256, progress=cancel_at_third)
    assert len(calls) <= 4 and max(calls) < 0.5  # stopped at the third block of 35
