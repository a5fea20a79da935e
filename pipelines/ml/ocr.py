"""OCR for English and Arabic: PP-OCR text detection, then the best recognizer per script.

Pipeline (choices measured on generated print, :mod:`pipelines.ml.ocr_synth`; figures below):

1. **Detection** — PaddleOCR's PP-OCRv6 DB text detector (ONNX, shipped inside the
   ``rapidocr`` wheel, run by onnxruntime) finds text lines as quadrilaterals.
   The image is never upscaled for detection (``limit_type=max``): rapidocr's
   default (upscale the short side to 736 px) was ~40x slower on small images
   and split/merged more lines.
2. **Direction** — PP-OCR's 0/180 classifier flags upside-down lines; since it
   errs on Arabic (and on some Latin lines), a flip is kept only when the
   recognizer reads the flipped line with more confidence.
3. **Script** — with ``lang="auto"`` each line is read once by Tesseract with
   ``ara+eng`` and classified by its letters (Arabic vs Latin).
4. **Recognition** — per script, the engine that measured best: Tesseract 5
   LSTM (Debian's ``tesseract-ocr-eng`` / ``-ara`` data, through ``tesserocr``)
   on a height-normalised line crop. PP-OCRv6's recognizer (``backend="ppocr"``)
   reads Latin script only (the shipped model has no Arabic); ``backend="paddleocr"``
   uses the ``paddleocr`` package when it and its model files are installed.

Measured on an idle 2-core CPU (no GPU), 30 generated images per script, per image:

=================  ==========================  ===========================
                   English (CER, ms)           Arabic (CER, ms)
=================  ==========================  ===========================
Tesseract line     0.12%, 39 ms                2.0%, 44 ms
PP-OCRv6 rec       0.12%, 75 ms                (no Arabic model)
auto (probe+read)  0.12%, 92 ms                2.6%, 86 ms
rapidocr defaults  0.33%, 755 ms (bench)       99% (bench; no Arabic)
=================  ==========================  ===========================

so ``auto`` routes both scripts to Tesseract. Detection is ours in every row but
the last. Tesseract reads Latin lines in single-line mode (falling back to raw-line
mode when its blob filter drops a whole line) and Arabic lines in raw-line mode
(single-line mode dropped about a quarter of clean Arabic lines). Crops get no
extra margin: with one, raw-line mode read the edges as punctuation.

Lines are returned in reading order: top to bottom, and within a row left to
right, or right to left when the row is Arabic. Arabic text is in logical
(reading) order, as Unicode expects.

Models load once per process, lazily, behind locks; onnxruntime uses CUDA when
its CUDA provider is available. Tesseract handles are per thread (they are not
thread-safe).
"""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

LANGS = ("auto", "en", "ar")
BACKENDS = ("auto", "ppocr", "tesseract", "paddleocr")
TESS_LANG = {"en": "eng", "ar": "ara", "auto": "ara+eng"}
# Chosen by measurement (see module docstring): Tesseract beat PP-OCRv6 small on both scripts.
BEST_ENGINE = {"en": "tesseract", "ar": "tesseract"}
TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
LINE_HEIGHT = 48  # crops are scaled to this height before Tesseract reads them


class OcrUnavailable(RuntimeError):
    """The requested engine or language is not installed (a configuration problem, not bad input)."""


@dataclass
class OcrLine:
    text: str
    polygon: list[list[float]]  # 4 points, clockwise from top-left, image pixels
    confidence: float  # 0..1
    script: str  # "latin" | "arabic"
    engine: str

    @property
    def box(self) -> list[float]:
        xs = [p[0] for p in self.polygon]
        ys = [p[1] for p in self.polygon]
        return [min(xs), min(ys), max(xs), max(ys)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "box": [round(v, 1) for v in self.box],
            "polygon": [[round(x, 1), round(y, 1)] for x, y in self.polygon],
            "confidence": round(self.confidence, 4),
            "script": self.script,
            "engine": self.engine,
        }


@dataclass
class OcrResult:
    lines: list[OcrLine] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


# -- text helpers ---------------------------------------------------------------------------------------

def _is_arabic(ch: str) -> bool:
    o = ord(ch)
    return 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0x08A0 <= o <= 0x08FF or 0xFB50 <= o <= 0xFEFF


