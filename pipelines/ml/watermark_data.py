"""Synthetic watermark data: varied backgrounds with text and logo watermarks.

No labelled watermark data set ships in a package, so the detector is trained on
images made here. Each sample is a background (gradient, smooth noise, random
shapes, stripes, or a crop of a photo shipped in scikit-image's wheel) with zero
or more watermarks: text or logos, 15-80% opacity, rotated, tiled, in a corner
or centred. A watermark's box is the bounding box of its visible alpha.

Training and evaluation draw from disjoint font sets (``TRAIN_FONTS`` and
``HELDOUT_FONTS``) and different seeds, so the held-out figures measure
generalisation to unseen typefaces, not memorisation.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .fonts import find_fonts  # noqa: F401 -- the training code, bench and tests look fonts up here

# Three disjoint groups of families: training, validation (checkpoints and settings are chosen on it), and
# the held-out test. Training: DejaVu and Liberation (Debian) and, since the fifth stage, the families the
# font packages of :mod:`.fonts` ship (STIX from matplotlib, Source Sans/Serif, Manrope, Hanken Grotesk,
# Red Hat Display, Fjalla One, Fredoka One). Validation: Lato and Caladea. Held out: Noto (Debian's
# fonts-noto-core).
BASE_TRAIN_FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansCondensed-Bold.ttf", "DejaVuSans-Oblique.ttf",
    "DejaVuSerif-Italic.ttf", "DejaVuSans-ExtraLight.ttf",
    "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSerif-Regular.ttf",
    "LiberationSerif-BoldItalic.ttf", "LiberationMono-Regular.ttf", "LiberationSansNarrow-Bold.ttf",
)
EXTRA_TRAIN_FONTS = (
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "SourceSansPro-Regular.ttf", "SourceSansPro-Black.ttf", "SourceSansPro-It.ttf", "SourceSansPro-Light.ttf",
    "SourceSansPro-BoldIt.ttf", "SourceSerifPro-Regular.ttf", "SourceSerifPro-Semibold.ttf",
    "SourceSerifPro-It.ttf", "SourceSerifPro-Black.ttf",
    "Manrope-Regular.ttf", "Manrope-ExtraBold.ttf", "Manrope-ExtraLight.ttf",
    "HankenGrotesk-Regular.otf", "HankenGrotesk-Bold.otf", "HankenGrotesk-LightItalic.otf",
    "RedHatDisplay-Regular.ttf", "RedHatDisplay-Black.ttf", "RedHatDisplay-Italic.ttf",
    "RedHatDisplay-Light.ttf", "FjallaOne-Regular.ttf", "FredokaOne-Regular.ttf",
)
TRAIN_FONTS = BASE_TRAIN_FONTS + EXTRA_TRAIN_FONTS
VALIDATION_FONTS = (
    "Lato-Regular.ttf", "Lato-Bold.ttf", "Lato-Italic.ttf", "Lato-Light.ttf", "Lato-Black.ttf",
    "Caladea-Regular.ttf", "Caladea-Bold.ttf", "Caladea-Italic.ttf",
)
HELDOUT_FONTS = (
    "NotoSans-Regular.ttf", "NotoSans-Bold.ttf", "NotoSerif-Regular.ttf", "NotoSerif-BoldItalic.ttf",
    "NotoSans-Italic.ttf", "NotoSerif-Bold.ttf",
)

_SYLLABLES = ("ka", "lo", "mi", "ra", "to", "ne", "vi", "sa", "po", "de", "lu", "xo", "fy", "ber", "stock",
              "pix", "foto", "gram", "studio", "lens", "art", "img", "cam", "shot", "view", "snap")
_WORDS = ("SAMPLE", "PREVIEW", "COPYRIGHT", "PROOF", "DRAFT", "CONFIDENTIAL", "DO NOT COPY", "Stock",
          "Photography", "watermark", "Images", "Licensed", "Studio", "Getty", "by", "Photo")


@dataclass
class Sample:
    image: Image.Image  # RGB
    boxes: list[tuple[float, float, float, float]]  # x1, y1, x2, y2 in pixels


@lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    """Photos shipped inside scikit-image's wheel (never downloaded); empty if it is not installed."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("skimage")
    except (ImportError, ValueError):
        return ()
    if spec is None or not spec.submodule_search_locations:
        return ()
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    names = ("coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg",
             "grass.png", "gravel.png", "brick.png", "astronaut.png", "ihc.png", "retina.jpg", "color.png")
    out = []
    for name in names:
        path = data / name
        if path.is_file():
            with Image.open(path) as im:
                out.append(np.asarray(im.convert("RGB")))
    return tuple(out)


