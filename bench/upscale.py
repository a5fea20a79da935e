"""Upscale benchmark: realesrgan's RealESRGANer against our engine, in one run, same device, same weights.

    python bench/upscale.py                      # CUDA when present: 512x512 -> 2048x2048, 16 images
    python bench/upscale.py --device cpu         # CPU: 256x256 -> 1024x1024, 2 images
    python bench/upscale.py --model realesr-animevideov3 --count 64 --concurrency 8

Measurements per side, printed next to each other with their ratio (ours/ref > 1: we are faster):

* ``infer``: decoded pixels in, pixels out. RealESRGANer with fp16 on CUDA, ``tile=0`` and
  ``pre_pad=0`` (so both sides compute the same pixels; the printed PSNR checks it), one image
  after the other (it keeps per-call state on the instance, so threads cannot share it). Ours
  through ``get_engine`` with ``--concurrency`` threads submitting at once, so that the
  micro-batcher can group their tiles.
* ``end-to-end``: PNG bytes in, PNG bytes out. RealESRGANer with ``cv2.imdecode``/``imencode``;
  ours through the IMAGE__UPSCALE node (Pillow decode -> ``run`` -> Pillow PNG encode).
* our engine's load and warm-up time (CUDA: ``torch.compile``; cached on disk for the next process).

The two sides alternate chunk by chunk (one image on the CPU, the whole set on CUDA) so that a
change in machine load hits both alike; on the CPU the process CPU seconds are printed as well,
which a shared machine disturbs less than wall time.

Not part of the test suite. Images are synthetic but not trivial (gradients, edges, texture).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts bench/ first on sys.path, where a module shadows the standard library
# (bench/platform.py); import from the repository root instead (`python -m bench.upscale` works too).
_BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH_DIR]
sys.path.insert(0, str(_BENCH_DIR.parent))

import argparse
import io
import os
import threading
import time

import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def synthetic_images(count: int, size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = []
    for _ in range(count):
        planes = []
        for _c in range(3):
            f1, f2, f3 = rng.uniform(2, 12, 3)
            plane = 0.5 + 0.25 * np.sin(2 * np.pi * (f1 * xx + rng.uniform())) * np.cos(2 * np.pi * f2 * yy)
            plane += 0.15 * (np.sin(2 * np.pi * f3 * (xx + yy)) > 0.6)
            plane += rng.normal(0, 0.03, (size, size))
            planes.append(plane)
        images.append(np.round(np.clip(np.stack(planes, 2), 0, 1) * 255).astype(np.uint8))
    return images


def png_bytes(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def timed(fn, items, concurrency: int, sync) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) to push every item through ``fn`` with ``concurrency`` threads."""
    queue = list(items)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            fn(item)

    sync()
    cpu, started = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(max(1, concurrency))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sync()
    return time.perf_counter() - started, time.process_time() - cpu


