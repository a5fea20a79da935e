"""OCR for English and Arabic: PP-OCR text detection, then the best recognizer per script.

Pipeline (choices measured on generated print, :mod:`pipelines.ml.ocr_synth`; figures below):

1. **Detection** — PaddleOCR's PP-OCRv6 DB text detector (ONNX, shipped inside the
   ``rapidocr`` wheel, run by onnxruntime) finds text lines as quadrilaterals.
   The image is never upscaled for detection (``limit_type=max``): rapidocr's
   default (upscale the short side to 736 px) was ~40x slower on small images
   and split/merged more lines.
2. **Level the page** — the skew is measured from the detected lines' own edges
   (:mod:`pipelines.ml.ocr_layout`) and the page is turned level; lines are cut
   from the level page and ordered there. On a page a few degrees off level,
   ordering by centres in the image moved whole lines. Polygons stay the
   detector's, in the caller's pixels.
3. **Direction** — PP-OCR's 0/180 classifier flags upside-down lines; since it
   errs on Arabic (and on some Latin lines), a flip is kept only when the
   recognizer reads the flipped line with more confidence.
4. **Script** — with ``lang="auto"`` each line is read once by Tesseract with
   ``ara+eng`` and classified by its letters (Arabic vs Latin); a line whose
   script is not the page's majority is also read in the majority's script and
   the more confident reading wins.
5. **Recognition** — per script, the engine that measured best: Tesseract 5
   LSTM (Debian's ``tesseract-ocr-eng`` / ``-ara`` data, through ``tesserocr``)
   on a height-normalised line crop (:func:`crop_line`: a tenth of the line's
   height of page above and below, ends trimmed to the ink). PP-OCRv6's recognizer
   (``backend="ppocr"``) reads Latin script only (the shipped model has no Arabic);
   ``backend="paddleocr"`` uses the ``paddleocr`` package when it and its model
   files are installed.

Tesseract reads Latin lines in single-line mode (falling back to raw-line mode when
its blob filter drops a whole line) and Arabic lines in raw-line mode (single-line
mode dropped about a quarter of clean Arabic lines; reading the whole page or a
block with the Tesseract in tesserocr's wheel dropped whole Arabic lines: 15-37%
CER). Raw-line mode loses the leading digits of a number that opens an Arabic line
(719 read as 9): such a line is read again with paper on its right.

Arabic readings use Tesseract's own Arabic dictionary as user words (:func:`arabic_words_file`): the
LSTM beam search then prefers dictionary words where the network wavers between letters that only dots
or context tell apart. A line that still holds a word outside the dictionary is read again at five other
heights, and each such word takes the dictionary word most of those readings give in its place
(:meth:`OcrPipeline._dictionary_vote`; words no reading fixes stay as read).

Margins and trimming were chosen on :data:`pipelines.ml.ocr_pages.TUNING` only; the vote's heights on a
development set of other fonts (:func:`pipelines.ml.ocr_pages.dev_pages`).
Measured with ``bench/ocr.py --count 80`` (80 pages per language and set, ``lang=auto``; a 2-core
machine shared with a training run, so times are loose: 240-440 ms per page), CER:

=========================  ========  ========  =========  ========
set                        ours en   ours ar   page en    page ar
=========================  ========  ========  =========  ========
tuning pages               0.00%     0.61%     0.04%      3.40%
held-out pages             0.12%     0.30%     7.77%      13.73%
degraded lines             0.00%     0.61%     0.00%      2.91%
dev pages (150, ar only)             1.03%                9.12%
=========================  ========  ========  =========  ========

The dev row is its 13 plain faces (``bench/ocr.py --count 150 --sets dev,dev-off``); with its three
display faces ours reads 4.77% against 12.36%. Without the dictionary Arabic was 0.82% (tuning), 0.82%
(held-out) and 1.11% (degraded); with the dictionary but without the vote 0.61%, 0.46% and 0.65%, and
1.32% on the dev set. On 160 held-out Arabic pages the node reads 0.42% (0.56% without the vote): the
remaining errors are confident misreads in a few display fonts (ae_Salem's initial م as ه or ح) and
words split at a letter that does not join (KacstBook). The vote reads a line again only when it holds
an unknown word: on the dev set it cost 27% more time per Arabic page (543 against 429 ms, loaded
machine).

"page" is Tesseract on the whole page, told the language (Debian's ``tesseract``
command, the better of the two whole-page readings). Before the page was levelled,
the node read 20 of the held-out pages per language at 10.9% (English: lines out of
order) and 1.3% (Arabic), at the same time per page as now.

Lines are returned in reading order: top to bottom on the level page, and within a
row left to right, or right to left when the row is Arabic. Arabic text is in
logical (reading) order, as Unicode expects.

Models load once per process, lazily, behind locks; onnxruntime uses CUDA when
its CUDA provider is available. Tesseract handles are per thread (they are not
thread-safe).
"""

