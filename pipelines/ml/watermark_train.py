"""Train and evaluate the watermark detector on synthetic data.

``python manage.py train_watermark`` calls :func:`train`. The committed
``weights/watermark.pt`` came from four stages; each draws its own freshly
generated data (training fonts only) and ends with a cosine-decayed learning rate:

1. ``manage.py train_watermark`` (the defaults): seed 20240611, 16,000 watermarked +
   5,000 clean images, 8 epochs (7,000 steps of 24) from scratch, peak lr 3e-3;
   about 25 minutes on an idle two-core CPU.
2. ``manage.py train_watermark --init stage1.pt --out stage2.pt --seed 20240612
   --marked 24000 --clean 8000 --epochs 8 --lr 1e-3``: 10,664 more steps, about 40 minutes.
3. ``manage.py train_watermark --init stage2.pt --seed 20240613 --marked 24000
   --clean 10000 --epochs 10 --lr 1e-3 --val 1000``: 14,160 more steps, about 55 minutes.
4. ``manage.py train_watermark --init stage3.pt --seed 20240614 --marked 24000
   --clean 10000 --epochs 7 --lr 5e-4 --val 1000``: 9,912 more steps, about 40 minutes.

The stages are recorded in the weights' ``meta["stages"]``. Torch's CPU kernels are
not bit-reproducible across builds and thread counts, so a rerun gives equivalent,
not identical, weights. The score threshold stored with the weights is calibrated
on a validation set (training fonts, another seed) so that at most ``target_fp``
(3%) of clean images get any detection; :func:`evaluate` measures recall and the
clean false-positive rate on a held-out set (unseen fonts, other seeds).

Committed model on held-out 256 px images, 200 watermarked + 200 clean per seed
(recall at IoU 0.5 / clean images with a detection), as printed by
``manage.py train_watermark --eval-only --heldout 200 --heldout-seed S ...``:

=======  ==============  ==============  ==============  ==============
seed     after stage 1   after stage 2   after stage 3   after stage 4
=======  ==============  ==============  ==============  ==============
777001   88.6% / 2.0%    92.9% / 3.0%    93.4% / 1.5%    94.7% / 0.5%
888001   83.7% / 4.5%    88.4% / 4.5%    88.5% / 4.0%    90.2% / 6.0%
999001   81.4% / 3.5%    83.3% / 1.5%    85.3% / 2.5%    85.8% / 2.5%
121212                                   79.1% / 3.0%    83.5% / 2.0%
=======  ==============  ==============  ==============  ==============

Pooled over the four seeds: 88.8% recall over 2,648 boxes, 2.75% of 800 clean images
flagged (2.9% on 1,000 clean images of seed 313131). The issue's target is 90%
recall: met on two of four seeds, not pooled. Misses are faint or small marks on busy
photos, and boxes localized below IoU 0.5; validation recall (training fonts) levels
off near 91%.

A wider network (``watermark_net.WIDE``, 2.0M parameters against 0.8M) was tried as a
fifth stage, started from the committed weights widened without changing their outputs:
``manage.py train_watermark --init watermark.pt --wide --seed 20240615 --marked 12000
--clean 4000 --epochs 4 --lr 1e-3 --val 1000 --threads 1`` (2,664 steps, about 50
minutes on one core of a shared two-core CPU). Validation recall rose to 91.3% at 3%
FP, but held-out pooled recall stayed at 88.7% over 2,648 boxes (2.6% clean FP; per
seed 95.0 / 89.5 / 85.8 / 83.5%), against 88.8% for the committed model, at twice the
time per image (19.5 vs 9.6 ms per 1200x800 image, one thread). Thresholds calibrated
on the validation set at 5% FP give 89.4% (wide) and 89.5% (committed). So width is not
what holds recall back on unseen fonts; the committed weights stay narrow. Widening is
kept (``--wide``) for a longer run or a GPU.

A fifth stage on more typefaces was tried next: 40 training fonts (25 from pip font wheels),
Lato/Caladea for validation, and ``--variety`` restyling of the marks (width, slant, weight,
letter spacing): ``manage.py train_watermark --init watermark.pt --variety --seed 20240616
--marked 16000 --clean 5000 --epochs 4 --lr 7e-4 --val 1000 --threads 1`` (3,500 steps, 31 minutes
on one core of a shared two-core CPU). Validation recall 90.7% at 3% FP (the committed model: 90.6%
on the same validation set); held-out pooled 89.1% over 2,648 boxes with 3.5% clean FP (per seed
95.7 / 91.0 / 86.2 / 82.3%). On two further held-out seeds (246810, 135791; 200 + 200 images each),
used only to choose between variants, it found 85.2% of the marks against the committed model's
87.1%: the gain on the four test seeds is within the seed-to-seed spread, so the committed weights
stay. Averaging the network's outputs over the image and its mirror image (thresholds recalibrated
on validation at 3% FP) raised validation recall from 90.6% to 92.1% for the committed model but
lowered it on the two choosing seeds (87.1% to 86.7%); it is not used. About 1.5 points of the
held-out misses are marks found with a box of IoU 0.3-0.5 (recall at IoU 0.3 is 90.8%).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .watermark import DEFAULT_INPUT_SIZE, WEIGHTS_PATH, letterbox
from .watermark_data import HELDOUT_FONTS, TRAIN_FONTS, VALIDATION_FONTS, find_fonts, make_set

DEFAULT_SEED = 20240611
HELDOUT_SEED = 777001
VALIDATION_SEED = 555001


_STAGE_KEYS = ("seed", "n_marked", "n_clean", "epochs", "epochs_done", "batch_size", "lr", "steps", "fonts",
               "variety")


@dataclass
class Dataset:
    images: np.ndarray  # N, S, S, 3 uint8, letterboxed
    boxes: list[list[tuple[float, float, float, float]]]  # letterboxed pixels


def _chunk(args: tuple[int, int, int, tuple[str, ...], int, int | None, bool]) -> tuple[np.ndarray, list]:
    seed, n_marked, n_clean, font_names, size, gen_size, variety = args
    fonts = find_fonts(font_names)
    images, boxes = [], []
    for s in make_set(seed, n_marked, n_clean, fonts, (gen_size, gen_size) if gen_size else None, variety):
        arr, scale = letterbox(s.image, size)
        images.append(arr)
        boxes.append([tuple(v * scale for v in b) for b in s.boxes])
    return np.stack(images), boxes


def build_dataset(seed: int, n_marked: int, n_clean: int, font_names: tuple[str, ...],
                  size: int = DEFAULT_INPUT_SIZE, workers: int = 1, chunks: int = 1,
                  gen_size: int | None = None, variety: bool = False) -> Dataset:
    """Generate ``n_marked`` watermarked and ``n_clean`` clean letterboxed images, deterministically.

    Images are drawn at random sizes and aspect ratios (``gen_size=None``, the training setting) or as
    ``gen_size`` squares, then letterboxed to ``size``. ``variety`` restyles the text marks' letterforms
    (:func:`~.watermark_data.add_watermarks`; for training data).
    """
    chunks = max(1, chunks)
    jobs = [(seed * 1000 + i, n_marked // chunks + (i < n_marked % chunks),
             n_clean // chunks + (i < n_clean % chunks), font_names, size, gen_size, variety)
            for i in range(chunks)]
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_chunk, jobs)
    else:
        parts = [_chunk(j) for j in jobs]
    images = np.concatenate([p[0] for p in parts])
    boxes = [b for p in parts for b in p[1]]
    return Dataset(images, boxes)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_recall(preds: list[list[tuple]], gts: list[list[tuple]], iou: float = 0.5) -> tuple[int, int]:
    """(matched ground-truth boxes, total ground-truth boxes), greedy by score."""
    hit = total = 0
    for pred, gt in zip(preds, gts):
        total += len(gt)
        used = [False] * len(gt)
        for p in sorted(pred, key=lambda d: -d[4]):
            best, best_j = iou, -1
            for j, g in enumerate(gt):
                if not used[j]:
                    v = _iou(p, g)
                    if v >= best:
                        best, best_j = v, j
            if best_j >= 0:
                used[best_j] = True
                hit += 1
    return hit, total


def evaluate(detector, data: Dataset, threshold: float | None = None, batch: int = 32) -> dict[str, float]:
    """Recall at IoU 0.5 on watermarked images and the share of clean images with any detection."""
    preds = []
    for i in range(0, len(data.images), batch):
        preds += detector.detect_arrays(data.images[i:i + batch], threshold)
    marked = [i for i, b in enumerate(data.boxes) if b]
    clean = [i for i, b in enumerate(data.boxes) if not b]
    hit, total = match_recall([preds[i] for i in marked], [data.boxes[i] for i in marked])
    fp = sum(1 for i in clean if preds[i])
    return _rates({"hits": hit, "boxes": total, "flagged": fp, "clean": len(clean), "marked": len(marked)})


def _rates(counts: dict[str, int]) -> dict[str, float]:
    return {**counts, "recall": counts["hits"] / max(1, counts["boxes"]),
            "clean_fp_rate": counts["flagged"] / max(1, counts["clean"])}


def evaluate_heldout(detector, seeds: tuple[int, ...], n: int = 200
                     ) -> tuple[dict[int, dict[str, float]], dict[str, float]]:
    """:func:`evaluate` on ``n`` + ``n`` held-out images of each seed: (figures by seed, figures pooled).

    One seed's recall swings by several points (a few tiled images carry many boxes), hence the pooling."""
    by_seed = {seed: evaluate(detector, heldout(n, n, seed=seed)) for seed in seeds}
    keys = ("hits", "boxes", "flagged", "clean", "marked")
    return by_seed, _rates({k: sum(stats[k] for stats in by_seed.values()) for k in keys})


