"""Seconds per input megapixel of the IMAGE__UPSCALE node, per model: grounds its cost estimate.

    python bench/upscale_cost.py                       # CPU (or CUDA when present), 128x128 and 192x128
    python bench/upscale_cost.py --sizes 256x256 --tile 128 --device cpu

Runs the node itself (decode → engine → encode) on synthetic images, once to warm up and then per size,
with a tile smaller than the image so tiling and its overlap are part of the figure. Prints seconds per
megapixel for each model and size; ``IMAGE__UPSCALE.seconds_per_megapixel`` takes the slowest model's
figure. Not part of the test suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

_BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH_DIR]
sys.path.insert(0, str(_BENCH_DIR.parent))

import argparse
import os
import time


def synthetic(width: int, height: int):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) % 64 * 4], axis=-1)
    noise = rng.integers(0, 32, size=(height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype("uint8"), "RGB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="128x128,192x128")
    parser.add_argument("--tile", type=int, default=96)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", default="")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["UPSCALE_DEVICE"] = args.device
    import django

    django.setup()
    import torch

    from pipelines.ml import upscale
    from pipelines.ml.upscale_models import MODELS
    from pipelines.nodes.base import ImageValue, NodeContext
    from pipelines.nodes.upscale import ImageUpscale

    print(f"device {upscale.select_device()}, torch threads {torch.get_num_threads()}")
    models = args.models.split(",") if args.models else list(MODELS)
    for model in models:
        params = {"model": model, "scale": 4, "tile_size": args.tile}
        ctx = NodeContext(run_id="bench", node_id="up")
        ImageUpscale().run(ctx, {"image": ImageValue(synthetic(64, 64))}, params)  # load and warm up
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            image = ImageValue(synthetic(w, h))
            cpu0, t0 = time.process_time(), time.perf_counter()
            ImageUpscale().run(ctx, {"image": image}, params)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            mp = w * h / 1e6
            print(
                f"{model:28s} {w}x{h} tile {args.tile}: {wall:7.2f} s wall ({wall / mp:7.1f} s/MP), "
                f"{cpu:7.2f} s CPU",
                flush=True,
            )


if __name__ == "__main__":
    main()
