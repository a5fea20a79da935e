"""Watermark detector benchmark: weights files side by side on the test's held-out seeds, one run.

    python bench/watermark.py                                  # the committed weights alone
    python bench/watermark.py pipelines/ml/weights/watermark.pt other.pt --threads 1

For each weights file: its architecture (widths), parameters, recall at IoU 0.5 and the share of clean
images with any detection, pooled over the held-out seeds of tests/ai/test_watermark.py (200 watermarked
+ 200 clean 256x256 images per seed, fonts never seen in training), and the node's time per image
(``WatermarkDetector.detect`` on a 1200x800 photo-like image: letterbox, network, decode) on the CPU.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

_here = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path(_here)]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

HELD_OUT_SEEDS = (777001, 888001, 999001, 121212)  # tests/ai/test_watermark.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="*", type=Path)
    parser.add_argument("--per-seed", type=int, default=200, help="watermarked (and clean) images per seed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=30, help="timed detections per weights file")
    args = parser.parse_args()

    import django

    django.setup()
    import torch

    from pipelines.ml import watermark as wm
    from pipelines.ml.watermark_data import HELDOUT_FONTS, add_watermarks, background, find_fonts
    from pipelines.ml.watermark_train import _rates, describe, evaluate, heldout

    torch.set_num_threads(args.threads)
    files = args.weights or [wm.WEIGHTS_PATH]
    started = time.perf_counter()
    sets = {seed: heldout(args.per_seed, args.per_seed, seed=seed) for seed in HELD_OUT_SEEDS}
    print(f"held-out data: {len(sets)} seeds x {2 * args.per_seed} images in "
          f"{time.perf_counter() - started:.0f}s; CPU, {args.threads} thread(s)")
    rng = random.Random(5)
    photo, _ = add_watermarks(rng, background(rng, 1200, 800), find_fonts(HELDOUT_FONTS))
    keys = ("hits", "boxes", "flagged", "clean", "marked")
    for path in files:
        detector = wm.WatermarkDetector(path, device="cpu")
        by_seed = {seed: evaluate(detector, data) for seed, data in sets.items()}
        pooled = _rates({k: sum(s[k] for s in by_seed.values()) for k in keys})
        detector.detect(photo)
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            detector.detect(photo)
        ms = (time.perf_counter() - t0) / args.repeat * 1000
        params = sum(p.numel() for p in detector.model.parameters())
        meta = detector.meta
        print(f"\n{path.name}: widths {meta['widths']} head {meta['head']}, {params / 1e3:.0f}k params, "
              f"threshold {detector.threshold:.3f}, {path.stat().st_size / 1e6:.2f} MB")
        for seed, stats in by_seed.items():
            print(f"  seed {seed}: {describe(stats)}")
        print(f"  pooled: {describe(pooled)}")
        print(f"  node time: {ms:.1f} ms per 1200x800 image")


if __name__ == "__main__":
    main()