def side_by_side(ref_fn, ours_fn, items, concurrency: int, rounds: int, chunk: int, sync) -> dict[str, list[float]]:
    """Alternate the two sides chunk by chunk (ABBA...) so that drift in machine load hits both alike."""
    totals = {"ref": [0.0, 0.0], "ours": [0.0, 0.0]}
    chunks = [items[i: i + chunk] for _ in range(rounds) for i in range(0, len(items), chunk)]
    for index, part in enumerate(chunks):
        sides = [("ref", ref_fn, 1), ("ours", ours_fn, concurrency)]
        for key, fn, threads in sides if index % 2 == 0 else reversed(sides):
            wall, cpu = timed(fn, part, threads, sync)
            totals[key][0] += wall
            totals[key][1] += cpu
    return totals


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="RealESRGAN_x4plus")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--size", type=int, default=None, help="input side (default 512 on CUDA, 256 on CPU)")
    parser.add_argument("--count", type=int, default=None, help="images per measurement (16 CUDA / 2 CPU)")
    parser.add_argument("--concurrency", type=int, default=None, help="our request threads (8 CUDA / 1 CPU)")
    parser.add_argument("--tile", type=int, default=256, help="our tile_size")
    parser.add_argument("--rounds", type=int, default=None, help="repetitions of the set (3 CUDA / 1 CPU)")
    args = parser.parse_args()

    import django

    django.setup()
    import cv2
    import torch

    from pipelines.ml import realesrgan_compat, upscale, upscale_models
    from pipelines.nodes.base import ImageValue, NodeContext, get_node_type

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    cuda = device.startswith("cuda")
    size = args.size or (512 if cuda else 256)
    count = args.count or (16 if cuda else 2)
    concurrency = args.concurrency or (8 if cuda else 1)
    args.rounds = args.rounds or (3 if cuda else 1)
    sync = (lambda: torch.cuda.synchronize()) if cuda else (lambda: None)
    name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    upscale_models.ensure_converted([args.model])
    weights = upscale_models.weights_path(args.model)
    print(f"device {device} ({name}) | torch {torch.__version__} | model {args.model} | "
          f"{size}x{size} -> {4 * size}x{4 * size} | {count} images | weights {weights.name}")

    images = synthetic_images(count + 1, size)
    warm, batch = images[0], images[1:]
    encoded = [png_bytes(img) for img in batch]

    # -- both sides loaded side by side ---------------------------------------------------------------------
    # pre_pad=0: RealESRGANer's class default (10) reflect-pads the right/bottom edges, which changes
    # x4plus's output far beyond the border; without it both sides compute the same thing.
    network = upscale_models.build_network(upscale_models.MODELS[args.model], "meta").to_empty(device="cpu")
    reference = realesrgan_compat.realesrganer(scale=4, model_path=str(weights), model=network, tile=0,
                                               pre_pad=0, half=cuda, device=torch.device(device))
    started = time.perf_counter()
    engine = upscale.get_engine(args.model, device)
    load_s = time.perf_counter() - started
    ours_out = engine.upscale(warm, tile_size=args.tile)
    warm_s = time.perf_counter() - started
    ref_out = reference.enhance(np.ascontiguousarray(warm[:, :, ::-1]), outscale=4)[0]

    def reference_infer(img: np.ndarray) -> None:
        reference.enhance(np.ascontiguousarray(img[:, :, ::-1]), outscale=4)

    def reference_e2e(data: bytes) -> bytes:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        return cv2.imencode(".png", reference.enhance(pixels, outscale=4)[0], [cv2.IMWRITE_PNG_COMPRESSION, 1])[1]

    node = get_node_type("IMAGE__UPSCALE")()
    params = {**node.param_defaults(), "model": args.model, "tile_size": args.tile}

    def ours_e2e(data: bytes) -> bytes:
        from PIL import Image

        ctx = NodeContext(run_id="bench", node_id="upscale")
        result = node.run(ctx, {"image": ImageValue(Image.open(io.BytesIO(data)))}, params)["image"]
        buffer = io.BytesIO()
        result.image.save(buffer, format=result.format, compress_level=1)
        return buffer.getvalue()

    chunk = count if cuda else 1  # CUDA: our side needs the whole set at once to batch across requests
    before = (engine.runner.batches, engine.runner.items)
    infer = side_by_side(reference_infer, lambda img: engine.upscale(img, tile_size=args.tile), batch,
                         concurrency, args.rounds, chunk, sync)
    batches, items = engine.runner.batches - before[0], engine.runner.items - before[1]
    e2e = side_by_side(reference_e2e, ours_e2e, encoded, concurrency, args.rounds, chunk, sync)

    # -- report ------------------------------------------------------------------------------------------
    done = count * args.rounds
    agreement = psnr(ours_out, np.ascontiguousarray(ref_out[:, :, ::-1]))
    print(f"our engine: load {load_s:.1f} s, load + first image (compile/warm-up) {warm_s:.1f} s, "
          f"{'fp16 + channels_last' if cuda and engine.dtype == torch.float16 else 'fp32'}"
          f"{' + torch.compile' if engine.compiled else ''}, concurrency {concurrency}, "
          f"avg batch {items / max(batches, 1):.1f} tiles; output vs RealESRGANer PSNR {agreement:.1f} dB")
    print(f"{'':28}{'RealESRGANer':>14}{'ours':>12}{'ours/ref':>10}")
    for label, totals in (("infer", infer), ("end-to-end (node)", e2e)):
        (ref_wall, ref_cpu), (our_wall, our_cpu) = totals["ref"], totals["ours"]
        print(f"{label + ' images/s':28}{done / ref_wall:14.3f}{done / our_wall:12.3f}{ref_wall / our_wall:10.2f}")
        if not cuda:
            print(f"{label + ' s/image':28}{ref_wall / done:14.2f}{our_wall / done:12.2f}")
            print(f"{label + ' CPU-s/image':28}{ref_cpu / done:14.2f}{our_cpu / done:12.2f}")


if __name__ == "__main__":
    main()