def script_of(text: str) -> str:
    """``arabic`` when Arabic letters outnumber Latin ones, else ``latin``."""
    arabic = sum(1 for ch in text if _is_arabic(ch) and ch.isalpha())
    latin = sum(1 for ch in text if ch.isalpha() and ch.isascii())
    return "arabic" if arabic > latin else "latin"


def clean_text(text: str) -> str:
    """Drop bidi control marks and collapse whitespace inside a line."""
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())


# -- engines --------------------------------------------------------------------------------------------

def _onnx_cuda() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


class PPOCR:
    """PP-OCR detection, 0/180 classification and (Latin) recognition, with rapidocr's shipped ONNX files."""

    def __init__(self) -> None:
        import rapidocr
        from rapidocr import RapidOCR

        models = Path(rapidocr.__file__).resolve().parent / "models"
        paths = {
            "Det.model_path": models / "PP-OCRv6_det_small.onnx",
            "Cls.model_path": models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
            "Rec.model_path": models / "PP-OCRv6_rec_small.onnx",
        }
        missing = [p.name for p in paths.values() if not p.is_file()]
        if missing:
            # rapidocr would try to download them; we never fetch models at run time.
            raise OcrUnavailable(f"rapidocr's shipped models are missing: {missing}")
        base = {k: str(v) for k, v in paths.items()}
        base.update({
            "Global.log_level": "error",
            "Global.max_side_len": 4000,
            "Global.model_root_dir": str(models),
            "EngineConfig.onnxruntime.use_cuda": _onnx_cuda(),
            "Det.limit_type": "max",
            "Det.limit_side_len": 960,
        })
        self.cuda = base["EngineConfig.onnxruntime.use_cuda"]
        # Three fixed-configuration instances: calls never change their settings, so they are thread-safe.
        self._det = RapidOCR(params={**base, "Global.use_cls": False, "Global.use_rec": False})
        self._cls = RapidOCR(params={**base, "Global.use_det": False, "Global.use_rec": False})
        self._rec = RapidOCR(params={**base, "Global.use_det": False, "Global.use_cls": False,
                                     "Global.text_score": 0.0})

    def detect(self, bgr: np.ndarray) -> list[np.ndarray]:
        """Text line quadrilaterals (4x2 float32, clockwise from top-left)."""
        out = self._det(bgr)
        if getattr(out, "boxes", None) is None:
            return []
        return [np.asarray(b, dtype=np.float32) for b in out.boxes]

    def is_upside_down(self, crop: np.ndarray) -> bool:
        """The 0/180 classifier's verdict; it errs on Arabic and on some Latin lines, so callers verify it."""
        out = self._cls(crop)
        return bool(out.cls_res) and out.cls_res[0][0] == "180"

    def recognize(self, crop: np.ndarray) -> tuple[str, float]:
        out = self._rec(crop)
        if not getattr(out, "txts", None):
            return "", 0.0
        return out.txts[0], float(out.scores[0])


def tessdata_dir() -> str | None:
    """Where Tesseract's language data lives (settings.TESSDATA_PREFIX, $TESSDATA_PREFIX, Debian paths)."""
    try:
        from django.conf import settings

        configured = getattr(settings, "TESSDATA_PREFIX", None) if settings.configured else None
    except ImportError:  # pragma: no cover
        configured = None
    for cand in (configured, os.environ.get("TESSDATA_PREFIX"), *TESSDATA_CANDIDATES):
        if cand and Path(cand).is_dir() and any(Path(cand).glob("*.traineddata")):
            return str(cand)
    return None