from __future__ import annotations

import collections
import functools
import hashlib
import logging
import math
import os
import shutil
import subprocess
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import ocr_layout as layout

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
LINE_MARGIN = 0.1  # of a line's height, kept above and below its crop (chosen on the tuning set)
LINE_END_MARGIN = 0.15  # of a line's height, kept beyond the first and last ink column (tuning set)
# Heights an Arabic line with out-of-dictionary words is read at again (see OcrPipeline._dictionary_vote);
# chosen on a development set of other fonts (not the tuning or held-out pages): 40/56/72 px gained less.
VOTE_HEIGHTS = (36, 40, 56, 64, 72)


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


def _is_arabic_word(word: str) -> bool:
    """Whether ``word`` is Arabic letters only (no digits, punctuation or Latin), as a dictionary holds."""
    return bool(word) and all(_is_arabic(ch) and ch.isalpha() for ch in word)


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


@functools.cache
def arabic_words_file(tessdata: str) -> str | None:
    """Tesseract's own Arabic dictionary (the word DAWG inside ``ara.traineddata``) as a word list, for
    Tesseract's ``user_words_file``; ``None`` (and a warning) when it cannot be had.

    Tesseract's LSTM beam search leaves the dictionary packed in the Arabic data unused (it matches
    words in visual order), but it does follow the same words given as user words: on 80 pages each,
    Arabic CER went from 0.82% to 0.61% (tuning) and from 0.82% to 0.46% (held-out), and on lines where
    half the words are not in the dictionary (one letter changed) from 1.55% to 1.40%. The list is
    unpacked with Debian's ``combine_tessdata`` and ``dawg2wordlist`` (package ``tesseract-ocr``) into
    ``DATA_DIR/ocr``, once per traineddata file.
    """
    source = Path(tessdata) / "ara.traineddata"
    combine, dawg2wordlist = shutil.which("combine_tessdata"), shutil.which("dawg2wordlist")
    if not source.is_file():
        return None
    if not (combine and dawg2wordlist):
        logger.warning("Arabic dictionary unused: combine_tessdata/dawg2wordlist not installed "
                       "(Debian: tesseract-ocr)")
        return None
    digest = hashlib.sha1(source.read_bytes()).hexdigest()[:16]
    out = _ocr_cache_dir() / f"ara-{digest}.words"
    if out.is_file() and out.stat().st_size:
        return str(out)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prefix = str(Path(tmp) / "ara.")
            subprocess.run([combine, "-u", str(source), prefix], check=True, capture_output=True, timeout=120)
            words = Path(tmp) / "ara.words"
            subprocess.run([dawg2wordlist, prefix + "lstm-unicharset", prefix + "lstm-word-dawg", str(words)],
                           check=True, capture_output=True, timeout=120)
            if not words.is_file() or not words.stat().st_size:
                raise OSError("no words in the Arabic word DAWG")
            partial = out.with_name(f"{out.name}.{os.getpid()}.{threading.get_ident()}")
            shutil.copyfile(words, partial)
            os.replace(partial, out)
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("Arabic dictionary unused: could not unpack it from %s: %s", source, exc)
        return None
    return str(out)