# -- backgrounds ---------------------------------------------------------------------------------------

def _rand_color(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def background(rng: random.Random, w: int, h: int) -> Image.Image:
    kind = rng.choices(("gradient", "noise", "shapes", "stripes", "photo"), (2, 3, 3, 1, 4))[0]
    nrng = np.random.default_rng(rng.randrange(2**32))
    if kind == "photo" and _photos():
        photo = _photos()[rng.randrange(len(_photos()))]
        ph, pw = photo.shape[:2]
        scale = rng.uniform(max(w / pw, h / ph), max(w / pw, h / ph) * 2.5)
        cw, ch = min(pw, int(w / scale) + 1), min(ph, int(h / scale) + 1)
        x, y = rng.randrange(pw - cw + 1), rng.randrange(ph - ch + 1)
        img = Image.fromarray(photo[y:y + ch, x:x + cw]).resize((w, h), Image.BILINEAR)
        if rng.random() < 0.5:
            arr = np.asarray(img, dtype=np.float32) * rng.uniform(0.6, 1.3) + rng.uniform(-40, 40)
            img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        return img
    if kind == "gradient" or kind == "photo":
        a, b = np.array(_rand_color(rng), np.float32), np.array(_rand_color(rng), np.float32)
        ang = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (xx * math.cos(ang) + yy * math.sin(ang))
        t = (t - t.min()) / max(1.0, float(t.max() - t.min()))
        arr = a * (1 - t[..., None]) + b * t[..., None]
    elif kind == "noise":
        cells = rng.choice((2, 4, 8, 16, 32))
        low = nrng.uniform(0, 255, (cells, cells, 3)).astype(np.uint8)
        arr = np.asarray(Image.fromarray(low).resize((w, h), Image.BICUBIC), np.float32)
        arr += nrng.normal(0, rng.uniform(0, 25), arr.shape)
    elif kind == "stripes":
        a, b = np.array(_rand_color(rng), np.float32), np.array(_rand_color(rng), np.float32)
        period = rng.uniform(6, 60)
        ang = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (np.sin((xx * math.cos(ang) + yy * math.sin(ang)) * 2 * math.pi / period) + 1) / 2
        arr = a * (1 - t[..., None]) + b * t[..., None]
    else:
        arr = np.empty((h, w, 3), np.float32)
        arr[:] = _rand_color(rng)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if kind in ("shapes", "noise", "gradient") and rng.random() < 0.8:
        _draw_shapes(rng, img, rng.randrange(3, 30))
    return img


def _draw_shapes(rng: random.Random, img: Image.Image, n: int) -> None:
    draw = ImageDraw.Draw(img)
    w, h = img.size
    for _ in range(n):
        x1, y1 = rng.uniform(-w * 0.2, w), rng.uniform(-h * 0.2, h)
        x2, y2 = x1 + rng.uniform(4, w * 0.6), y1 + rng.uniform(4, h * 0.6)
        color = _rand_color(rng)
        kind = rng.randrange(4)
        if kind == 0:
            draw.rectangle((x1, y1, x2, y2), fill=color)
        elif kind == 1:
            draw.ellipse((x1, y1, x2, y2), fill=color)
        elif kind == 2:
            draw.line((x1, y1, x2, y2), fill=color, width=rng.randrange(1, 6))
        else:
            pts = [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(rng.randrange(3, 6))]
            draw.polygon(pts, fill=color)


# -- watermarks ----------------------------------------------------------------------------------------

def _random_text(rng: random.Random) -> str:
    kind = rng.randrange(5)
    brand = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randrange(2, 4))).capitalize()
    if kind == 0:
        return rng.choice(_WORDS)
    if kind == 1:
        return f"\u00a9 {brand}"
    if kind == 2:
        return f"www.{brand.lower()}.{rng.choice(('com', 'net', 'io', 'org'))}"
    if kind == 3:
        return f"\u00a9 {rng.randrange(1990, 2030)} {brand} {rng.choice(_WORDS).title()}"
    return brand if rng.random() < 0.5 else brand.upper()