class Tesseract:
    """Tesseract 5 LSTM line recognition; one API handle per (thread, language)."""

    def __init__(self) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        path = tessdata_dir()
        if path is None:
            raise OcrUnavailable("Tesseract language data not found "
                                 "(Debian: tesseract-ocr-eng tesseract-ocr-ara)")
        self.path = path
        self.languages = set(tesserocr.get_languages(path)[1])
        self._local = threading.local()

    def has(self, lang: str) -> bool:
        return all(part in self.languages for part in lang.split("+"))

    def _api(self, lang: str, raw: bool):
        apis = self._local.__dict__.setdefault("apis", {})
        key = (lang, raw)
        if key not in apis:
            if not self.has(lang):
                raise OcrUnavailable(f"Tesseract language data '{lang}' is not installed")
            tess = self._tesserocr
            psm = tess.PSM.RAW_LINE if raw else tess.PSM.SINGLE_LINE
            apis[key] = tess.PyTessBaseAPI(path=self.path, lang=lang, psm=psm, oem=tess.OEM.LSTM_ONLY)
        return apis[key]

    def recognize(self, crop_gray: Image.Image, lang: str) -> tuple[str, float]:
        """Read one line. Latin uses the single-line mode (most accurate), falling back to the raw-line
        mode when Tesseract's blob filter drops the whole line; Arabic always uses raw-line mode, since
        the filter dropped a quarter of clean Arabic lines in our measurements."""
        for raw in ((False, True) if lang == "eng" else (True,)):
            api = self._api(lang, raw)
            api.SetImage(crop_gray)
            text = clean_text(api.GetUTF8Text())
            conf = api.MeanTextConf()
            api.Clear()
            if text:
                return text, max(0.0, min(1.0, conf / 100.0))
        return "", 0.0


def prepare_line(crop_bgr: np.ndarray) -> Image.Image:
    """A line crop as Tesseract reads best: grey, dark text on light, 48 px high."""
    from PIL import ImageOps

    gray = Image.fromarray(crop_bgr[..., ::-1]).convert("L")
    arr = np.asarray(gray)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    if np.median(border) < np.median(arr) or np.median(border) < 110:
        gray = ImageOps.invert(gray)  # light text on a dark background
    scale = LINE_HEIGHT / max(1, gray.height)
    if abs(scale - 1) > 0.1:
        gray = gray.resize((max(1, round(gray.width * scale)), LINE_HEIGHT), Image.BICUBIC)
    # No extra margin: the detector's box already has one, and padding made Tesseract's raw-line
    # mode read the edges as punctuation (Arabic CER 4.9% with a 12 px margin, 1.2% without).
    return gray


# -- the pipeline ---------------------------------------------------------------------------------------

class OcrPipeline:
    def __init__(self) -> None:
        self._ppocr: PPOCR | None = None
        self._tess: Tesseract | None = None
        self._tess_error: str | None = None
        self._paddle: Any = None
        self._lock = threading.Lock()

    @property
    def ppocr(self) -> PPOCR:
        if self._ppocr is None:
            with self._lock:
                if self._ppocr is None:
                    self._ppocr = PPOCR()
        return self._ppocr

    def tesseract(self) -> Tesseract | None:
        if self._tess is None and self._tess_error is None:
            with self._lock:
                if self._tess is None and self._tess_error is None:
                    try:
                        self._tess = Tesseract()
                    except (ImportError, OcrUnavailable) as exc:
                        self._tess_error = str(exc)
                        logger.warning("Tesseract unavailable: %s", exc)
        return self._tess

    def recognize(self, image: Image.Image, lang: str = "auto", backend: str = "auto") -> OcrResult:
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}")
        if backend == "paddleocr":
            return _paddleocr_recognize(self, image, lang)
        tess = self.tesseract()
        if backend == "tesseract" and tess is None:
            raise OcrUnavailable(f"Tesseract is not available: {self._tess_error}")
        if backend == "ppocr" and lang == "ar":
            raise OcrUnavailable("the shipped PP-OCR recognizer has no Arabic; "
                                 "use backend 'tesseract' or 'auto'")
        if lang == "ar" and tess is None:
            raise OcrUnavailable(f"Arabic needs Tesseract, which is not available: {self._tess_error}")

        rgb = np.asarray(image.convert("RGB"))
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        from rapidocr.utils.process_img import get_rotate_crop_image

        lines: list[OcrLine] = []
        for quad in self.ppocr.detect(bgr):
            crop = get_rotate_crop_image(bgr, quad.copy())
            line = self._read_line(crop, lang, backend, tess)
            if line is not None and self.ppocr.is_upside_down(crop):
                # keep the flip only if the recognizer is more confident reading it that way
                flipped = self._read_line(np.ascontiguousarray(crop[::-1, ::-1]), lang, backend, tess)
                if flipped is not None and flipped[1] > line[1]:
                    line = flipped
            if line is not None and line[0]:
                text, conf, script, engine = line
                lines.append(OcrLine(text, quad.tolist(), conf, script, engine))
        return OcrResult(reading_order(lines))

    def _read_line(self, crop: np.ndarray, lang: str, backend: str, tess: Tesseract | None
                   ) -> tuple[str, float, str, str] | None:
        if crop.size == 0:
            return None
        if backend == "ppocr" or tess is None:
            text, conf = self.ppocr.recognize(crop)
            return clean_text(text), conf, "latin", "ppocr"
        gray = prepare_line(crop)
        if lang == "auto":
            probe, probe_conf = tess.recognize(gray, TESS_LANG["auto"]) if tess.has("ara") else ("", 0.0)
            script = script_of(probe) if probe else "latin"
            lang_line = "ar" if script == "arabic" else "en"
        else:
            lang_line = lang
            script = "arabic" if lang == "ar" else "latin"
        engine = backend if backend != "auto" else BEST_ENGINE[lang_line]
        if engine == "ppocr":
            text, conf = self.ppocr.recognize(crop)
            return clean_text(text), conf, script, "ppocr"
        text, conf = tess.recognize(gray, TESS_LANG[lang_line])
        return text, conf, script, f"tesseract:{TESS_LANG[lang_line]}"


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Top to bottom; lines sharing a row go left to right, or right to left in an Arabic row."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2):
        x1, y1, x2, y2 = line.box
        for row in rows:
            ry1 = min(r.box[1] for r in row)
            ry2 = max(r.box[3] for r in row)
            overlap = min(y2, ry2) - max(y1, ry1)
            if overlap > 0.5 * min(y2 - y1, ry2 - ry1):
                row.append(line)
                break
        else:
            rows.append([line])
    ordered: list[OcrLine] = []
    for row in rows:
        arabic = sum(len(r.text) for r in row if r.script == "arabic") > sum(len(r.text) for r in row) / 2
        ordered += sorted(row, key=lambda r: -r.box[2] if arabic else r.box[0])
    return ordered


