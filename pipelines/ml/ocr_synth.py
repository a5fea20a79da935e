"""Synthetic printed-text images with ground truth, for OCR accuracy tests and the bench.

Lines of English or Arabic text are drawn with Pillow (Arabic is shaped by
libraqm, so glyphs join as in real print) in Debian fonts, at varied sizes, on
varied backgrounds (plain, tinted, gradient, noisy, dark with light text), with
optional blur and JPEG compression. Each sample carries the exact text that was
drawn, one line per row, so a character error rate can be computed.
"""

from __future__ import annotations

import io
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .fonts import find_fonts

# Debian: fonts-dejavu-core, fonts-liberation, fonts-noto-core
ENGLISH_FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf", "LiberationSans-Regular.ttf",
                 "LiberationSerif-Regular.ttf", "LiberationMono-Regular.ttf", "NotoSans-Regular.ttf",
                 "NotoSerif-Regular.ttf")
# Debian: fonts-noto-core, fonts-dejavu-core, fonts-hosny-amiri, fonts-kacst-one, fonts-arabeyes
ARABIC_FONTS = ("NotoNaskhArabic-Regular.ttf", "NotoSansArabic-Regular.ttf", "NotoNaskhArabic-Bold.ttf",
                "DejaVuSans.ttf", "Amiri-Regular.ttf", "KacstOne.ttf", "ae_AlArabiya.ttf")

_EN_WORDS = (
    "the of and to in is was for on that with as by at from this are be or have an not which but all were "
    "when we there can been has more if will one out so up about into than them only other new some could "
    "time these two may first then do any like my now over such our man me even most made after also did "
    "many before must through back years where much your way well down should because each just those people "
    "invoice total amount order number date customer report page section market price service delivery "
    "account payment address phone email street city office company project meeting schedule quarterly "
    "revenue growth energy system network quality design product support contact version available"
).split()
_AR_WORDS = (
    "في من على إلى عن مع هذا هذه ذلك التي الذي كان كانت يكون قد لا ما لم لن هو هي نحن هم أن إن كل بعض "
    "بين بعد قبل عند حتى أيضا ثم أو لكن اليوم العالم العربية المدينة الكتاب المدرسة الطالب المعلم الشركة "
    "السوق السعر الخدمة الرقم التاريخ العنوان الهاتف البريد الفاتورة المبلغ الإجمالي الطلب العميل الصفحة "
    "التقرير الاجتماع المشروع الجديد الكبير الصغير الأول الثاني جميل سريع كبير صغير مفتوح مغلق شكرا "
    "مرحبا أهلا السلام عليكم الحكومة الوزارة الجامعة البحث العلمي الصحة الطاقة الماء الشمس القمر البحر"
).split()


@dataclass
class TextSample:
    image: Image.Image
    lines: list[str]
    lang: str  # "en" | "ar"
    font: str

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _sentence(rng: random.Random, lang: str) -> str:
    words = _EN_WORDS if lang == "en" else _AR_WORDS
    n = rng.randrange(3, 8)
    out = [rng.choice(words) for _ in range(n)]
    if lang == "en":
        if rng.random() < 0.6:
            out[0] = out[0].capitalize()
        if rng.random() < 0.35:
            out.insert(rng.randrange(len(out) + 1), str(rng.randrange(1, 10000)))
        return " ".join(out) + rng.choice(("", "", ".", ",", ":"))
    if rng.random() < 0.25:  # Arabic-Indic digits are rarer in print than Western ones
        out.insert(rng.randrange(len(out) + 1), str(rng.randrange(1, 1000)))
    return " ".join(out)


def _background(rng: random.Random, w: int, h: int, dark: bool) -> Image.Image:
    kind = rng.choice(("plain", "plain", "tint", "gradient", "noise"))
    if dark:
        base = np.array([rng.randrange(0, 70) for _ in range(3)], np.float32)
    elif kind == "plain":
        base = np.array([255, 255, 255], np.float32)
    else:
        base = np.array([rng.randrange(190, 256) for _ in range(3)], np.float32)
    arr = np.empty((h, w, 3), np.float32)
    arr[:] = base
    if kind == "gradient":
        other = np.clip(base + rng.uniform(-50, 50), 0, 255) if not dark else base + rng.uniform(0, 40)
        t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        arr = arr * (1 - t) + other * t
    if kind == "noise":
        arr += np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(4, 14), arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_sample(rng: random.Random, lang: str, fonts: list[str]) -> TextSample:
    font_path = rng.choice(fonts)
    size = rng.randrange(18, 42)
    font = ImageFont.truetype(font_path, size)
    lines = [_sentence(rng, lang) for _ in range(rng.randrange(1, 4))]
    kw = {"direction": "rtl", "language": "ar"} if lang == "ar" else {}
    widths = [int(font.getlength(line, **kw)) for line in lines]
    gap = int(size * rng.uniform(0.5, 1.0))
    margin = rng.randrange(10, 40)
    w = max(widths) + 2 * margin
    h = len(lines) * (size + gap) + 2 * margin
    dark = rng.random() < 0.15
    img = _background(rng, w, h, dark)
    draw = ImageDraw.Draw(img)
    lo, hi = (200, 256) if dark else (0, 70)
    ink = tuple(rng.randrange(lo, hi) for _ in range(3))
    for i, line in enumerate(lines):
        y = margin + i * (size + gap)
        if lang == "ar":
            draw.text((w - margin, y), line, font=font, fill=ink, anchor="ra", **kw)
        else:
            draw.text((margin, y), line, font=font, fill=ink, anchor="la")
    if rng.random() < 0.2:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    if rng.random() < 0.3:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randrange(60, 95))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return TextSample(img, lines, lang, Path(font_path).name)


def make_set(seed: int, lang: str, n: int) -> list[TextSample]:
    fonts = find_fonts(ENGLISH_FONTS if lang == "en" else ARABIC_FONTS)
    if not fonts:
        raise RuntimeError(f"no {lang} fonts installed (see pipelines/ml/ocr_synth.py)")
    rng = random.Random(seed)
    return [make_sample(rng, lang, fonts) for _ in range(n)]


def normalize_text(text: str) -> str:
    """NFKC, bidi control marks removed, whitespace collapsed (for CER)."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(predictions: list[str], references: list[str]) -> float:
    """Character error rate over a set: total edits / total reference characters."""
    edits = sum(edit_distance(normalize_text(p), normalize_text(r)) for p, r in zip(predictions, references))
    total = sum(len(normalize_text(r)) for r in references)
    return edits / max(1, total)