def describe(stats: dict[str, float]) -> str:
    return (f"recall@IoU0.5 {stats['recall']:.1%} over {stats['boxes']} boxes; "
            f"clean images with a detection {stats['clean_fp_rate']:.1%} of {stats['clean']}")


def _calibrate(detector, val: Dataset, target_fp: float) -> float:
    """Lowest threshold whose clean false-positive rate on ``val`` is at most ``target_fp``."""
    clean = val.images[[not b for b in val.boxes]]
    best = []
    for i in range(0, len(clean), 32):
        for dets in detector.detect_arrays(clean[i:i + 32], 0.05):
            best.append(max((d[4] for d in dets), default=0.0))
    best.sort(reverse=True)
    allowed = int(math.floor(target_fp * len(best)))
    thr = best[allowed] + 1e-3 if allowed < len(best) else 0.05
    return float(min(max(thr, 0.2), 0.9))


class _Wrap:
    """Adapts a bare model to the ``detect_arrays`` interface used by :func:`evaluate`."""

    def __init__(self, model, threshold: float):
        self.model, self.threshold = model, threshold

    def detect_arrays(self, batch: np.ndarray, threshold: float | None = None):
        import torch

        from .watermark_net import decode, normalize

        self.model.eval()
        with torch.inference_mode():
            heat, ltrb = self.model(normalize(torch.from_numpy(np.ascontiguousarray(batch))))
        return decode(heat, ltrb, self.threshold if threshold is None else threshold)


