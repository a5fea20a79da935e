"""OCR benchmark: the IMAGE__OCR node beside whole-page Tesseract (and rapidocr), same images, one run.

    python bench/ocr.py                      # 40 pages per language and set
    python bench/ocr.py --count 80 --sets held-out --rapidocr
    python bench/ocr.py --count 150 --sets dev,dev-off --without-vote

Sets (pipelines/ml/ocr_pages.py, pipelines/ml/ocr_synth.py):

* ``tuning``: clean rotated pages; the only set anything in pipelines/ml/ocr.py was chosen on;
* ``held-out``: clean rotated pages in other fonts, vocabulary, layouts and rotations, never tuned on;
* ``degraded``: single lines on tinted, noisy, dark, blurred or JPEG'd backgrounds (ocr_synth, seed 8080);
* ``dev``, ``dev-off`` (``--sets dev,dev-off``; Arabic only): the development set that chose the dictionary
  vote (ocr_pages.dev_pages: 16 other fonts, dictionary words; ``dev-off``: half the words off the
  dictionary), with a second row for its 13 plain (not display) faces.

Sides, each reading the same images on the CPU:

* ``ours``: the node's ``run()`` with ``lang=auto`` (PP-OCR detection, deskew, Tesseract per line);
* ``tesseract page (lib)``: Tesseract 5 on the whole page through tesserocr (the library the node uses;
  the wheel's Tesseract), page segmentation auto, told the page's language (eng or ara) -- a stricter
  reference than ``auto``, which would also have to guess the script;
* ``tesseract page (cli)``: the same through the ``tesseract`` command (Debian's build), when installed;
  its process start is part of its time;
* ``rapidocr`` (``--rapidocr``): ``RapidOCR()`` as its README runs it (no Arabic recognizer).

CER ratio is the side's CER over ours (above 1: ours is better). CUDA is off everywhere. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# bench/ holds modules named like the standard library's (platform.py): run from the repository root instead
_here = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path(_here)]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

TESS_LANG = {"en": "eng", "ar": "ara"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="images per language and set")
    parser.add_argument("--sets", default="tuning,held-out,degraded")
    parser.add_argument("--threads", type=int, default=1, help="OMP/Tesseract threads (0: library default)")
    parser.add_argument("--rapidocr", action="store_true", help="also run rapidocr with its defaults")
    parser.add_argument("--without-vote", action="store_true",
                        help="also run ours without the Arabic dictionary vote (ocr.VOTE_HEIGHTS emptied)")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_THREAD_LIMIT"] = str(args.threads)

    import django

    django.setup()
    import numpy as np
    import tesserocr

    from pipelines.ml import ocr as ocr_ml
    from pipelines.ml import ocr_pages, ocr_synth
    from pipelines.nodes.base import ImageValue, NodeContext, get_node_type

    ocr_ml._onnx_cuda = lambda: False  # CPU on every side
    node = get_node_type("IMAGE__OCR")()
    ctx = NodeContext(run_id="bench", node_id="ocr")
    apis: dict[str, object] = {}

    def ours(image, lang: str) -> str:
        return node.run(ctx, {"image": ImageValue(image)}, {**node.param_defaults(), "lang": "auto"})["text"]

    def page_lib(image, lang: str) -> str:
        if lang not in apis:
            apis[lang] = tesserocr.PyTessBaseAPI(path=ocr_ml.tessdata_dir(), lang=TESS_LANG[lang],
                                                 psm=tesserocr.PSM.AUTO, oem=tesserocr.OEM.LSTM_ONLY)
        api = apis[lang]
        api.SetImage(image)
        text = api.GetUTF8Text()
        api.Clear()
        return text

    def page_cli(image, lang: str) -> str:
        buf = io.BytesIO()
        image.save(buf, "PNG")
        out = subprocess.run(["tesseract", "stdin", "stdout", "-l", TESS_LANG[lang]], input=buf.getvalue(),
                             capture_output=True, check=False)
        return out.stdout.decode("utf-8", "replace")

    def ours_without_vote(image, lang: str) -> str:
        heights, ocr_ml.VOTE_HEIGHTS = ocr_ml.VOTE_HEIGHTS, ()
        try:
            return ours(image, lang)
        finally:
            ocr_ml.VOTE_HEIGHTS = heights

    sides = [("ours (lang=auto)", ours)]
    if args.without_vote:
        sides.append(("ours, no vote", ours_without_vote))
    sides.append(("tesseract page (lib)", page_lib))
    if shutil.which("tesseract"):
        sides.append(("tesseract page (cli)", page_cli))
    if args.rapidocr:
        import rapidocr
        from rapidocr import RapidOCR

        models = Path(rapidocr.__file__).resolve().parent / "models"
        theirs = RapidOCR(params={
            "Global.log_level": "error",
            "Det.model_path": str(models / "PP-OCRv6_det_small.onnx"),
            "Cls.model_path": str(models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
            "Rec.model_path": str(models / "PP-OCRv6_rec_small.onnx"),
        })

        def rapid(image, lang: str) -> str:
            out = theirs(np.asarray(image.convert("RGB"))[..., ::-1].copy())
            return "\n".join(getattr(out, "txts", None) or ())

        sides.append(("rapidocr (defaults)", rapid))

    def samples(set_name: str, lang: str):
        if set_name.startswith("dev"):
            return ocr_pages.dev_pages(args.count, off_dictionary=set_name == "dev-off")
        if set_name == "degraded":
            return ocr_synth.make_set(8080 + (lang == "ar"), lang, args.count)
        page_set = {"tuning": ocr_pages.TUNING, "held-out": ocr_pages.HELD_OUT}[set_name]
        return ocr_pages.make_pages(page_set, lang, args.count)

    print(f"OCR bench, CPU, {args.count} images per language and set, threads={args.threads or 'default'}")
    print(f"{'set':<9} {'lang':<4} {'side':<22} {'ms/image':>9} {'CER':>8} {'CER / ours':>11} "
          f"{'time / ours':>12}")
    for set_name in args.sets.split(","):
        for lang in ("ar",) if set_name.startswith("dev") else ("en", "ar"):
            batch = samples(set_name, lang)
            refs = [s.text for s in batch]
            base = None
            for label, read in sides:
                read(batch[0].image, lang)  # warm-up: model loading is not part of the per-image figure
                started = time.perf_counter()
                predictions = [read(s.image, lang) for s in batch]
                ms = (time.perf_counter() - started) / len(batch) * 1000
                rate = ocr_synth.cer(predictions, refs)
                if base is None:
                    base = (ms, rate)
                ratio = f"{rate / base[1]:.2f}x" if base[1] > 0 else ("=" if rate == 0 else "inf")
                print(f"{set_name:<9} {lang:<4} {label:<22} {ms:9.0f} {rate:8.2%} {ratio:>11} "
                      f"{ms / base[0]:11.2f}x", flush=True)
                if set_name.startswith("dev"):
                    plain = [i for i, s in enumerate(batch) if s.font not in ocr_pages.DEV_DISPLAY_FONTS]
                    faces = f"({len(ocr_pages.DEV_AR_FONTS) - len(ocr_pages.DEV_DISPLAY_FONTS)} plain faces)"
                    print(f"{'':<14} {faces:<22} {'':>9} "
                          f"{ocr_synth.cer([predictions[i] for i in plain], [refs[i] for i in plain]):8.2%}")


if __name__ == "__main__":
    main()
