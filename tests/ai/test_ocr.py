"""IMAGE__OCR as the engine sees it: accuracy on a generated held-out set, reading order, errors.

The held-out images are drawn here with Pillow in Debian fonts (see pipelines/ml/ocr_synth.py for the
packages) with seeds never used while tuning the pipeline, so the character error rates printed below are
honest estimates for clean-to-moderately-degraded print. The rotated clean pages come from
pipelines/ml/ocr_pages.py's HELD_OUT set (fonts, words, layouts and seeds that nothing was tuned on); the
node must read them at least as well as Tesseract reading the whole page.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw, ImageFont

from pipelines.nodes.base import ImageValue, NodeContext, NodeError, get_node_type

pytest.importorskip("rapidocr")
pytest.importorskip("tesserocr")

from pipelines.ml import ocr as ocr_ml  # noqa: E402
from pipelines.ml import ocr_pages  # noqa: E402
from pipelines.ml.ocr_synth import ARABIC_FONTS, ENGLISH_FONTS, cer, find_fonts, make_set  # noqa: E402

HELDOUT_SEED_EN = 424242
HELDOUT_SEED_AR = 515151
N_PER_LANG = 24

needs_tesseract = pytest.mark.skipif(ocr_ml.tessdata_dir() is None,
                                     reason="Debian tesseract-ocr-eng/-ara data not installed")


@pytest.fixture(scope="module")
def node():
    node_type = get_node_type("IMAGE__OCR")
    assert node_type is not None, "IMAGE__OCR is not registered"
    return node_type


def run(node_type, image, **params):
    ctx = NodeContext(run_id="run-1", node_id="ocr-1")
    return node_type().run(ctx, {"image": image}, {**node_type.param_defaults(), **params})


def _font(names, size):
    fonts = find_fonts(names)
    if not fonts:
        pytest.skip(f"none of the fonts {names} is installed")
    return ImageFont.truetype(fonts[0], size)


def test_declares_ports_params_and_cost(node):
    described = node.describe()
    assert [p["name"] for p in described["inputs"]] == ["image"]
    assert {p["name"]: p["type"] for p in described["outputs"]} == {"text": "text", "lines": "json"}
    props = described["params_schema"]["properties"]
    assert props["lang"]["enum"] == ["auto", "en", "ar"] and props["lang"]["default"] == "auto"
    assert props["backend"]["enum"] == ["auto", "ppocr", "tesseract", "paddleocr"]
    assert described["credit_cost"] > 0 and described["resource_class"] == "gpu"


@needs_tesseract
@pytest.mark.parametrize("lang,seed,limit", [("en", HELDOUT_SEED_EN, 0.01), ("ar", HELDOUT_SEED_AR, 0.03)])
def test_character_error_rate_on_held_out_print(node, lang, seed, limit):
    if not find_fonts(ENGLISH_FONTS if lang == "en" else ARABIC_FONTS):
        pytest.skip("fonts not installed")
    if lang == "ar":
        from PIL import features

        # without libraqm (+ Debian's libfribidi0) Pillow draws Arabic unjoined and left to right
        assert features.check("raqm"), "Pillow cannot shape Arabic: install libfribidi0 / libraqm0"
    samples = make_set(seed, lang, N_PER_LANG)
    predictions = [run(node, ImageValue(s.image), lang="auto")["text"] for s in samples]
    rate = cer(predictions, [s.text for s in samples])
    print(f"\nIMAGE__OCR lang=auto on {len(samples)} held-out {lang} images: "
          f"CER {rate:.2%} (limit {limit:.0%})")
    assert rate <= limit


def test_english_with_the_ppocr_backend(node):
    samples = make_set(HELDOUT_SEED_EN + 1, "en", 4)
    predictions = [run(node, ImageValue(s.image), lang="en", backend="ppocr")["text"] for s in samples]
    rate = cer(predictions, [s.text for s in samples])
    print(f"\nIMAGE__OCR backend=ppocr on 4 English images: CER {rate:.2%}")
    assert rate <= 0.05


@needs_tesseract
def test_lines_carry_box_polygon_confidence_in_reading_order(node):
    image = Image.new("RGB", (900, 260), "white")
    draw = ImageDraw.Draw(image)
    en = _font(ENGLISH_FONTS, 32)
    ar = _font(ARABIC_FONTS, 36)
    draw.text((30, 20), "Invoice number 4521", font=en, fill="black")
    # one row, two Arabic phrases: the right-hand one is read first
    rtl = {"font": ar, "fill": "black", "anchor": "ra", "direction": "rtl", "language": "ar"}
    draw.text((870, 110), "مرحبا بالعالم", **rtl)
    draw.text((380, 110), "الطاقة الشمسية", **rtl)
    draw.text((30, 200), "Total amount due", font=en, fill="black")

    out = run(node, ImageValue(image), lang="auto")
    lines = out["lines"]
    texts = [line["text"] for line in lines]
    assert texts == ["Invoice number 4521", "مرحبا بالعالم", "الطاقة الشمسية", "Total amount due"], texts
    assert out["text"] == "\n".join(texts)
    assert [line["script"] for line in lines] == ["latin", "arabic", "arabic", "latin"]
    for line in lines:
        x1, y1, x2, y2 = line["box"]
        assert 0 <= x1 < x2 <= image.width and 0 <= y1 < y2 <= image.height
        assert len(line["polygon"]) == 4
        assert 0.5 <= line["confidence"] <= 1.0
    # the right-hand Arabic phrase really is on the right
    assert lines[1]["box"][0] > lines[2]["box"][2]


@needs_tesseract
def test_light_text_on_dark_and_upside_down_lines(node):
    image = Image.new("RGB", (640, 90), (20, 24, 40))
    ImageDraw.Draw(image).text((20, 22), "Quarterly revenue report", font=_font(ENGLISH_FONTS, 36),
                               fill=(235, 235, 235))
    assert run(node, ImageValue(image), lang="en")["text"] == "Quarterly revenue report"
    flipped = image.rotate(180)
    assert run(node, ImageValue(flipped), lang="en")["text"] == "Quarterly revenue report"


def test_blank_image_has_no_text(node):
    out = run(node, ImageValue(Image.new("RGB", (320, 200), (240, 240, 240))))
    assert out == {"text": "", "lines": []}


def test_arabic_needs_an_engine_that_reads_it(node):
    with pytest.raises(NodeError) as err:
        run(node, ImageValue(Image.new("RGB", (64, 64), "white")), lang="ar", backend="ppocr")
    assert err.value.code == "OCR_UNAVAILABLE"


def test_paddleocr_backend_without_local_models_is_a_clear_error(node, settings):
    settings.PADDLEOCR_MODEL_DIRS = {}
    with pytest.raises(NodeError) as err:
        run(node, ImageValue(Image.new("RGB", (64, 64), "white")), backend="paddleocr")
    assert err.value.code == "OCR_UNAVAILABLE"


@pytest.mark.parametrize("params,field", [({"lang": "fr"}, "lang"), ({"backend": "magic"}, "backend")])
def test_bad_params(node, params, field):
    with pytest.raises(NodeError) as err:
        run(node, ImageValue(Image.new("RGB", (8, 8))), **params)
    assert err.value.code == "INVALID_PARAM"


def test_corrupt_unsupported_and_oversized_images(node, settings):
    good = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(good, "PNG")
    truncated = ImageValue(Image.open(io.BytesIO(good.getvalue()[:60])), source="truncated.png")
    with pytest.raises(NodeError) as err:
        run(node, truncated)
    assert err.value.code == "INVALID_IMAGE"

    with pytest.raises(NodeError) as err:
        run(node, b"%PDF-1.7 not an image")
    assert err.value.code == "UNSUPPORTED_FORMAT"

    with pytest.raises(NodeError) as err:
        run(node, None)
    assert err.value.code == "MISSING_INPUT"

    settings.MAX_INPUT_PIXELS = 10_000
    with pytest.raises(NodeError) as err:
        run(node, ImageValue(Image.new("RGB", (200, 200))))
    assert err.value.code == "IMAGE_TOO_LARGE"


def test_models_come_from_the_wheel_never_the_network(monkeypatch):
    """rapidocr downloads missing models on first use; ours must never reach that code."""
    from rapidocr.utils import download_file

    def refuse(*args, **kwargs):
        raise AssertionError("OCR tried to download a model")

    monkeypatch.setattr(download_file.DownloadFile, "run", classmethod(refuse))
    fresh = ocr_ml.OcrPipeline()
    image = Image.new("RGB", (400, 80), "white")
    ImageDraw.Draw(image).text((10, 20), "offline", font=_font(ENGLISH_FONTS, 32), fill="black")
    assert fresh.recognize(image, lang="en", backend="ppocr").text == "offline"


@needs_tesseract
def test_arabic_dictionary_is_tesseracts_own_unpacked_once(tmp_path, settings):
    """The user-words file is the word DAWG of the installed ara.traineddata, unpacked into DATA_DIR/ocr
    once (named by the data file's digest) and handed to every Arabic Tesseract handle."""
    import shutil

    if not (shutil.which("combine_tessdata") and shutil.which("dawg2wordlist")):
        pytest.skip("Debian tesseract-ocr tools not installed")
    settings.DATA_DIR = tmp_path
    ocr_ml.arabic_words_file.cache_clear()
    try:
        path = ocr_ml.arabic_words_file(ocr_ml.tessdata_dir())
        assert path and path.startswith(str(tmp_path / "ocr"))
        words = set(open(path, encoding="utf-8").read().split())
        assert len(words) > 50_000
        assert {"مدرسة", "الجامعة", "مستشفى"} <= words  # logical order, as Unicode stores Arabic
        assert "ةسردم" not in words
        stamp = (tmp_path / "ocr").stat().st_mtime_ns, len(list((tmp_path / "ocr").iterdir()))
        ocr_ml.arabic_words_file.cache_clear()
        assert ocr_ml.arabic_words_file(ocr_ml.tessdata_dir()) == path
        assert len(list((tmp_path / "ocr").iterdir())) == stamp[1]  # reused, not unpacked again
    finally:
        ocr_ml.arabic_words_file.cache_clear()


@needs_tesseract
def test_arabic_reads_without_the_dictionary_tools(monkeypatch, tmp_path, settings):
    """Without Debian's combine_tessdata/dawg2wordlist the dictionary is skipped (a warning), not an error."""
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(ocr_ml.shutil, "which", lambda name: None)
    ocr_ml.arabic_words_file.cache_clear()
    try:
        assert ocr_ml.arabic_words_file(ocr_ml.tessdata_dir()) is None
        page = ocr_pages.make_pages(ocr_pages.TUNING, "ar", 1)[0]
        text = ocr_ml.OcrPipeline().recognize(page.image, lang="ar").text
        assert cer([text], [page.text]) < 0.05
    finally:
        ocr_ml.arabic_words_file.cache_clear()


class _Symbols:
    """A stand-in for tesserocr's result iterator over (symbol, box) pairs."""

    def __init__(self, symbols):
        self.symbols, self.i = symbols, 0

    def Empty(self, level):
        return not self.symbols

    def BoundingBox(self, level):
        return self.symbols[self.i][1]

    def GetUTF8Text(self, level):
        return self.symbols[self.i][0]

    def Next(self, level):
        self.i += 1
        return self.i < len(self.symbols)


def test_a_period_inside_an_arabic_letters_box_is_its_dot():
    """A period whose box lies within the neighbouring Arabic letter's is that letter's dot and goes; a
    period beside the letter stays; a reading whose symbols are not its letters one to one (a symbol with
    no text, or two letters in one symbol) is left as read, since the boxes would belong to other letters."""
    import types

    tess = ocr_ml.Tesseract.__new__(ocr_ml.Tesseract)
    tess._tesserocr = types.SimpleNamespace(RIL=types.SimpleNamespace(SYMBOL=4))

    def read(symbols, text):
        return tess._drop_letter_dots(types.SimpleNamespace(GetIterator=lambda: _Symbols(symbols)), text)

    letter, dot_inside, dot_beside = ("ة", (10, 0, 30, 20)), (".", (16, 2, 20, 6)), (".", (34, 14, 38, 20))
    assert read([("ب", (40, 0, 60, 20)), letter, dot_inside], "بة.") == "بة"
    assert read([("ب", (40, 0, 60, 20)), letter, dot_beside], "بة.") == "بة."
    assert read([("", (0, 0, 0, 0)), dot_inside, letter], ".ة") == ".ة"
    assert read([("بة", (10, 0, 60, 20)), dot_inside], "بة.") == "بة."


class _Rereads:
    """A stand-in Tesseract whose readings of a line at other heights are given in order."""

    path = "tessdata"

    def __init__(self, readings):
        self.readings = list(readings)
        self.heights = []

    def recognize(self, image, lang):
        assert lang == "ara"
        self.heights.append(image.height)
        return self.readings.pop(0), 90.0


def test_arabic_words_outside_the_dictionary_are_voted_on(monkeypatch):
    """An out-of-dictionary word becomes the dictionary word most readings at other heights give; readings
    that do not line up word for word are ignored, a word no reading fixes stays, and a line whose words
    are all known is not read again."""
    import numpy as np

    monkeypatch.setattr(ocr_ml, "arabic_words", lambda path: frozenset({"مدرسة", "جميلة", "نادي", "بيت"}))
    crop = np.full((30, 200, 3), 255, np.uint8)
    crop[10:20, 20:180] = 0
    vote = ocr_ml.OcrPipeline._dictionary_vote

    known = _Rereads([])
    assert vote(crop, "مدرسة جميلة", known) == "مدرسة جميلة" and known.heights == []

    tess = _Rereads(["مدرسة جميلة نادي", "مدرسه جميلة ناذي", "مدرسة جميلة نادى 12", "مدرسة جميله نادي",
                     "بيت جميلة ناذي"])
    out = vote(crop, "مدرسه جميلة ناذي", tess)
    assert out == "مدرسة جميلة نادي"
    assert tess.heights == list(ocr_ml.VOTE_HEIGHTS)  # one re-reading per height, at that height

    # a name the dictionary lacks, read the same way at every height, is kept; so are digits
    tess = _Rereads(["سليمانو 12 بيت"] * len(ocr_ml.VOTE_HEIGHTS))
    assert vote(crop, "سليمانو 12 بيت", tess) == "سليمانو 12 بيت"

    monkeypatch.setattr(ocr_ml, "arabic_words", lambda path: frozenset())  # no dictionary: as read
    assert vote(crop, "مدرسه", _Rereads([])) == "مدرسه"


def _whole_page_tesseract(image, lang):
    """The reference: Tesseract on the whole page, told the language."""
    import tesserocr

    with tesserocr.PyTessBaseAPI(path=ocr_ml.tessdata_dir(), lang={"en": "eng", "ar": "ara"}[lang],
                                 psm=tesserocr.PSM.AUTO, oem=tesserocr.OEM.LSTM_ONLY) as api:
        api.SetImage(image)
        return api.GetUTF8Text()


HELD_OUT_PAGES = 12  # per language; bench/ocr.py measures larger sets


@needs_tesseract
@pytest.mark.slow
@pytest.mark.parametrize("lang,goal", [("en", 0.005), ("ar", 0.01)])
def test_held_out_rotated_pages_beat_whole_page_tesseract(node, lang, goal):
    """Clean pages, 1-4 lines, rotated 0.5-4.5 degrees, in fonts, words and layouts never tuned on.

    English meets the issue's 0.5% here; Arabic is held to 1% on these few pages (a page or two in a hard
    font swings a dozen pages' rate) and to the issue's 0.5% on 160 pages below."""
    fonts = ocr_pages.HELD_OUT.en_fonts if lang == "en" else ocr_pages.HELD_OUT.ar_fonts
    if len(find_fonts(fonts)) < 3:
        pytest.skip("held-out fonts not installed")
    pages = ocr_pages.make_pages(ocr_pages.HELD_OUT, lang, HELD_OUT_PAGES)
    refs = [p.text for p in pages]
    ours = cer([run(node, ImageValue(p.image), lang="auto")["text"] for p in pages], refs)
    whole = cer([_whole_page_tesseract(p.image, lang) for p in pages], refs)
    print(f"\nIMAGE__OCR on {len(pages)} held-out {lang} pages: CER {ours:.2%}; "
          f"whole-page Tesseract {whole:.2%}")
    assert ours <= whole
    assert ours <= goal


@needs_tesseract
@pytest.mark.slow
def test_arabic_goal_of_the_issue(node):
    """Issue 18's goal for Arabic, 0.5% CER, on 160 held-out pages (0.42% when written; 0.56% before the
    dictionary vote). Two pages at a time (Tesseract handles are per thread), to keep the suite short."""
    from concurrent.futures import ThreadPoolExecutor

    pages = ocr_pages.make_pages(ocr_pages.HELD_OUT, "ar", 160)
    with ThreadPoolExecutor(2) as pool:
        texts = list(pool.map(lambda p: run(node, ImageValue(p.image), lang="auto")["text"], pages))
    rate = cer(texts, [p.text for p in pages])
    print(f"\nIMAGE__OCR on 160 held-out ar pages: CER {rate:.2%}")
    assert rate <= 0.005


def _rotated_page(lines, font, degrees, rtl=False):
    """Lines drawn on a page rotated ``degrees``; also each line's centre in the rotated image."""
    import math

    size = font.size
    shaping = {"direction": "rtl", "language": "ar"} if rtl else {}
    width = int(max(font.getlength(t, **shaping) for t in lines)) + 80
    height = len(lines) * int(size * 1.5) + 60
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    centres = []
    for i, text in enumerate(lines):
        y = 30 + i * int(size * 1.5)
        if rtl:
            draw.text((width - 40, y), text, font=font, fill="black", anchor="ra", **shaping)
            x1, y1, x2, y2 = draw.textbbox((width - 40, y), text, font=font, anchor="ra", **shaping)
        else:
            draw.text((40, y), text, font=font, fill="black")
            x1, y1, x2, y2 = draw.textbbox((40, y), text, font=font)
        centres.append(((x1 + x2) / 2, (y1 + y2) / 2))
    rotated = page.rotate(degrees, resample=Image.BICUBIC, expand=True, fillcolor="white")
    # PIL turns counter-clockwise about the centre, then the canvas grows to hold the corners
    a = math.radians(degrees)
    cx, cy, ncx, ncy = width / 2, height / 2, rotated.width / 2, rotated.height / 2
    moved = [(ncx + (x - cx) * math.cos(a) + (y - cy) * math.sin(a),
              ncy - (x - cx) * math.sin(a) + (y - cy) * math.cos(a)) for x, y in centres]
    return rotated, moved


@needs_tesseract
@pytest.mark.parametrize("degrees", [4.0, -4.0])
def test_reading_order_on_a_rotated_multi_line_page(node, degrees):
    """Long lines a few degrees off level: sorted by their centres in the image, line 3 would come before
    line 2. The node levels the page, reads in order, and returns each box in the caller's pixels."""
    lines = ["Quarterly revenue grew in every region this year",
             "Short line",
             "The delivery network was extended to nine cities",
             "Contact the office for the full report"]
    image, centres = _rotated_page(lines, _font(ENGLISH_FONTS, 30), degrees)
    out = run(node, ImageValue(image), lang="auto")
    assert [line["text"] for line in out["lines"]] == lines
    for line, (cx, cy) in zip(out["lines"], centres):
        xs = [p[0] for p in line["polygon"]]
        ys = [p[1] for p in line["polygon"]]
        assert abs(sum(xs) / 4 - cx) < 25 and abs(sum(ys) / 4 - cy) < 12, (line["text"], line["polygon"])
        x1, y1, x2, y2 = line["box"]
        assert 0 <= x1 < x2 <= image.width and 0 <= y1 < y2 <= image.height


@needs_tesseract
def test_reading_order_on_a_rotated_arabic_page(node):
    lines = ["الطاقة الشمسية في المدينة الكبيرة اليوم", "مرحبا", "الجامعة العربية والبحث العلمي الجديد"]
    image, _ = _rotated_page(lines, _font(ARABIC_FONTS, 34), 3.5, rtl=True)
    out = run(node, ImageValue(image), lang="auto")
    assert [line["text"] for line in out["lines"]] == lines
    assert {line["script"] for line in out["lines"]} == {"arabic"}


def test_skew_is_measured_from_the_lines_and_undone():
    import numpy as np

    from pipelines.ml import ocr_layout

    # two lines rising 3 degrees to the right, one short noisy box
    def quad(x, y, w, h, deg):
        import math

        a = math.radians(deg)
        dx, dy = w * math.cos(a), -w * math.sin(a)
        return np.array([[x, y], [x + dx, y + dy], [x + dx, y + dy + h], [x, y + h]], np.float32)

    quads = [quad(10, 100, 400, 20, 3), quad(10, 140, 380, 20, 3), quad(50, 10, 20, 20, -20)]
    assert ocr_layout.estimate_skew(quads) == pytest.approx(3, abs=0.05)
    page = ocr_layout.level(np.full((200, 450, 3), 255, np.uint8), 3.0)
    top_left, top_right = page.points(quads[0][:2])
    assert top_left[1] == pytest.approx(top_right[1], abs=0.5)  # level once turned
    assert page.image[0, 0].tolist() == [255, 255, 255]  # corners filled with the paper, not black


@needs_tesseract
def test_a_line_at_its_own_angle_on_a_level_page_is_read(node):
    """Levelling follows the page's lines; a sign tilted 20 degrees on it is cut along its own box."""
    font = _font(ENGLISH_FONTS, 30)
    page = Image.new("RGB", (900, 500), "white")
    draw = ImageDraw.Draw(page)
    draw.text((30, 30), "Level heading at the top", font=font, fill="black")
    draw.text((30, 90), "Another level line here", font=font, fill="black")
    sign = Image.new("RGBA", (600, 60), (255, 255, 255, 0))
    ImageDraw.Draw(sign).text((10, 10), "Sign at its own angle", font=font, fill="black")
    sign = sign.rotate(20, expand=True, resample=Image.BICUBIC)
    page.paste(sign, (200, 220), sign)
    out = run(node, ImageValue(page), lang="en")
    assert [line["text"] for line in out["lines"]] == [
        "Level heading at the top", "Another level line here", "Sign at its own angle"]
