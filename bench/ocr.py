"""OCR benchmark: our IMAGE__OCR node against ``rapidocr`` alone, same images, same CPU, one run.

    python bench/ocr.py                 # 30 English + 30 Arabic generated images
    python bench/ocr.py --count 60 --threads 2

For each language, both sides read the same generated images (pipelines/ml/ocr_synth.py, a seed not used by
the tests) and the bench prints, side by side: milliseconds per image, character error rate, and the ratio.

* ``rapidocr``: ``RapidOCR()`` as its README runs it (its default config: PP-OCRv6 small detection and
  recognition, 0/180 classifier, the detector's input upscaled to a 736 px short side), pointed at the
  model files shipped in its wheel. It has no Arabic recognizer; its Arabic column shows what a Latin/CJK
  model makes of Arabic.
* ``ours``: the IMAGE__OCR node's ``run()`` with ``lang=auto`` (per-line script detection, then the
  engine that measured best for that script), and, for English, ``backend=ppocr`` (PP-OCR end to end,
  our pre/post-processing) to separate the effect of the detector settings from that of the recognizer.

CUDA is disabled on both sides so the figures compare like with like. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# bench/ holds modules named like the standard library's (platform.py): run from the repository root instead
_here = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path(_here)]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30, help="images per language")
    parser.add_argument("--seed", type=int, default=8080)
    parser.add_argument("--threads", type=int, default=0, help="OMP/onnxruntime threads (0: library default)")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_THREAD_LIMIT"] = str(args.threads)

    import django

    django.setup()
    import numpy as np
    import rapidocr
    from rapidocr import RapidOCR

    from pipelines.ml import ocr as ocr_ml
    from pipelines.ml.ocr_synth import cer, make_set
    from pipelines.nodes.base import ImageValue, NodeContext, get_node_type

    ocr_ml._onnx_cuda = lambda: False  # CPU on both sides
    models = Path(rapidocr.__file__).resolve().parent / "models"
    theirs = RapidOCR(params={
        "Global.log_level": "error",
        "Det.model_path": str(models / "PP-OCRv6_det_small.onnx"),
        "Cls.model_path": str(models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
        "Rec.model_path": str(models / "PP-OCRv6_rec_small.onnx"),
    })
    node = get_node_type("IMAGE__OCR")()
    ctx = NodeContext(run_id="bench", node_id="ocr")

    def rapid(image) -> str:
        out = theirs(np.asarray(image.convert("RGB"))[..., ::-1].copy())
        return "\n".join(getattr(out, "txts", None) or ())

    def ours(params):
        def read(image) -> str:
            return node.run(ctx, {"image": ImageValue(image)}, {**node.param_defaults(), **params})["text"]
        return read

    def measure(read, samples) -> tuple[float, float]:
        read(samples[0].image)  # warm-up: model loading is not part of the per-image figure
        started = time.perf_counter()
        predictions = [read(s.image) for s in samples]
        elapsed = (time.perf_counter() - started) / len(samples)
        return elapsed * 1000, cer(predictions, [s.text for s in samples])

    print(f"OCR bench, CPU, {args.count} generated images per language (seed {args.seed})")
    print(f"{'language':<9} {'side':<28} {'ms/image':>9} {'CER':>8}   {'speed-up vs rapidocr':>20}")
    for lang in ("en", "ar"):
        samples = make_set(args.seed + (lang == "ar"), lang, args.count)
        base_ms, base_cer = measure(rapid, samples)
        print(f"{lang:<9} {'rapidocr (defaults)':<28} {base_ms:9.0f} {base_cer:8.2%}   {'1.00x':>20}")
        sides = [("ours lang=auto", {"lang": "auto"})]
        if lang == "en":
            sides.append(("ours backend=ppocr", {"lang": "en", "backend": "ppocr"}))
        for label, params in sides:
            ms, rate = measure(ours(params), samples)
            print(f"{lang:<9} {label:<28} {ms:9.0f} {rate:8.2%}   {base_ms / ms:19.2f}x")


if __name__ == "__main__":
    main()
