"""Generated clean printed pages for OCR evaluation: two disjoint sets, one to tune on, one held out.

A page is 1-4 lines of English or Arabic print on paper-white, in a layout, rotated by a few degrees
(the way a page sits on a scanner or in a phone photo). Each sample carries its lines in reading order.

* ``TUNING``: the only set used to choose anything in :mod:`pipelines.ml.ocr` (thresholds, margins,
  engines). Its fonts, vocabulary, layouts and seeds are disjoint from the held-out set's.
* ``DEV`` (:func:`dev_pages`, Arabic only): a third set, of 16 other Arabic fonts and words drawn from
  Tesseract's own Arabic dictionary (or one letter away from it), to choose what uses that dictionary
  (:data:`pipelines.ml.ocr.VOTE_HEIGHTS`) without touching the other two.
* ``HELD_OUT``: other fonts (other families, not only other weights), another vocabulary, layouts the
  tuning set never has (indented paragraphs, a larger heading, a wide gap between blocks), larger
  rotations, other seeds. Measured, never tuned on.

Fonts are Debian's (fonts-dejavu-core/-extra, fonts-liberation, fonts-noto-core, fonts-kacst,
fonts-kacst-one, fonts-arabeyes, fonts-hosny-amiri); a set uses the ones installed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .fonts import find_fonts
from .ocr_synth import _AR_WORDS, _EN_WORDS

# Extra vocabulary of the held-out set: words the tuning set never prints. The Arabic list is rich in
# the letters only dots tell apart in final position (ي / ى, ة / ه), the misreads the issue reported.
_EN_HELD_OUT = (
    "weather garden river mountain kitchen window library history science student teacher village harbour "
    "winter summer autumn spring morning evening journey travel engine bridge station museum theatre "
    "picture letter answer question island forest valley desert ocean planet camera pencil notebook "
    "hospital doctor nurse patient medicine bakery butter coffee orange yellow purple silver golden "
    "quickly slowly carefully beautiful strange famous ancient modern simple gentle brave clever quiet "
    "between against without during toward above below behind beside"
).split()
_AR_HELD_OUT = (
    "مستشفى مبنى معنى مستوى أخرى كبرى صغرى موسيقى ذكرى فتى هدى ليلى سلمى مصطفى عيسى موسى يحيى "
    "العربي الدولي السياسي الرسمي اليومي الشعبي الثقافي الطبي كرسي عربي ذكي قوي نبي وادي نادي "
    "حديقة مدرسة جامعة مكتبة رسالة قصة لغة سيارة طائرة مدينة قرية غرفة نافذة ساعة صورة رحلة "
    "الشتاء الصيف الربيع الخريف الصباح المساء الجبل النهر الغابة الصحراء المحيط الكوكب القلم الدفتر "
    "الطبيب الممرضة المريض الدواء المخبز القهوة البرتقال الأصفر الذهبي الفضي بسرعة ببطء بعناية "
    "جميلة غريبة مشهورة قديمة حديثة بسيطة هادئة وجه شارع بيت باب ولد بنت سماء أرض"
).split()

# Latin and Arabic families split between the sets (a family is never in both).
TUNING_EN_FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "LiberationSans-Regular.ttf",
                   "LiberationSerif-Regular.ttf", "DejaVuSansCondensed.ttf")
HELD_OUT_EN_FONTS = ("NotoSans-Regular.ttf", "NotoSerif-Regular.ttf", "NotoSansDisplay-Regular.ttf",
                     "NotoSerif-Bold.ttf", "NotoSerifDisplay-Italic.ttf", "NotoSans-Italic.ttf")
TUNING_AR_FONTS = ("NotoNaskhArabic-Regular.ttf", "Amiri-Regular.ttf", "KacstOne.ttf", "ae_AlArabiya.ttf",
                   "DejaVuSans.ttf")
HELD_OUT_AR_FONTS = ("NotoSansArabic-Regular.ttf", "KacstBook.ttf", "KacstOffice.ttf", "ae_Salem.ttf",
                     "NotoKufiArabic-Regular.ttf", "ae_Nagham.ttf", "KacstNaskh.ttf")

# The development set's Arabic fonts: in neither set above. Three are display faces (DEV_DISPLAY_FONTS:
# ornamental and Ruq'ah-like), far harder for any engine than the other thirteen.
DEV_AR_FONTS = ("ae_Arab.ttf", "ae_Cortoba.ttf", "ae_Dimnah.ttf", "ae_Granada.ttf", "ae_Hani.ttf",
                "ae_Hor.ttf", "ae_Kayrawan.ttf", "ae_Khalid.ttf", "ae_Nada.ttf", "ae_Sharjah.ttf",
                "ae_Tarablus.ttf", "ae_Furat.ttf", "NotoSansArabic-Bold.ttf", "NotoNaskhArabic-Bold.ttf",
                "KacstLetter.ttf", "KacstFarsi.ttf")
DEV_DISPLAY_FONTS = ("ae_Granada.ttf", "ae_Kayrawan.ttf", "KacstFarsi.ttf")

TUNING_LAYOUTS = ("block", "centred")
HELD_OUT_LAYOUTS = ("block", "centred", "indented", "heading", "gap")


@dataclass(frozen=True)
class PageSet:
    name: str
    seed: int
    en_fonts: tuple[str, ...]
    ar_fonts: tuple[str, ...]
    layouts: tuple[str, ...]
    max_degrees: float
    extra_vocabulary: bool


TUNING = PageSet("tuning", 31_000, TUNING_EN_FONTS, TUNING_AR_FONTS, TUNING_LAYOUTS, 3.0, False)
HELD_OUT = PageSet("held-out", 97_000, HELD_OUT_EN_FONTS, HELD_OUT_AR_FONTS, HELD_OUT_LAYOUTS, 4.5, True)


@dataclass
class Page:
    image: Image.Image
    lines: list[str]  # reading order
    lang: str  # "en" | "ar"
    font: str
    layout: str
    degrees: float  # counter-clockwise rotation applied to the page

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _has_digits(font: ImageFont.FreeTypeFont) -> bool:
    """Whether the font draws Latin digits (several Kacst fonts have none and would print boxes)."""
    return bytes(font.getmask("0123456789")) != bytes(font.getmask("\U000F0000" * 10))


def _line(rng: random.Random, lang: str, extra: bool, digits: bool = True,
          vocabulary: list[str] | None = None) -> str:
    words = list(vocabulary or (_EN_WORDS if lang == "en" else _AR_WORDS))
    if extra:  # mostly the held-out vocabulary
        words = list(_EN_HELD_OUT if lang == "en" else _AR_HELD_OUT) * 3 + words
    out = [rng.choice(words) for _ in range(rng.randrange(3, 8))]
    if lang == "en":
        if rng.random() < 0.6:
            out[0] = out[0].capitalize()
        if digits and rng.random() < 0.3:
            out.insert(rng.randrange(len(out) + 1), str(rng.randrange(1, 10000)))
        return " ".join(out) + rng.choice(("", "", ".", ",", ":"))
    if digits and rng.random() < 0.2:
        out.insert(rng.randrange(len(out) + 1), str(rng.randrange(1, 1000)))
    return " ".join(out)


def make_page(rng: random.Random, lang: str, fonts: list[str], layouts: tuple[str, ...],
              max_degrees: float, extra_vocabulary: bool, vocabulary: list[str] | None = None) -> Page:
    font_path = rng.choice(fonts)
    layout = rng.choice(layouts)
    size = rng.randrange(20, 40)
    n = rng.randrange(1, 5) if layout not in ("heading", "gap") else rng.randrange(2, 5)
    digits = _has_digits(ImageFont.truetype(font_path, size))
    lines = [_line(rng, lang, extra_vocabulary, digits, vocabulary) for _ in range(n)]
    sizes = [size] * n
    if layout == "heading":
        sizes[0] = int(size * rng.uniform(1.3, 1.7))
    fonts_ = [ImageFont.truetype(font_path, s) for s in sizes]
    kw = {"direction": "rtl", "language": "ar"} if lang == "ar" else {}
    indent = int(size * rng.uniform(1.5, 3.0)) if layout == "indented" else 0
    widths = [int(f.getlength(t, **kw)) + (indent if i == 0 else 0)
              for i, (f, t) in enumerate(zip(fonts_, lines))]
    spacing = rng.uniform(1.3, 1.9)
    margin = rng.randrange(24, 60)
    w = max(widths) + 2 * margin
    ys, y = [], margin
    for i, s in enumerate(sizes):
        ys.append(y)
        y += int(s * spacing)
        if layout == "gap" and i == 0:
            y += int(size * rng.uniform(1.0, 2.0))
    h = y + margin
    paper = tuple(rng.randrange(238, 256) for _ in range(3))
    img = Image.new("RGB", (w, h), paper)
    draw = ImageDraw.Draw(img)
    ink = tuple([rng.randrange(0, 50)] * 3)
    for i, (line, font, top) in enumerate(zip(lines, fonts_, ys)):
        first = indent if i == 0 else 0
        if layout == "centred":
            draw.text((w / 2, top), line, font=font, fill=ink, anchor="ma", **kw)
        elif lang == "ar":
            draw.text((w - margin - first, top), line, font=font, fill=ink, anchor="ra", **kw)
        else:
            draw.text((margin + first, top), line, font=font, fill=ink, anchor="la")
    degrees = rng.uniform(0.5, max_degrees) * rng.choice((-1, 1))
    img = img.rotate(degrees, resample=Image.BICUBIC, expand=True, fillcolor=paper)
    return Page(img, lines, lang, Path(font_path).name, layout, degrees)


def make_pages(page_set: PageSet, lang: str, n: int) -> list[Page]:
    """``n`` pages of ``lang`` from ``page_set``, deterministic for a set and language."""
    fonts = find_fonts(page_set.en_fonts if lang == "en" else page_set.ar_fonts)
    if not fonts:
        raise RuntimeError(f"no {lang} fonts of the {page_set.name} set are installed")
    rng = random.Random(page_set.seed + (lang == "ar"))
    return [make_page(rng, lang, fonts, page_set.layouts, page_set.max_degrees, page_set.extra_vocabulary)
            for _ in range(n)]


def dev_pages(n: int, off_dictionary: bool = False) -> list[Page]:
    """``n`` Arabic pages of the development set: :data:`DEV_AR_FONTS`, held-out layouts, up to 4 degrees,
    3,000 words drawn from Tesseract's Arabic dictionary; with ``off_dictionary`` half of them have one
    letter changed so that they are in no dictionary. Needs the dictionary (Debian's tesseract-ocr tools)."""
    from .ocr import arabic_words, tessdata_dir

    tessdata = tessdata_dir()
    words = arabic_words(tessdata) if tessdata else frozenset()
    fonts = find_fonts(DEV_AR_FONTS)
    if not words or not fonts:
        raise RuntimeError("the development set needs Tesseract's Arabic dictionary and fonts-arabeyes")
    rng = random.Random(4242)
    pool = [w for w in sorted(words) if 2 <= len(w) <= 9]
    vocabulary = [rng.choice(pool) for _ in range(3000)]
    if off_dictionary:
        letters = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
        for k, word in enumerate(vocabulary):
            if rng.random() < 0.5:
                for _ in range(20):
                    i = rng.randrange(len(word))
                    changed = word[:i] + rng.choice(letters) + word[i + 1:]
                    if changed not in words:
                        vocabulary[k] = changed
                        break
    page_rng = random.Random(55_000 + off_dictionary)
    return [make_page(page_rng, "ar", fonts, HELD_OUT_LAYOUTS, 4.0, False, vocabulary) for _ in range(n)]
