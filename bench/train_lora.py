"""LoRA training of the upscaler: speed on this machine and the quality it buys.

    python bench/train_lora.py                          # textures, 400 steps, the TrainConfig defaults
    python bench/train_lora.py --kind photos --steps 600 --learning-rate 5e-4
    python bench/train_lora.py --device cuda

1. Speed: seconds per training step for the default base model (realesr-animevideov3) at the default patch
   (128) and batch size (1), and at batch 4; and the inference cost of an adapter merged into the weights
   (what the upscale node does) vs. kept as a separate low-rank path.
2. Quality: fine-tunes an adapter (training.loop.train, the defaults unless told) on crops of one kind of image
   — ``textures``: a procedural family (smooth colour fields, stripes, dots, in random colours), or
   ``photos``: scikit-image's sample photographs (shipped in its wheel) — and holds back other crops of the same
   kind. Each held-back crop is degraded as in training (training.data.degrade, a fixed seed per crop) and
   upscaled by the base network and by the fine-tuned one; prints their PSNR against the original side by side
   (and bicubic's), and says plainly whether the adapter wins.

Not part of the test suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

_BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH_DIR]
sys.path.insert(0, str(_BENCH_DIR.parent))

import argparse
import time

import numpy as np


def texture_family(count: int, size: int, seed: int) -> list[np.ndarray]:
    """``count`` members of one procedural family: a smooth two-colour field, diagonal stripes and dots."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = []
    for _ in range(count):
        c1, c2, c3 = rng.uniform(0.1, 0.9, (3, 3)).astype(np.float32)
        fx, fy = rng.uniform(0.02, 0.08, 2)
        field = 0.5 + 0.5 * np.sin(xx * fx + rng.uniform(0, 6)) * np.cos(yy * fy + rng.uniform(0, 6))
        period = rng.uniform(10, 20)
        angle = rng.uniform(0, np.pi)
        stripes = (np.sin((np.cos(angle) * xx + np.sin(angle) * yy) * 2 * np.pi / period) > 0).astype(np.float32)
        pixels = field[..., None] * c1 + (1 - field[..., None]) * c2
        pixels = pixels * (1 - 0.35 * stripes[..., None]) + 0.35 * stripes[..., None] * c3
        for _ in range(int(size * size / 900)):
            cy, cx, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(2, 6)
            pixels[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 1, 3)
        images.append((pixels.clip(0, 1) * 255).round().astype(np.uint8))
    return images


def sample_photos() -> list[np.ndarray]:
    from skimage import data

    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina", "cat", "colorwheel"]
    photos = []
    for name in names:
        loader = getattr(data, name, None)
        if loader is None:
            continue
        try:
            image = np.asarray(loader())
        except Exception:  # noqa: BLE001 - a sample that needs a download (pooch) is skipped
            continue
        if image.ndim == 3 and image.shape[2] >= 3:
            photos.append(np.ascontiguousarray(image[:, :, :3]).astype(np.uint8))
    return photos


def crops(images: list[np.ndarray], size: int) -> list[np.ndarray]:
    out = []
    for image in images:
        for y in range(0, image.shape[0] - size + 1, size):
            for x in range(0, image.shape[1] - size + 1, size):
                out.append(np.ascontiguousarray(image[y:y + size, x:x + size]))
    return out