def train(seed: int = DEFAULT_SEED, n_marked: int = 16000, n_clean: int = 5000, epochs: int = 8,
          batch_size: int = 24, lr: float = 3e-3, out: Path = WEIGHTS_PATH, target_fp: float = 0.03,
          workers: int = 2, n_val: tuple[int, int] = (150, 300), time_budget_s: float | None = None,
          init: Path | None = None, widths: tuple[tuple[int, ...], int] | None = None,
          variety: bool = False, log: Callable[[str], None] = print) -> dict[str, float]:
    """Train on freshly generated data; ``init`` continues from earlier weights (a later stage).

    ``widths`` is ``(backbone widths, head width)``; by default a new model is :data:`NARROW` and a
    continued one keeps its own. Continuing into a wider model starts from the earlier weights widened
    without changing what they compute (:func:`~.watermark_net.widen_state_dict`). ``variety`` restyles
    the training marks' letterforms. The validation set (threshold calibration on its clean images, recall
    reported on its marks) uses :data:`~.watermark_data.VALIDATION_FONTS` when installed: families that
    are in neither the training nor the held-out fonts.
    """
    import torch

    from .watermark_net import (NARROW, WatermarkNet, encode_targets, focal_loss, giou_loss, normalize,
                                widen_state_dict)

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    t0 = time.time()
    data = build_dataset(seed, n_marked, n_clean, TRAIN_FONTS, workers=workers, chunks=max(1, workers) * 4,
                         variety=variety)
    val_fonts = VALIDATION_FONTS if find_fonts(VALIDATION_FONTS) else TRAIN_FONTS
    val = build_dataset(VALIDATION_SEED, n_val[0], n_val[1], val_fonts, workers=workers,
                        chunks=max(1, workers))
    size = data.images.shape[1]
    targets = [encode_targets(b, size, size) for b in data.boxes]
    heat_t = torch.stack([t[0] for t in targets])
    box_t = torch.stack([t[1] for t in targets])
    w_t = torch.stack([t[2] for t in targets])
    log(f"data: {len(data.images)} train / {len(val.images)} val images in {time.time() - t0:.0f}s")

    widths_, head = NARROW
    stages: list[dict] = []
    if init is not None:
        ckpt = torch.load(init, map_location="cpu", weights_only=True)
        prev = dict(ckpt["meta"])
        widths_, head = tuple(prev["widths"]), prev["head"]
        stages = list(prev.get("stages", [])) + [
            {**{k: prev[k] for k in _STAGE_KEYS if k in prev}, "widths": list(widths_), "head": head}]
    if widths is not None:
        widths_, head = tuple(widths[0]), int(widths[1])
    model = WatermarkNet(widths_, head)
    if init is not None:
        old = {k: v.float() for k, v in ckpt["state_dict"].items()}
        if [list(v.shape) for v in old.values()] == [list(v.shape) for v in model.state_dict().values()]:
            model.load_state_dict(old)
        else:
            model.load_state_dict(widen_state_dict(old, model))
            log(f"widened {prev['widths']}/{prev['head']} to {list(widths_)}/{head}")
        log(f"continuing from {init.name} ({len(stages)} earlier stage(s))")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params / 1e3:.0f}k params")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = max(1, len(data.images) // batch_size)
    total = steps_per_epoch * epochs
    warm = max(1, min(300, total // 10))

    def lr_factor(s: int) -> float:  # linear warm-up, then cosine to zero
        if s < warm:
            return (s + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    gen = torch.Generator().manual_seed(seed)
    meta = {"widths": list(widths_), "head": head, "input_size": size, "seed": seed, "n_marked": n_marked,
            "n_clean": n_clean, "epochs": epochs, "batch_size": batch_size, "lr": lr, "version": 2,
            "fonts": len(find_fonts(TRAIN_FONTS)), "variety": variety, "stages": stages}
    step = 0
    stats: dict[str, float] = {}
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(data.images), generator=gen)
        agg = [0.0, 0.0]
        for b in range(steps_per_epoch):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            x = normalize(torch.from_numpy(data.images[idx.numpy()]))
            heat, ltrb = model(x)
            l_heat = focal_loss(heat, heat_t[idx])
            l_box = giou_loss(ltrb, box_t[idx], w_t[idx])
            loss = l_heat + 5.0 * l_box  # TTFNet weights GIoU 5:1 against the heatmap
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            step += 1
            agg[0] += l_heat.item()
            agg[1] += l_box.item()
            if step % 50 == 0:
                log(f"epoch {epoch} step {step}/{total} heat {agg[0] / (b + 1):.3f} "
                    f"giou {agg[1] / (b + 1):.3f} ({time.time() - t0:.0f}s)")
        # every epoch leaves usable, calibrated weights behind (a slow machine may stop us early)
        stats = _save(model, val, target_fp, {**meta, "epochs_done": epoch + 1, "steps": step}, out, log)
        log(f"epoch {epoch} done ({time.time() - t0:.0f}s)")
        if time_budget_s and time.time() - t0 > time_budget_s and epoch + 1 < epochs:
            log(f"time budget of {time_budget_s:.0f}s spent: stopping after epoch {epoch}")
            break
    return stats


def _save(model, val: Dataset, target_fp: float, meta: dict, out: Path, log: Callable[[str], None]
          ) -> dict[str, float]:
    import torch

    threshold = _calibrate(_Wrap(model, 0.3), val, target_fp)
    stats = evaluate(_Wrap(model, threshold), val)
    log(f"calibrated threshold {threshold:.3f}: val {stats}")
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save({"state_dict": state, "meta": {**meta, "threshold": threshold}}, tmp)
    tmp.replace(out)
    log(f"saved {out.name} ({out.stat().st_size / 1e6:.2f} MB)")
    model.train()
    return stats


def heldout(n_marked: int = 60, n_clean: int = 60, seed: int = HELDOUT_SEED,
            gen_size: int | None = 256) -> Dataset:
    """The held-out evaluation set: fonts never seen in training, another seed, 256x256 images."""
    return build_dataset(seed, n_marked, n_clean, HELDOUT_FONTS, gen_size=gen_size)