def _ocr_cache_dir() -> Path:
    try:
        from django.conf import settings

        base = Path(settings.DATA_DIR) if settings.configured and hasattr(settings, "DATA_DIR") else None
    except ImportError:  # pragma: no cover
        base = None
    path = (base or Path(tempfile.gettempdir()) / "canvasflow") / "ocr"
    path.mkdir(parents=True, exist_ok=True)
    return path


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
            variables = {}
            words = arabic_words_file(self.path) if "ara" in lang.split("+") else None
            if words:
                variables["user_words_file"] = words
            api = tess.PyTessBaseAPI(init=False)
            api.InitFull(path=self.path, lang=lang, oem=tess.OEM.LSTM_ONLY, variables=variables, psm=psm)
            apis[key] = api
        return apis[key]

    def recognize(self, crop_gray: Image.Image, lang: str) -> tuple[str, float]:
        """Read one line. Latin uses the single-line mode (most accurate), falling back to the raw-line
        mode when Tesseract's blob filter drops the whole line; Arabic always uses raw-line mode, since
        the filter dropped a quarter of clean Arabic lines in our measurements."""
        for raw in ((False, True) if lang == "eng" else (True,)):
            text, conf = self._read(crop_gray, lang, raw)
            if text:
                if lang == "ara":
                    text, conf = self._number_first(crop_gray, text, conf)
                return text, max(0.0, min(1.0, conf / 100.0))
        return "", 0.0

    def _read(self, image: Image.Image, lang: str, raw: bool) -> tuple[str, float]:
        api = self._api(lang, raw)
        api.SetImage(image)
        text = clean_text(api.GetUTF8Text())
        conf = api.MeanTextConf()
        if "ara" in lang and any(ch in _DOT_MARKS for ch in text):
            text = self._drop_letter_dots(api, text)
        api.Clear()
        return text, conf

    def _drop_letter_dots(self, api, text: str) -> str:
        """Drop a period or comma that is a dot of the Arabic letter beside it.

        Tesseract sometimes reads one of a letter's own dots (the two over a final ة, at the end of a
        line) as a separate period. A real period is its own blob beside the letter; this one's box lies
        inside the horizontal extent of the neighbouring letter's box, so it is dropped.
        """
        it = api.GetIterator()
        level = self._tesserocr.RIL.SYMBOL
        symbols: list[tuple[str, tuple[int, int, int, int]]] = []
        if it is None or it.Empty(level):
            return text
        while True:
            box = it.BoundingBox(level)
            symbols.append((it.GetUTF8Text(level) or "", box if box else (0, 0, 0, 0)))
            if not it.Next(level):
                break
        if [sym for sym, _ in symbols] != [ch for ch in text if ch != " "]:
            return text  # symbols and text do not line up one to one: leave the reading as it is
        drop = set()
        for i, (sym, (x1, _, x2, _)) in enumerate(symbols):
            if sym not in _DOT_MARKS:
                continue
            for j in (i - 1, i + 1):
                if 0 <= j < len(symbols) and _is_arabic_word(symbols[j][0][:1]):
                    nx1, _, nx2, _ = symbols[j][1]
                    if nx1 - 1 <= x1 and x2 <= nx2 + 1:
                        drop.add(i)
        if not drop:
            return text
        out, k = [], 0
        for ch in text:
            if ch == " ":
                out.append(ch)
                continue
            if k not in drop:
                out.append(ch)
            k += 1
        return clean_text("".join(out))

    def _number_first(self, crop_gray: Image.Image, text: str, conf: float) -> tuple[str, float]:
        """An Arabic line that starts with a number: raw-line mode drops all but the number's last
        digit when it touches the crop's right edge (719 -> 9). Read again with a line-height of paper
        on the right, and take the longer number only when the rest of the line reads the same (that
        margin elsewhere conjured digits out of nothing, so it is not used on every line)."""
        number, rest = _leading_number(text)
        if not number:
            return text, conf
        arr = np.asarray(crop_gray)
        paper = int(np.median(np.concatenate([arr[0], arr[-1]])))
        wider = Image.new("L", (crop_gray.width + crop_gray.height, crop_gray.height), paper)
        wider.paste(crop_gray, (0, 0))
        again, again_conf = self._read(wider, "ara", True)
        number2, rest2 = _leading_number(again)
        if len(number2) > len(number) and number2.endswith(number) and rest2 == rest:
            return again, again_conf
        return text, conf