def psnr(a: np.ndarray, b: np.ndarray, border: int = 4) -> float:
    a = a[border:-border, border:-border].astype(np.float64)
    b = b[border:-border, border:-border].astype(np.float64)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def upscale_with(net, lr: np.ndarray, device) -> np.ndarray:
    import torch

    from training.data import to_tensor

    with torch.no_grad():
        out = net(to_tensor(lr)[None].to(device))[0].clamp(0, 1)
    return (out.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


def bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    from PIL import Image

    height, width = lr.shape[:2]
    return np.asarray(Image.fromarray(lr).resize((width * scale, height * scale), Image.Resampling.BICUBIC))


def speed(args, device) -> None:
    import torch
    from PIL import Image

    from pipelines.ml import lora
    from pipelines.ml.upscale_models import load_network
    from training import data, loop

    images = [Image.fromarray(image) for image in texture_family(4, 256, seed=99)]
    for batch in (1, 4):
        config = loop.TrainConfig(steps=args.speed_steps, batch_size=batch, save_every=0, sample_every=0,
                                  seed=1)
        dataset = data.prepare(images, config.scale, config.patch_size)
        stamps = [time.perf_counter()]
        loop.train(config, dataset, device=device, on_step=lambda *_: stamps.append(time.perf_counter()))
        per_step = float(np.median(np.diff(stamps[1:])))  # from the end of step 1: no model load, no warm-up
        print(f"speed: {config.base_model} rank {config.rank}, patch {config.patch_size} (input "
              f"{config.patch_size // config.scale}), batch {batch}: {per_step:.3f} s/step, "
              f"{1 / per_step:.2f} steps/s, {batch / per_step:.2f} pairs/s (median of {len(stamps) - 2} steps, "
              f"data preparation included)")
    net = load_network("realesr-animevideov3").to(device)
    wrapped = load_network("realesr-animevideov3")
    lora.attach(wrapped, 16, 16)
    adapter = lora.to_bytes(lora.adapter_state(wrapped), {"base_model": "realesr-animevideov3", "rank": 16,
                                                          "alpha": 16})
    x = torch.rand(1, 3, 96, 96, device=device)
    models = {"base": net, "merged": lora.apply(net, adapter), "unmerged": lora.apply(net, adapter, merge=False)}
    best = dict.fromkeys(models, float("inf"))
    with torch.no_grad():
        for _ in range(5):  # interleaved rounds, the best of each: a shared machine's noise hits all three
            for name, model in models.items():
                model(x)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
                for _ in range(5):
                    model(x)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                best[name] = min(best[name], (time.perf_counter() - started) / 5)
    print("inference, 96x96 input, best of 5 rounds: " + ", ".join(
        f"{name} {seconds * 1000:.1f} ms" for name, seconds in best.items())
        + f" (unmerged {best['unmerged'] / best['base'] - 1:+.0%} vs base)")


def quality(args, device) -> None:
    from pipelines.ml import lora
    from pipelines.ml.upscale_models import load_network
    from training import data, loop

    config = loop.TrainConfig(steps=args.steps, learning_rate=args.learning_rate, rank=args.rank,
                              batch_size=args.batch_size, save_every=0, sample_every=0, seed=0)
    if args.kind == "textures":
        pieces = crops(texture_family(24, 256, seed=7), 256)
    else:
        pieces = crops(sample_photos(), 256)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(pieces))
    held = [pieces[i] for i in order[: max(2, len(pieces) // 4)]]
    train_set = [pieces[i] for i in order[max(2, len(pieces) // 4):]]
    from PIL import Image

    dataset = data.prepare([Image.fromarray(p) for p in train_set], config.scale, config.patch_size)
    print(f"quality: {args.kind}, {len(train_set)} training crops of 256x256, {len(held)} held back; "
          f"{config.base_model} rank {config.rank}, {config.steps} steps, lr {config.learning_rate}, "
          f"batch {config.batch_size}, patch {config.patch_size}")
    started = time.perf_counter()
    result = loop.train(config, dataset, device=device)
    elapsed = time.perf_counter() - started
    losses = result.losses
    tenth = max(1, len(losses) // 10)
    print(f"trained in {elapsed:.0f} s ({elapsed / result.steps_done:.3f} s/step); L1 loss, mean of the first "
          f"and last {tenth} steps: {np.mean(losses[:tenth]):.4f} -> {np.mean(losses[-tenth:]):.4f}")
    base = load_network(config.base_model).to(device)
    tuned = lora.apply(base, result.adapter)
    rows = []
    for index, hr in enumerate(held):
        lr = data.degrade(hr, config.scale, np.random.default_rng([1234, index]))
        rows.append((psnr(bicubic(lr, config.scale), hr), psnr(upscale_with(base, lr, device), hr),
                     psnr(upscale_with(tuned, lr, device), hr)))
    print(f"{'crop':>4}  {'bicubic':>8}  {'base':>8}  {'LoRA':>8}  {'gain':>6}   (PSNR dB on held-back crops)")
    for index, (cubic, b, t) in enumerate(rows):
        print(f"{index:>4}  {cubic:8.2f}  {b:8.2f}  {t:8.2f}  {t - b:+6.2f}")
    cubic, b, t = (float(np.mean(col)) for col in zip(*rows))
    wins = sum(1 for _, bb, tt in rows if tt > bb)
    print(f"mean  {cubic:8.2f}  {b:8.2f}  {t:8.2f}  {t - b:+6.2f}")
    verdict = "wins" if t > b else "does NOT win"
    print(f"the fine-tuned adapter {verdict}: {t - b:+.2f} dB mean over the base model, better on {wins} of "
          f"{len(rows)} held-back crops")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=("textures", "photos"), default="textures")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--speed-steps", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    import torch

    from training.loop import pick_device

    device = pick_device(None if args.device == "auto" else args.device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.skip_speed:
        speed(args, device)
    quality(args, device)


if __name__ == "__main__":
    main()