def _text_layer(rng: random.Random, fonts: list[str], size: int, color: tuple[int, int, int],
                variety: bool = False) -> Image.Image:
    font = _font(rng.choice(fonts), size)
    text = _random_text(rng)
    stroke = rng.choice((0, 0, 0, 1, 2)) if size > 14 else 0
    tracking = rng.uniform(-0.03, 0.3) * size if variety and len(text) > 1 and rng.random() < 0.3 else 0.0
    l, t, r, b = font.getbbox(text, stroke_width=stroke)
    if tracking:
        r += int(tracking * (len(text) - 1)) + 1
    layer = Image.new("RGBA", (r - l + 4, b - t + 4), (0, 0, 0, 0))
    stroke_fill = tuple(255 - c for c in color) if stroke else None
    draw = ImageDraw.Draw(layer)
    if tracking:  # letter-spaced: one character at a time
        x = 2 - l
        for ch in text:
            draw.text((x, 2 - t), ch, font=font, fill=color + (255,), stroke_width=stroke,
                      stroke_fill=stroke_fill)
            x += font.getlength(ch) + tracking
    else:
        draw.text((2 - l, 2 - t), text, font=font, fill=color + (255,), stroke_width=stroke,
                  stroke_fill=stroke_fill)
    if variety:
        layer = _restyle(rng, layer, size, color if not stroke else None)
    return layer


def _restyle(rng: random.Random, layer: Image.Image, size: int, color: tuple[int, int, int] | None
             ) -> Image.Image:
    """New letterforms from an installed font: wider or narrower, slanted, bolder or lighter.

    Training sees many more typefaces than are installed this way; the held-out sets never use it.
    ``color`` is the text's one colour (None when it has an outline: its weight is then left alone).
    """
    if rng.random() < 0.35:  # condensed or extended
        factor = math.exp(rng.uniform(math.log(0.7), math.log(1.45)))
        layer = layer.resize((max(2, round(layer.width * factor)), layer.height), Image.BICUBIC)
    if rng.random() < 0.3:  # a slant either way: output x = source x + shear * (height - y)
        shear = rng.uniform(-0.35, 0.35)
        h = layer.height
        extra = int(math.ceil(abs(shear) * h)) + 1
        layer = layer.transform((layer.width + extra, h), Image.AFFINE,
                                (1, shear, -shear * h if shear > 0 else 0.0, 0, 1, 0), resample=Image.BICUBIC)
    if color is not None and size >= 18 and rng.random() < 0.3:  # bolder or lighter strokes
        grow = rng.random() < 0.6
        k = 3 if size < 40 else 5
        alpha = layer.getchannel("A").filter(ImageFilter.MaxFilter(k) if grow else ImageFilter.MinFilter(k))
        if alpha.getbbox() is not None:
            solid = Image.new("RGBA", layer.size, color + (255,))
            solid.putalpha(alpha)
            layer = solid
    return layer