def _paddleocr_recognize(pipeline: OcrPipeline, image: Image.Image, lang: str) -> OcrResult:
    """The full ``paddleocr`` pipeline, when that package and its model files are installed.

    PaddleOCR downloads models on first use by default; we only use directories named in
    ``settings.PADDLEOCR_MODEL_DIRS`` (``{"det": ..., "rec": ..., "rec_ar": ...}``) that exist.
    """
    try:
        from django.conf import settings

        dirs = dict(getattr(settings, "PADDLEOCR_MODEL_DIRS", {}) or {})
    except ImportError:  # pragma: no cover
        dirs = {}
    rec_key = "rec_ar" if lang == "ar" else "rec"
    if not all(dirs.get(k) and Path(dirs[k]).is_dir() for k in ("det", rec_key)):
        raise OcrUnavailable("paddleocr backend needs PADDLEOCR_MODEL_DIRS with local det/rec model folders")
    try:
        from paddleocr import PaddleOCR
    except ImportError as exc:
        raise OcrUnavailable("the paddleocr package is not installed") from exc
    with pipeline._lock:
        cache = pipeline._paddle or {}
        if rec_key not in cache:
            cache[rec_key] = PaddleOCR(text_detection_model_dir=dirs["det"],
                                       text_recognition_model_dir=dirs[rec_key],
                                       use_doc_orientation_classify=False, use_doc_unwarping=False,
                                       use_textline_orientation=False)
        pipeline._paddle = cache
    out = cache[rec_key].predict(np.asarray(image.convert("RGB"))[..., ::-1].copy())
    lines = []
    for page in out:
        for text, score, poly in zip(page["rec_texts"], page["rec_scores"], page["rec_polys"]):
            text = clean_text(text)
            if text:
                lines.append(OcrLine(text, np.asarray(poly, float).tolist(), float(score), script_of(text),
                                     "paddleocr"))
    return OcrResult(reading_order(lines))


_pipeline: OcrPipeline | None = None
_pipeline_lock = threading.Lock()


def get_pipeline() -> OcrPipeline:
    global _pipeline
    if _pipeline is None:
        with _pipeline_lock:
            if _pipeline is None:
                _pipeline = OcrPipeline()
    return _pipeline
