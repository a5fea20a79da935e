"""Upscale benchmark: realesrgan's RealESRGANer against our engine, in one run, same device, same weights.

    python bench/upscale.py                      # CUDA when present: 512x512 -> 2048x2048, 16 images
    python bench/upscale.py --device cpu         # CPU: 256x256 -> 1024x1024, 2 images
    python bench/upscale.py --model realesr-animevideov3 --count 64 --concurrency 8

Three measurements per side, printed next to each other with their ratio:

* ``infer``: decoded pixels in, pixels out. RealESRGANer the way its README runs it (fp16 on CUDA,
  ``tile=0``, its default ``pre_pad``), one image after the other (it keeps per-call state on
  the instance, so it cannot be shared between threads). Ours through ``get_engine`` with
  ``--concurrency`` threads submitting at once, so that the micro-batcher can group their tiles.
* ``end-to-end``: PNG bytes in, PNG bytes out. RealESRGANer with ``cv2.imdecode``/``imencode``;
  ours through the IMAGE__UPSCALE node (Pillow decode -> ``run`` -> Pillow PNG encode).
* warm-up/compile time of our engine (CUDA: ``torch.compile``; cached on disk for the next process).

Not part of the test suite. Images are synthetic but not trivial (gradients, edges, texture).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
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


def timed(fn, items, concurrency: int, sync) -> float:
    """Seconds to push every item through ``fn`` with ``concurrency`` threads."""
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
    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(max(1, concurrency))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sync()
    return time.perf_counter() - started


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
    sync = (lambda: torch.cuda.synchronize()) if cuda else (lambda: None)
    name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    upscale_models.ensure_converted([args.model])
    weights = upscale_models.weights_path(args.model)
    print(f"device {device} ({name}) | torch {torch.__version__} | model {args.model} | "
          f"{size}x{size} -> {4 * size}x{4 * size} | {count} images | weights {weights.name}")

    images = synthetic_images(count + 1, size)
    warm, batch = images[0], images[1:]
    encoded = [png_bytes(img) for img in batch]

    # -- reference ---------------------------------------------------------------------------------------
    network = upscale_models.build_network(upscale_models.MODELS[args.model], "meta").to_empty(device="cpu")
    reference = realesrgan_compat.realesrganer(scale=4, model_path=str(weights), model=network, tile=0,
                                               half=cuda, device=torch.device(device))
    bgr = [np.ascontiguousarray(img[:, :, ::-1]) for img in batch]
    ref_out = reference.enhance(np.ascontiguousarray(warm[:, :, ::-1]), outscale=4)[0]
    ref_infer = timed(lambda img: reference.enhance(img, outscale=4), bgr, 1, sync)

    def reference_e2e(data: bytes) -> bytes:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        return cv2.imencode(".png", reference.enhance(pixels, outscale=4)[0])[1].tobytes()

    ref_e2e = timed(reference_e2e, encoded, 1, sync)
    reference.model = None  # free its copy of the network before ours loads
    if cuda:
        torch.cuda.empty_cache()

    # -- ours --------------------------------------------------------------------------------------------
    started = time.perf_counter()
    engine = upscale.get_engine(args.model, device)
    load_s = time.perf_counter() - started
    ours_out = engine.upscale(warm, tile_size=args.tile)
    warm_s = time.perf_counter() - started
    batches_before, items_before = engine.runner.batches, engine.runner.items
    ours_infer = timed(lambda img: engine.upscale(img, tile_size=args.tile), batch, concurrency, sync)
    batches = engine.runner.batches - batches_before
    items = engine.runner.items - items_before

    node = get_node_type("IMAGE__UPSCALE")()
    params = {**node.param_defaults(), "model": args.model, "tile_size": args.tile}

    def ours_e2e(data: bytes) -> bytes:
        from PIL import Image

        ctx = NodeContext(run_id="bench", node_id="upscale")
        result = node.run(ctx, {"image": ImageValue(Image.open(io.BytesIO(data)))}, params)["image"]
        buffer = io.BytesIO()
        result.image.save(buffer, format=result.format, compress_level=1)
        return buffer.getvalue()

    ours_e2e_s = timed(ours_e2e, encoded, concurrency, sync)

    # -- report ------------------------------------------------------------------------------------------
    agreement = psnr(ours_out, np.ascontiguousarray(ref_out[:, :, ::-1]))
    print(f"our engine: load {load_s:.1f} s, load + first image (compile/warm-up) {warm_s:.1f} s, "
          f"{'fp16 + channels_last' if cuda and engine.dtype == torch.float16 else 'fp32'}"
          f"{' + torch.compile' if engine.compiled else ''}, concurrency {concurrency}, "
          f"avg batch {items / max(batches, 1):.1f} tiles; output vs RealESRGANer PSNR {agreement:.1f} dB")
    print(f"{'':24}{'RealESRGANer':>14}{'ours':>12}{'ours/ref':>10}")
    for label, ref_s, our_s in (("infer", ref_infer, ours_infer), ("end-to-end (node)", ref_e2e, ours_e2e_s)):
        print(f"{label + ' images/s':24}{count / ref_s:14.3f}{count / our_s:12.3f}{ref_s / our_s:10.2f}")
        if not cuda:
            print(f"{label + ' s/image':24}{ref_s / count:14.2f}{our_s / count:12.2f}")


if __name__ == "__main__":
    main()
