"""IMAGE__WATERMARK: the committed detector on a held-out set, the node's output shape, its errors.

The held-out images use fonts the detector never saw in training (Noto, from Debian's fonts-noto-core;
training used DejaVu and Liberation) and a seed disjoint from training and calibration.
"""

from __future__ import annotations

import random

import pytest
from PIL import Image

from pipelines.nodes.base import ImageValue, NodeContext, NodeError, get_node_type

pytest.importorskip("torch")

from pipelines.ml import watermark as wm  # noqa: E402
from pipelines.ml.watermark_data import (  # noqa: E402
    HELDOUT_FONTS, TRAIN_FONTS, add_watermarks, background, find_fonts)
from pipelines.ml.watermark_train import describe, evaluate_heldout  # noqa: E402

needs_fonts = pytest.mark.skipif(not find_fonts(HELDOUT_FONTS), reason="fonts-noto-core not installed")


@pytest.fixture(scope="module")
def node():
    node_type = get_node_type("IMAGE__WATERMARK")
    assert node_type is not None, "IMAGE__WATERMARK is not registered"
    return node_type


def run(node_type, image, **params):
    ctx = NodeContext(run_id="run-1", node_id="wm-1")
    return node_type().run(ctx, {"image": image}, {**node_type.param_defaults(), **params})


def test_weights_are_committed_small_and_self_describing():
    assert wm.WEIGHTS_PATH.is_file()
    assert wm.WEIGHTS_PATH.stat().st_size < 2_000_000
    detector = wm.get_detector()
    assert detector is wm.get_detector()  # loaded once per process
    assert 0.0 < detector.threshold < 1.0
    assert detector.meta["seed"] and detector.meta["input_size"] == 256


HELD_OUT_SEEDS = (777001, 888001, 999001, 121212)


@pytest.fixture(scope="module")
def held_out_stats():
    """Pooled over four seeds, 200 watermarked + 200 clean 256x256 images each."""
    if not find_fonts(HELDOUT_FONTS):
        pytest.skip("fonts-noto-core not installed")
    by_seed, pooled = evaluate_heldout(wm.get_detector(), HELD_OUT_SEEDS, 200)
    for seed, stats in by_seed.items():
        print(f"\nIMAGE__WATERMARK held-out seed {seed} (unseen fonts): {describe(stats)}")
    print(f"IMAGE__WATERMARK held-out pooled: {describe(pooled)}")
    return pooled


def test_recall_and_false_positives_on_held_out_data(held_out_stats):
    """What the committed model achieves (pooled 88.8% recall, 2.75% false positives when committed)."""
    assert held_out_stats["recall"] >= 0.87
    assert held_out_stats["clean_fp_rate"] <= 0.05


@pytest.mark.xfail(reason="issue target is 90% recall at IoU 0.5; the committed model reaches 88.8% pooled "
                          "over four held-out seeds (84-95% per seed); a wider network reached 88.7% and a "
                          "fifth stage on 40 more typefaces 89.1% (85.2% against 87.1% on two other seeds), "
                          "see watermark_train's docstring", strict=False)
def test_recall_target_of_the_issue(held_out_stats):
    assert held_out_stats["recall"] >= 0.90


@needs_fonts
def test_boxes_are_in_input_pixel_coordinates(node):
    rng = random.Random(99)
    fonts = find_fonts(HELDOUT_FONTS)
    for _ in range(20):  # a large, non-square image with one centred watermark
        image, boxes = add_watermarks(rng, background(rng, 1200, 800), fonts)
        if len(boxes) == 1 and (boxes[0][2] - boxes[0][0]) > 150:
            break
    out = run(node, ImageValue(image))
    assert out["count"] == len(out["watermarks"]) >= 1
    best = out["watermarks"][0]
    assert set(best) == {"box", "confidence"} and 0.0 < best["confidence"] <= 1.0
    x1, y1, x2, y2 = best["box"]
    gx1, gy1, gx2, gy2 = boxes[0]
    inter = max(0, min(x2, gx2) - max(x1, gx1)) * max(0, min(y2, gy2) - max(y1, gy1))
    union = (x2 - x1) * (y2 - y1) + (gx2 - gx1) * (gy2 - gy1) - inter
    assert inter / union >= 0.5, (best["box"], boxes[0])
    assert all(0 <= v <= 1200 for v in (x1, x2)) and all(0 <= v <= 800 for v in (y1, y2))