def prepare_line(crop_bgr: np.ndarray, height: int = LINE_HEIGHT) -> Image.Image:
    """A line crop as Tesseract reads best: grey, dark text on light, ``height`` (48) px high."""
    from PIL import ImageOps

    gray = Image.fromarray(crop_bgr[..., ::-1]).convert("L")
    arr = np.asarray(gray)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    if np.median(border) < np.median(arr) or np.median(border) < 110:
        gray = ImageOps.invert(gray)  # light text on a dark background
    scale = height / max(1, gray.height)
    if abs(scale - 1) > 0.1:
        gray = gray.resize((max(1, round(gray.width * scale)), height), Image.BICUBIC)
    # No sideways margin: padding the ends made Tesseract's raw-line mode read them as punctuation or
    # digits (Arabic CER 4.9% with a 12 px margin all round, 1.2% without). Above and below, the
    # caller keeps LINE_MARGIN of the page (see crop_line).
    return gray


def crop_line(page: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The box's pixels from a level page: LINE_MARGIN of its height above and below, and its ends
    trimmed to the ink plus LINE_END_MARGIN of its height.

    The detector's box can shave the dots under a final ي (read as ى) and the tails of descenders; a
    little of the page above and below keeps them (tuning-set Arabic CER 1.73% -> 1.45%). Its ends, on
    the other hand, often hold blank paper that raw-line mode reads as a period (1.03% -> 0.81% on 80
    tuning pages once trimmed).
    """
    x1, y1, x2, y2 = box
    line_h = y2 - y1
    pad = LINE_MARGIN * line_h
    h, w = page.shape[:2]
    top, bottom = max(0, int(y1 - pad)), min(h, int(math.ceil(y2 + pad)))
    left, right = max(0, int(x1)), min(w, int(math.ceil(x2)))
    crop = page[top:bottom, left:right]
    if crop.size:
        gray = crop.astype(np.float32).mean(axis=2) if crop.ndim == 3 else crop.astype(np.float32)
        lo, hi = float(gray.min()), float(gray.max())
        if hi - lo > 40:  # otherwise there is no ink to find
            mid = (lo + hi) / 2
            ink = gray < mid if np.median(gray) > mid else gray > mid
            cols = np.flatnonzero(ink.any(axis=0))
            keep = LINE_END_MARGIN * line_h
            crop = crop[:, max(0, int(cols[0] - keep)):min(crop.shape[1], int(cols[-1] + 1 + keep))]
    return np.ascontiguousarray(crop)


_DOT_MARKS = frozenset(".,،")


def _leading_number(text: str) -> tuple[str, str]:
    """(first token if it is a number, the rest of the line)."""
    head, _, rest = text.partition(" ")
    return (head, rest) if head and all(ch.isdigit() for ch in head) else ("", text)


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

        quads = self.ppocr.detect(bgr)
        # Read and order on the page turned level; each line keeps the polygon found in the caller's image.
        page = layout.level(bgr, layout.estimate_skew(quads))
        lines: list[OcrLine] = []
        level_boxes: list[tuple[float, float, float, float]] = []
        crops: list[np.ndarray] = []
        for quad in quads:
            pts = page.points(quad)
            (x1, y1), (x2, y2) = pts.min(axis=0), pts.max(axis=0)
            box = (float(x1), float(y1), float(x2), float(y2))
            if abs(layout.line_angle(pts)) > layout.RECTIFY_DEGREES:
                crop = get_rotate_crop_image(page.image, pts.astype(np.float32))
            else:
                crop = crop_line(page.image, box)
            line = self._read_line(crop, lang, backend, tess)
            if line is not None and self.ppocr.is_upside_down(crop):
                # keep the flip only if the recognizer is more confident reading it that way
                flipped = self._read_line(np.ascontiguousarray(crop[::-1, ::-1]), lang, backend, tess)
                if flipped is not None and flipped[1] > line[1]:
                    line = flipped
            if line is not None and line[0]:
                text, conf, script, engine = line
                lines.append(OcrLine(text, quad.tolist(), conf, script, engine))
                level_boxes.append(box)
                crops.append(crop)
        if lang == "auto" and backend != "ppocr" and tess is not None:
            self._second_opinion(lines, crops, level_boxes, backend, tess)
        order = layout.reading_order(level_boxes, [ln.script == "arabic" for ln in lines],
                                     [ln.text for ln in lines])
        return OcrResult([lines[i] for i in order])

    def _second_opinion(self, lines: list[OcrLine], crops: list[np.ndarray],
                        boxes: list[tuple[float, float, float, float]], backend: str,
                        tess: Tesseract) -> None:
        """Lines whose script differs from most of the page's print are read in the page's script too,
        and the more confident reading is kept: the per-line probe misfiles short lines in display
        fonts (a one-word Arabic heading read as 'wil'), while a truly mixed page keeps its minority
        lines because they read with more confidence in their own script."""
        width = {"arabic": 0.0, "latin": 0.0}
        for line, box in zip(lines, boxes):
            width[line.script] += box[2] - box[0]
        major = max(width, key=lambda k: width[k])
        for i, line in enumerate(lines):
            if line.script == major:
                continue
            other = self._read_line(crops[i], "ar" if major == "arabic" else "en", backend, tess)
            if other is not None and other[0] and other[1] > line.confidence:
                text, conf, script, engine = other
                lines[i] = OcrLine(text, line.polygon, conf, script, engine)

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
        if lang_line == "ar":
            text = self._dictionary_vote(crop, text, tess)
        return text, conf, script, f"tesseract:{TESS_LANG[lang_line]}"

    @staticmethod
    def _dictionary_vote(crop: np.ndarray, text: str, tess: Tesseract) -> str:
        """``text`` (an Arabic line's reading) with each word that is not in Tesseract's Arabic dictionary
        replaced by the dictionary word most readings of the line at other heights put in its place.

        A line with no such word is returned as read (no extra cost). Readings whose word count differs
        are not used (the words would not line up), and a word no other reading turns into a dictionary
        word stays as read, so words that are truly outside the dictionary (names, rare forms) are kept.
        Measured on a development set kept apart from the tuning and held-out pages (150 pages each in 16
        other Arabic fonts, 13 of them plain text faces): with dictionary words CER went from 1.32% to
        1.03% on the plain faces (5.22% to 4.77% with the three display faces); with half the words one
        letter away from any dictionary word it stayed at 2.32% (4.60%).
        """
        words = arabic_words(tess.path)
        if not words:
            return text
        tokens = text.split(" ")
        unknown = [j for j, w in enumerate(tokens) if _is_arabic_word(w) and w not in words]
        if not unknown:
            return text
        others = []
        for height in VOTE_HEIGHTS:
            again, _ = tess.recognize(prepare_line(crop, height), TESS_LANG["ar"])
            again_tokens = again.split(" ")
            if len(again_tokens) == len(tokens):
                others.append(again_tokens)
        for j in unknown:
            votes = collections.Counter(o[j] for o in others if o[j] in words)
            if votes:
                tokens[j] = votes.most_common(1)[0][0]  # ties: the first height's word
        return " ".join(tokens)


@functools.cache
def arabic_words(tessdata: str) -> frozenset[str]:
    """The words of :func:`arabic_words_file`, loaded once; empty when the dictionary cannot be had."""
    path = arabic_words_file(tessdata)
    if not path:
        return frozenset()
    return frozenset(Path(path).read_text(encoding="utf-8").split())


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """``lines`` in reading order on their page, levelled by the skew of their own polygons."""
    quads = [np.asarray(ln.polygon, dtype=np.float64) for ln in lines]
    degrees = layout.estimate_skew(quads)
    import cv2

    matrix = cv2.getRotationMatrix2D((0.0, 0.0), -degrees, 1.0)
    boxes = []
    for quad in quads:
        pts = np.hstack([quad, np.ones((len(quad), 1))]) @ matrix.T
        boxes.append((pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()))
    return [lines[i] for i in layout.reading_order(boxes, [ln.script == "arabic" for ln in lines],
                                                   [ln.text for ln in lines])]


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
