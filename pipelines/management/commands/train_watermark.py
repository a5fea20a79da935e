"""Regenerate ``pipelines/ml/weights/watermark.pt`` from synthetic data.

The defaults are the recipe of the committed weights; run with the same seed to
reproduce them (bit-exact only on the same torch build and thread count).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Train the IMAGE__WATERMARK detector on synthetic data and write its weights."

    def add_arguments(self, parser):
        from pipelines.ml.watermark_train import DEFAULT_SEED

        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--marked", type=int, default=16000, help="watermarked training images")
        parser.add_argument("--clean", type=int, default=5000, help="clean training images")
        parser.add_argument("--epochs", type=int, default=8)
        parser.add_argument("--time-budget", type=float, default=None,
                            help="minutes; stop after the epoch that passes it (weights saved each epoch)")
        parser.add_argument("--batch-size", type=int, default=24)
        parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
        parser.add_argument("--init", type=Path, default=None,
                            help="continue training from these weights (a later stage of the recipe)")
        parser.add_argument("--wide", action="store_true",
                            help="train the wider network (watermark_net.WIDE); with --init, the earlier "
                                 "weights are widened first")
        parser.add_argument("--variety", action="store_true",
                            help="restyle training text marks (width, slant, weight, letter spacing)")
        parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
        parser.add_argument("--workers", type=int, default=2, help="processes generating data")
        parser.add_argument("--out", type=Path, default=None,
                            help="weights file (default: the committed one)")
        parser.add_argument("--val", type=int, default=300,
                            help="clean validation images for calibration (plus half as many watermarked)")
        parser.add_argument("--heldout", type=int, default=200,
                            help="held-out images of each kind to report on")
        parser.add_argument("--heldout-seed", type=int, action="append", dest="heldout_seeds",
                            help="held-out seed to report on (repeatable; default: the test's seed)")
        parser.add_argument("--eval-only", action="store_true",
                            help="only evaluate the weights on the held-out set")

    def handle(self, *args, **opts):
        import torch

        from pipelines.ml.watermark import WEIGHTS_PATH, WatermarkDetector
        from pipelines.ml.watermark_train import HELDOUT_SEED, describe, evaluate_heldout, train

        out = opts["out"] or WEIGHTS_PATH
        if not opts["eval_only"]:
            from pipelines.ml.watermark_net import WIDE

            torch.set_num_threads(opts["threads"] or max(1, torch.get_num_threads()))
            train(seed=opts["seed"], n_marked=opts["marked"], n_clean=opts["clean"], epochs=opts["epochs"],
                  batch_size=opts["batch_size"], lr=opts["lr"], workers=opts["workers"], out=out,
                  init=opts["init"], widths=WIDE if opts["wide"] else None, variety=opts["variety"],
                  n_val=(max(1, opts["val"] // 2), opts["val"]),
                  time_budget_s=opts["time_budget"] * 60 if opts["time_budget"] else None,
                  log=lambda m: self.stdout.write(m))
        detector = WatermarkDetector(out, device="cpu")
        by_seed, pooled = evaluate_heldout(detector, tuple(opts["heldout_seeds"] or [HELDOUT_SEED]),
                                           opts["heldout"])
        for seed, stats in by_seed.items():
            self.stdout.write(f"held-out seed {seed} (unseen fonts), threshold {detector.threshold:.3f}: "
                              f"{describe(stats)}")
        if len(by_seed) > 1:
            self.stdout.write(f"held-out pooled: {describe(pooled)}")