def test_clean_image_and_threshold_param(node):
    clean = Image.new("RGB", (300, 200), (120, 160, 200))
    assert run(node, ImageValue(clean)) == {"watermarks": [], "count": 0}
    with pytest.raises(NodeError) as err:
        run(node, ImageValue(clean), threshold=2)
    assert err.value.code == "INVALID_PARAM"
    with pytest.raises(NodeError) as err:
        run(node, ImageValue(clean), input_size=1000)
    assert err.value.code == "INVALID_PARAM"


def test_bad_images_are_node_errors(node, settings):
    with pytest.raises(NodeError) as err:
        run(node, b"GIF89a-broken")
    assert err.value.code in ("INVALID_IMAGE", "UNSUPPORTED_FORMAT")
    settings.MAX_INPUT_PIXELS = 5000
    with pytest.raises(NodeError) as err:
        run(node, ImageValue(Image.new("RGB", (100, 100))))
    assert err.value.code == "IMAGE_TOO_LARGE"


def test_training_command_runs_end_to_end(tmp_path):
    """The script that made the committed weights still works (a tiny run, not the real recipe)."""
    from django.core.management import call_command

    if not find_fonts(TRAIN_FONTS):
        pytest.skip("training fonts not installed")
    out = tmp_path / "wm.pt"
    call_command("train_watermark", marked=24, clean=8, epochs=1, batch_size=8, workers=1, out=out,
                 heldout=8, val=16)
    detector = wm.WatermarkDetector(out, device="cpu")
    assert detector.meta["n_marked"] == 24
    assert detector.meta["stages"] == []

    # a later stage continues from those weights on fresh data and records the earlier stage
    out2 = tmp_path / "wm2.pt"
    call_command("train_watermark", init=out, seed=7, marked=16, clean=8, epochs=1, batch_size=8, lr=1e-3,
                 workers=1, out=out2, heldout=8, val=16)
    second = wm.WatermarkDetector(out2, device="cpu")
    assert second.meta["seed"] == 7 and second.meta["lr"] == 1e-3
    assert [stage["n_marked"] for stage in second.meta["stages"]] == [24]


def test_committed_weights_record_their_recipe():
    meta = wm.get_detector().meta
    assert meta["stages"] and meta["stages"][0]["seed"] == 20240611
    assert meta["seed"] != meta["stages"][0]["seed"]  # each stage trains on freshly generated data


def test_widening_keeps_what_the_network_computes():
    """A wider network started from narrower weights gives the same outputs before any training."""
    import torch

    from pipelines.ml.watermark_net import NARROW, WIDE, WatermarkNet, widen_state_dict

    torch.manual_seed(0)
    narrow = WatermarkNet(*NARROW)
    for module in narrow.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    wide = WatermarkNet(*WIDE)
    wide.load_state_dict(widen_state_dict(narrow.state_dict(), wide))
    x = torch.randn(2, 3, 128, 128)
    narrow.eval()
    wide.eval()
    with torch.inference_mode():
        (h1, b1), (h2, b2) = narrow(x), wide(x)
    assert torch.allclose(h1, h2, atol=1e-4) and torch.allclose(b1, b2, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError):
        widen_state_dict(wide.state_dict(), WatermarkNet(*NARROW))


def test_training_command_widens_earlier_weights(tmp_path):
    """--wide with --init: the earlier (narrow) stage is widened and recorded with its widths."""
    from django.core.management import call_command

    from pipelines.ml.watermark_net import NARROW, WIDE

    if not find_fonts(TRAIN_FONTS):
        pytest.skip("training fonts not installed")
    narrow_out, wide_out = tmp_path / "narrow.pt", tmp_path / "wide.pt"
    call_command("train_watermark", marked=16, clean=8, epochs=1, batch_size=8, workers=1, out=narrow_out,
                 heldout=4, val=8)
    call_command("train_watermark", init=narrow_out, wide=True, seed=9, marked=16, clean=8, epochs=1,
                 batch_size=8, workers=1, out=wide_out, heldout=4, val=8, threads=1)
    wide = wm.WatermarkDetector(wide_out, device="cpu")
    assert (wide.meta["widths"], wide.meta["head"]) == (list(WIDE[0]), WIDE[1])
    assert wide.meta["stages"][0]["widths"] == list(NARROW[0])