def _logo_layer(rng: random.Random, fonts: list[str], size: int, color: tuple[int, int, int]) -> Image.Image:
    s = max(16, size)
    layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    fill = color + (255,)
    kind = rng.randrange(4)
    width = max(2, s // 12)
    if kind == 0:
        draw.ellipse((1, 1, s - 2, s - 2), outline=fill, width=width)
    elif kind == 1:
        draw.rounded_rectangle((1, 1, s - 2, s - 2), radius=s // 5, outline=fill, width=width)
    elif kind == 2:
        cx = cy = s / 2
        pts = []
        for i in range(10):
            rad = (s / 2 - 1) * (1.0 if i % 2 == 0 else 0.45)
            ang = -math.pi / 2 + i * math.pi / 5
            pts.append((cx + rad * math.cos(ang), cy + rad * math.sin(ang)))
        draw.polygon(pts, fill=fill)
        return layer
    else:
        draw.polygon([(s / 2, 1), (s - 2, s - 2), (1, s - 2)], outline=fill, width=width)
    letters = "".join(rng.choice("ABCDEFGHKMNPRSTWXZ") for _ in range(rng.randrange(1, 3)))
    font = _font(rng.choice(fonts), max(8, int(s * 0.45)))
    draw.text((s / 2, s / 2), letters, font=font, fill=fill, anchor="mm")
    if rng.random() < 0.4:  # logo followed by a brand name, one watermark
        text = _text_layer(rng, fonts, max(8, int(s * rng.uniform(0.35, 0.6))), color)
        combo = Image.new("RGBA", (s + 4 + text.width, max(s, text.height)), (0, 0, 0, 0))
        combo.alpha_composite(layer, (0, (combo.height - s) // 2))
        combo.alpha_composite(text, (s + 4, (combo.height - text.height) // 2))
        return combo
    return layer


def _make_mark(rng: random.Random, fonts: list[str], canvas_side: int, canvas: Image.Image,
               variety: bool = False) -> Image.Image:
    """One watermark as an RGBA layer (alpha already scaled by its opacity).

    Like a person adding a watermark, white or black is usually picked to stand out from the image.
    """
    tone = rng.random()
    dark_image = float(np.asarray(canvas.convert("L").reduce(8)).mean()) < 110
    if tone < 0.75:
        contrasting = rng.random() < 0.85
        color = (255, 255, 255) if dark_image == contrasting else (0, 0, 0)
    elif tone < 0.85:
        g = rng.randrange(90, 200)
        color = (g, g, g)
    else:
        color = _rand_color(rng)
    # Floors keep marks legible: text at least ~4.5% of the image side (11 px at 256 px), logos 7%.
    # Smaller marks exist in the wild but are out of this detector's scope at its 256 px input.
    image_side = min(canvas.size)
    if rng.random() < 0.72:
        size = max(int(canvas_side * rng.uniform(0.045, 0.16)), int(image_side * 0.045), 9)
        layer = _text_layer(rng, fonts, size, color, variety)
    else:
        size = max(int(canvas_side * rng.uniform(0.08, 0.3)), int(image_side * 0.07))
        layer = _logo_layer(rng, fonts, size, color)
    opacity = rng.uniform(0.15, 0.8)
    alpha = np.asarray(layer.getchannel("A"), np.float32) * opacity
    layer.putalpha(Image.fromarray(alpha.astype(np.uint8)))
    return layer


def _rotate(layer: Image.Image, angle: float) -> Image.Image:
    return layer.rotate(angle, resample=Image.BICUBIC, expand=True) if angle else layer


def _paste(canvas: Image.Image, layer: Image.Image, x: int, y: int
           ) -> tuple[float, float, float, float] | None:
    """Composite ``layer`` at (x, y); return the box of its visible alpha, or None if barely visible."""
    alpha = np.asarray(layer.getchannel("A"))
    ys, xs = np.nonzero(alpha > 8)
    if len(xs) == 0:
        return None
    bx1, by1, bx2, by2 = xs.min() + x, ys.min() + y, xs.max() + 1 + x, ys.max() + 1 + y
    w, h = canvas.size
    cx1, cy1, cx2, cy2 = max(0, bx1), max(0, by1), min(w, bx2), min(h, by2)
    if cx2 - cx1 < 6 or cy2 - cy1 < 5:
        return None
    if (cx2 - cx1) * (cy2 - cy1) < 0.6 * (bx2 - bx1) * (by2 - by1):
        return None  # mostly outside: not placed
    if visibility(canvas, layer, x, y) < MIN_VISIBILITY:
        return None  # e.g. a faint dark mark on a dark area: nobody could see it, so it is not a label
    canvas.alpha_composite(layer, (x, y))
    return (float(cx1), float(cy1), float(cx2), float(cy2))


MIN_VISIBILITY = 10.0  # mean grey-level change under the mark's strokes


def visibility(canvas: Image.Image, layer: Image.Image, x: int, y: int) -> float:
    """How much compositing ``layer`` at (x, y) changes the luminance under its strokes (0-255)."""
    w, h = canvas.size
    x1, y1 = max(0, x), max(0, y)
    x2, y2 = min(w, x + layer.width), min(h, y + layer.height)
    if x2 <= x1 or y2 <= y1:
        return 0.0
    bg = np.asarray(canvas.crop((x1, y1, x2, y2)).convert("L"), np.float32)
    part = layer.crop((x1 - x, y1 - y, x2 - x, y2 - y))
    alpha = np.asarray(part.getchannel("A"), np.float32) / 255.0
    ink = np.asarray(part.convert("RGB").convert("L"), np.float32)
    strokes = alpha > 0.5 * max(float(alpha.max()), 1e-6)
    if not strokes.any():
        return 0.0
    return float((alpha * np.abs(ink - bg))[strokes].mean())


def add_watermarks(rng: random.Random, img: Image.Image, fonts: list[str], variety: bool = False
                   ) -> tuple[Image.Image, list]:
    """Watermarks on ``img`` in one of four layouts; ``variety`` restyles text marks (training only)."""
    w, h = img.size
    side = min(w, h)
    canvas = img.convert("RGBA")
    boxes: list[tuple[float, float, float, float]] = []
    layout = rng.choices(("center", "corner", "tiled", "scatter"), (3, 3, 2, 2))[0]
    if layout == "tiled":
        mark = _make_mark(rng, fonts, int(side * 0.7), canvas, variety)
        mark = _rotate(mark, rng.choice((0, rng.uniform(-45, 45))))
        gx = rng.uniform(1.15, 1.8) * mark.width
        gy = rng.uniform(1.3, 2.5) * mark.height
        ox, oy = rng.uniform(0, gx * 0.5), rng.uniform(0, gy * 0.5)
        y = oy
        row = 0
        while y + mark.height <= h:
            x = ox + (gx / 2 if row % 2 and rng.random() < 0.5 else 0)
            while x + mark.width <= w:
                box = _paste(canvas, mark, int(x), int(y))
                if box:
                    boxes.append(box)
                x += gx
            y += gy
            row += 1
    else:
        count = 1 if layout != "scatter" else rng.randrange(2, 4)
        for _ in range(count * 3):
            if len(boxes) >= count:
                break
            mark = _make_mark(rng, fonts, side if layout != "corner" else int(side * 0.6), canvas, variety)
            angle = 0.0
            if layout == "center" and rng.random() < 0.5:
                angle = rng.uniform(-50, 50)
            elif layout == "scatter" and rng.random() < 0.3:
                angle = rng.uniform(-30, 30)
            mark = _rotate(mark, angle)
            if mark.width >= w - 2 or mark.height >= h - 2:
                continue
            if layout == "corner":
                m = rng.randrange(2, max(3, int(side * 0.05)))
                x = m if rng.random() < 0.5 else w - mark.width - m
                y = m if rng.random() < 0.5 else h - mark.height - m
            elif layout == "center":
                x = (w - mark.width) // 2 + rng.randrange(-w // 10, w // 10 + 1)
                y = (h - mark.height) // 2 + rng.randrange(-h // 10, h // 10 + 1)
            else:
                x, y = rng.randrange(0, w - mark.width), rng.randrange(0, h - mark.height)
            cand = _box_of(mark, x, y)
            if any(_iou(cand, b) > 0.1 for b in boxes):
                continue
            box = _paste(canvas, mark, int(x), int(y))
            if box:
                boxes.append(box)
    return canvas.convert("RGB"), boxes


def _box_of(layer: Image.Image, x: int, y: int) -> tuple[float, float, float, float]:
    return (x, y, x + layer.width, y + layer.height)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _degrade(rng: random.Random, img: Image.Image) -> Image.Image:
    if rng.random() < 0.2:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    if rng.random() < 0.3:
        arr = np.asarray(img, np.float32)
        arr += np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(2, 10), arr.shape)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if rng.random() < 0.4:
        import io

        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randrange(40, 95))
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    return img


def make_sample(rng: random.Random, fonts: list[str], watermarked: bool, size: tuple[int, int] | None = None,
                variety: bool = False) -> Sample:
    """One image of ``size`` (random 180-400 px sides if None), with or without watermarks."""
    if size is None:
        side = rng.randrange(200, 400)
        aspect = rng.uniform(0.6, 1.6) if rng.random() < 0.5 else 1.0
        size = (int(side * min(1.0, aspect)), int(side * min(1.0, 1 / aspect)))
    w, h = size
    img = background(rng, w, h)
    boxes: list = []
    if watermarked:
        for _ in range(4):
            img2, boxes = add_watermarks(rng, img, fonts, variety)
            if boxes:
                img = img2
                break
    return Sample(_degrade(rng, img), boxes)


def make_set(seed: int, n_marked: int, n_clean: int, fonts: list[str], size: tuple[int, int] | None = None,
             variety: bool = False) -> list[Sample]:
    rng = random.Random(seed)
    out = [make_sample(rng, fonts, True, size, variety) for _ in range(n_marked)]
    out += [make_sample(rng, fonts, False, size) for _ in range(n_clean)]
    return out
