"""Sartiq's shot evaluation (``POST /api/v1/evaluation/``) and its health (``GET /api/v1/evaluation/health``).

What is measured, and how
-------------------------
One detector runs on the image: nudenet's 320n YOLOv8 model (``nudenet==3.4.2``; the ONNX weights ship inside
the wheel and run on onnxruntime; nothing is downloaded). It finds faces (FACE_FEMALE / FACE_MALE) and body
parts (armpits, breasts, belly, buttocks, genitalia, anus, feet; each covered or exposed) as scored boxes.
It sees 320x320, so an image more than 1.6 times as wide as tall (or the reverse) is also run in overlapping
squares (:func:`run_detector`), where the people of a group or of a collage's panels are not too small to
find. Everything below is derived from the boxes it keeps (score >= ``MIN_SCORE``):

* ``human_detected``: a face, or at least two different body parts. A single part alone is not enough: on
  photos without anyone the model now and then finds one part (a horse's hoof as feet).
  ``human_presence_confidence`` is the best kept score when a human is found, else 1 minus the highest score
  the model gave any part anywhere in the image.
* ``number_of_people``: the largest of the number of faces and, per body part, the number of its boxes (one
  per person: belly, genitalia, anus) or half of it rounded up (in pairs: feet, breasts, armpits, buttocks,
  which the model boxes one by one or as a pair). Bodies are not told apart by position, so two people
  whose parts go undetected count as fewer.
* ``detected_framing`` (enums.Framing), by the lowest part of the body in frame: feet -> full_body. Otherwise,
  with a face, the frame's extent below the top of the largest face in face heights (an adult is about 7.5
  heads tall: chest at 2, waist at 3, hips at 4, knees at 6): >= 6.5 full_body, >= 4.5 three_quarter,
  >= 2.75 half_body, else close_up; a detected part lower than that (hips -> three_quarter, belly ->
  half_body) widens it. Without a face, the lowest part decides (hips, belly, chest). It assumes an upright
  subject.
* ``detected_view_angle`` (enums.ViewAngle): parts seen only from the front (breasts, belly, genitalia) and
  only from behind (buttocks, anus). A face without back parts -> front; back parts together with a face or
  with front parts -> side (the body is turned); back parts alone -> back; front parts alone -> front;
  otherwise null.
* ``shot_type_confidence``: the mean score of the boxes that decided the framing and the view angle.
  ``matches_expected``: framing and view angle both equal the expected ones (false when no human is found,
  null when either cannot be told).
* ``detected_gender`` / ``gender_confidence``: the class and score of the largest face.
* ``collage_detected``: a straight seam or a blank gutter crossing the whole image between panels (numpy,
  :func:`collage_detected`). A straight edge that crosses the whole picture by itself (a wall corner, a door
  frame from border to border) counts as one too.
* ``confidence_summary``: the mean of the confidences given. ``evaluation_time_ms``: from the validated
  request to the result, loading the image included.

Not measured, so always null: ``anatomy_correct``, ``anatomy_issues``, ``anatomy_confidence`` (no anatomy
model), and the garment, subject and scene descriptions (no captioning model; ``include_descriptions`` does
not change that). ``custom_instructions`` are not read by a detector. A 200 is always ``success: true``; an
evaluation that fails on our side is a 503 ``{"detail"}`` (the seed: "HTTPException if evaluation fails or
service is unavailable").

Health and circuit breaker
--------------------------
Counters (evaluations, successes, summed time) and the breaker live in Django's cache, so every web process
sees the same ones where the cache is shared (Redis when REDIS_URL is set); with the local-memory cache of a
single development process they are that process's. They are not kept across a cache flush. Requests refused
for bad input (422) are not evaluations and do not count. After ``SARTIQ_EVALUATION_BREAKER_FAILURES``
failures in a row the breaker opens: POST answers 503 without running the detector. After
``SARTIQ_EVALUATION_BREAKER_COOLDOWN`` seconds it is half_open: one request at a time tries; a success closes
it, a failure opens it again.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from PIL import Image

from config.errors import CanvasflowError
from pipelines.nodes.base import NodeError
from runs import fetch
from runs.api.sartiq.enums import Framing, ViewAngle
from runs.api.sartiq.graphs import image_input, invalid
from runs.models import Artifact

log = logging.getLogger("canvasflow.sartiq.evaluation")

MIN_SCORE = 0.4
ANALYSIS_SIDE = 1024  # larger images are scaled down first (the detector sees 320x320 anyway)
TILE_ABOVE = 1.6  # images longer than this many times their width (or the reverse) are also seen in squares
MAX_TILES = 4  # a strip of an image is not searched square by square

# Body parts by height on an upright body: 0 face, 1 chest, 2 waist, 3 hips, 4 feet.
LEVEL = {
    "FACE": 0,
    "ARMPITS": 1,
    "FEMALE_BREAST": 1,
    "MALE_BREAST": 1,
    "BELLY": 2,
    "BUTTOCKS": 3,
    "FEMALE_GENITALIA": 3,
    "MALE_GENITALIA": 3,
    "ANUS": 3,
    "FEET": 4,
}
FRAMING_OF_LEVEL = {1: Framing.CLOSE_UP, 2: Framing.HALF_BODY, 3: Framing.THREE_QUARTER, 4: Framing.FULL_BODY}
WIDTH = [Framing.CLOSE_UP, Framing.HALF_BODY, Framing.THREE_QUARTER, Framing.FULL_BODY]
HEADS = [(6.5, Framing.FULL_BODY), (4.5, Framing.THREE_QUARTER), (2.75, Framing.HALF_BODY)]
ONE_PER_PERSON = ("FACE", "BELLY", "FEMALE_GENITALIA", "MALE_GENITALIA", "ANUS")
PAIRED = ("FEET", "FEMALE_BREAST", "MALE_BREAST", "ARMPITS", "BUTTOCKS")
FRONT_PARTS = {"FEMALE_BREAST", "MALE_BREAST", "BELLY", "FEMALE_GENITALIA", "MALE_GENITALIA"}
BACK_PARTS = {"BUTTOCKS", "ANUS"}


class EvaluatorUnavailable(CanvasflowError):
    status, code = 503, "EVALUATOR_UNAVAILABLE"


@dataclass(frozen=True)
class Box:
    label: str  # the detector's class, e.g. FACE_FEMALE, FEET_COVERED
    score: float
    x: float
    y: float
    w: float
    h: float

    @property
    def part(self) -> str:
        if self.label.startswith("FACE_"):
            return "FACE"
        return self.label.rsplit("_", 1)[0]  # FEET_COVERED -> FEET

    @property
    def area(self) -> float:
        return self.w * self.h


# -- the detector ----------------------------------------------------------------------------------------

_detector: Any = None
_detector_lock = threading.Lock()


def detector() -> Any:
    """nudenet's detector, loaded once per process on first use (its ONNX session is safe to share)."""
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                from nudenet import NudeDetector

                _detector = NudeDetector()
    return _detector


def detector_installed() -> bool:
    return importlib.util.find_spec("nudenet") is not None


def detect_once(image: Image.Image) -> tuple[list[Box], float]:
    """(every box nudenet keeps, the highest part score anywhere in the image).

    NudeDetector.detect does the same three steps but throws the raw scores away; the highest of them is the
    evidence against a human when nothing is kept. The module's helpers are those of the pinned 3.4.2."""
    from nudenet import nudenet

    model = detector()
    rgba = np.asarray(image.convert("RGBA"))  # nudenet converts RGBA to its BGR input
    blob, x_ratio, y_ratio, x_pad, y_pad, width, height = nudenet._read_image(rgba, model.input_width)
    outputs = model.onnx_session.run(None, {model.input_name: blob})
    top = float(np.max(outputs[0][0, 4:, :]))  # (1, 4 + classes, anchors)
    found = nudenet._postprocess(
        outputs, x_pad, y_pad, x_ratio, y_ratio, width, height, model.input_width, model.input_height
    )
    return [Box(d["class"], float(d["score"]), *map(float, d["box"])) for d in found], top


def overlap(a: Box, b: Box) -> float:
    """The share of the smaller box that the two boxes have in common."""
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return max(w, 0) * max(h, 0) / max(min(a.area, b.area), 1.0)


def run_detector(image: Image.Image) -> tuple[list[Box], float]:
    """The detector over the image. It sees 320x320, so a wide (or tall) image, where people are small (a
    group, a collage of panels), is also seen in overlapping squares along its long side; a part found twice
    is kept once, with its best score."""
    boxes, top = detect_once(image)
    short, long = sorted(image.size)
    if long / short <= TILE_ABOVE:
        return boxes, top
    count = min(long // short + 1, MAX_TILES)
    for i in range(count):
        offset = round(i * (long - short) / (count - 1))
        wide = image.width > image.height
        tile = image.crop((offset, 0, offset + short, short) if wide else (0, offset, short, offset + short))
        found, tile_top = detect_once(tile)
        top = max(top, tile_top)
        for b in found:
            boxes.append(Box(b.label, b.score, b.x + offset * wide, b.y + offset * (not wide), b.w, b.h))
    kept: list[Box] = []
    for b in sorted(boxes, key=lambda b: -b.score):
        if not any(k.part == b.part and overlap(k, b) > 0.5 for k in kept):
            kept.append(b)
    return kept, top


# -- from boxes to a shot ----------------------------------------------------------------------------------


def people(boxes: list[Box]) -> int:
    counts: dict[str, int] = {}
    for box in boxes:
        counts[box.part] = counts.get(box.part, 0) + 1
    return max([counts.get(p, 0) for p in ONE_PER_PERSON] + [math.ceil(counts.get(p, 0) / 2) for p in PAIRED])


def framing(boxes: list[Box], height: int) -> tuple[Framing | None, list[Box]]:
    """The framing and the boxes that decided it."""
    feet = [b for b in boxes if b.part == "FEET"]
    if feet:
        return Framing.FULL_BODY, [max(feet, key=lambda b: b.score)]
    parts = [b for b in boxes if b.part != "FACE"]
    lowest = max(parts, key=lambda b: (LEVEL[b.part], b.score), default=None)
    by_parts = FRAMING_OF_LEVEL[LEVEL[lowest.part]] if lowest else None
    faces = [b for b in boxes if b.part == "FACE"]
    if not faces:
        return by_parts, [lowest] if lowest else []
    face = max(faces, key=lambda b: b.area)
    heads = (height - face.y) / max(face.h, 1.0)
    by_face = next((f for limit, f in HEADS if heads >= limit), Framing.CLOSE_UP)
    if by_parts and WIDTH.index(by_parts) > WIDTH.index(by_face):
        return by_parts, [face, lowest]
    return by_face, [face]


def view_angle(boxes: list[Box]) -> tuple[ViewAngle | None, list[Box]]:
    faces = [b for b in boxes if b.part == "FACE"]
    front = [b for b in boxes if b.part in FRONT_PARTS]
    back = [b for b in boxes if b.part in BACK_PARTS]
    if back and (faces or front):
        return ViewAngle.SIDE, [max(back, key=lambda b: b.score), max(faces or front, key=lambda b: b.score)]
    if back:
        return ViewAngle.BACK, [max(back, key=lambda b: b.score)]
    if faces or front:
        return ViewAngle.FRONT, [max(faces or front, key=lambda b: b.score)]
    return None, []


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def analyse(boxes: list[Box], top_score: float, height: int, expected: Any) -> dict[str, Any]:
    """The response fields measured from the detector's boxes (``expected``: the request)."""
    kept = [b for b in boxes if b.score >= MIN_SCORE]
    faces = [b for b in kept if b.part == "FACE"]
    human = bool(faces) or len({b.part for b in kept}) >= 2
    result: dict[str, Any] = {
        "human_detected": human,
        "number_of_people": people(kept) if human else 0,
        "human_presence_confidence": max(b.score for b in kept) if human else 1.0 - min(top_score, 1.0),
    }
    if not human:
        result["matches_expected"] = False
        return result
    shot, framing_boxes = framing(kept, height)
    angle, angle_boxes = view_angle(kept)
    deciding = {id(b): b for b in framing_boxes + angle_boxes}
    result["detected_framing"] = shot.value if shot else None
    result["detected_view_angle"] = angle.value if angle else None
    result["shot_type_confidence"] = mean([b.score for b in deciding.values()])
    if shot and angle:
        result["matches_expected"] = (
            shot.value == expected.expected_framing and angle.value == expected.expected_view_angle
        )
    if faces:
        face = max(faces, key=lambda b: b.area)
        result["detected_gender"] = "FEMALE" if face.label == "FACE_FEMALE" else "MALE"
        result["gender_confidence"] = face.score
    return result


# -- collage -------------------------------------------------------------------------------------------------

COLLAGE_SIDE = 512
EDGE = 16.0  # a step of this many levels (0-255, any channel) between two columns is an edge
MARGIN = 0.08  # seams this close to a border are frames, not panels
GUTTER_SPREAD = 12.0  # a gutter's colour varies less than this along its length


def collage_detected(image: Image.Image) -> bool:
    """A straight seam or gutter across the whole image, vertical or horizontal, between panels.

    A seam: a column where most rows (>= 75%, and >= 25% in each eighth of its length) step by more than
    ``EDGE`` from two columns to the left to two to the right, while the columns around it mostly do not (so
    a textured area is no seam), and the step is still there five columns away on either side (so a thin
    line inside one picture is none). A gutter: a band of near-constant colour, 2 px to 6% of the width,
    crossing the whole image, with busy content on both sides."""
    small = image.convert("RGB")
    small.thumbnail((COLLAGE_SIDE, COLLAGE_SIDE))
    pixels = np.asarray(small, dtype=np.float32)
    return _has_seam(pixels) or _has_seam(pixels.transpose(1, 0, 2))


def _has_seam(a: np.ndarray) -> bool:
    height, width, _ = a.shape
    if width < 40 or height < 16:
        return False
    edge = np.abs(a[:, 2:] - a[:, :-2]).max(axis=2) > EDGE  # edge[:, x] is the step at column x + 1
    share = edge.mean(axis=0)
    worst_part = np.stack([part.mean(axis=0) for part in np.array_split(edge, 8, axis=0)]).min(axis=0)
    for x in range(max(int(width * MARGIN), 14), min(int(width * (1 - MARGIN)), width - 16)):
        if share[x] < 0.75 or worst_part[x] < 0.25:
            continue
        around = np.concatenate([share[x - 12 : x - 3], share[x + 4 : x + 13]])
        if np.median(around) > 0.35 * share[x]:
            continue
        step = (np.abs(a[:, x - 4] - a[:, x + 6]).max(axis=1) > EDGE).mean()
        if step >= 0.5 * share[x]:
            return True
    spread = (a.max(axis=0) - a.min(axis=0)).max(axis=1)
    flat = spread <= GUTTER_SPREAD
    x = 0
    while x < width:
        if not flat[x]:
            x += 1
            continue
        start = x
        while x < width and flat[x]:
            x += 1
        if (
            start > width * MARGIN
            and x < width * (1 - MARGIN)
            and 2 <= x - start <= 0.06 * width
            and spread[start - 2] > 4 * GUTTER_SPREAD
            and spread[x + 1] > 4 * GUTTER_SPREAD
        ):
            return True
    return False


# -- the image --------------------------------------------------------------------------------------------


def load_image(user: Any, body: Any) -> Image.Image:
    """The request's image, in RGB: a data URL or bare base64 in ``image_data``; a public http(s) URL (fetched
    through runs.fetch: public addresses only, size, pixel and time limits) or one of the caller's own ``art_``
    uploads in ``image_url``. Any problem with it is a 422 on that field."""
    field = "image_data" if body.image_data else "image_url"
    value = (body.image_data or body.image_url).strip()
    try:
        return _read(user, field, value).convert("RGB")
    except NodeError as exc:
        raise invalid(["body", field], exc.message) from None
    except (OSError, ValueError):  # a stored upload gone missing, a mode Pillow cannot convert
        raise invalid(["body", field], "The image could not be read") from None


def _read(user: Any, field: str, value: str) -> Image.Image:
    if field == "image_data":
        if value.startswith(("http://", "https://", "art_")):
            raise invalid(["body", field], "Input should be a data URL (data:image/...) or base64")
        return fetch.decode_data_uri(image_input(field, value)).image
    if value.startswith("art_"):
        artifact = Artifact.objects.filter(pk=value, owner=user).first()
        if artifact is None:
            raise invalid(["body", field], f"Image {value} not found")
        with artifact.file.open("rb") as fh:
            return fetch.decode_image(fh.read(), source=value).image
    if not value.startswith(("http://", "https://")):
        raise invalid(["body", field], "Input should be an http(s) URL or one of your art_ upload ids")
    return fetch.fetch_image(value).image


# -- counters and circuit breaker -----------------------------------------------------------------------------

KEY = "sartiq:evaluation:"
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


def breaker_failures() -> int:
    return int(getattr(settings, "SARTIQ_EVALUATION_BREAKER_FAILURES", 5))


def breaker_cooldown() -> float:
    return float(getattr(settings, "SARTIQ_EVALUATION_BREAKER_COOLDOWN", 30))


def _incr(name: str, by: int = 1) -> int:
    cache.add(KEY + name, 0, timeout=None)
    try:
        return cache.incr(KEY + name, by)
    except ValueError:  # evicted between the two calls
        cache.set(KEY + name, by, timeout=None)
        return by


def breaker_state() -> str:
    opened_at = cache.get(KEY + "opened_at")
    if opened_at is None:
        return CLOSED
    return OPEN if time.time() - opened_at < breaker_cooldown() else HALF_OPEN


def _admit() -> bool:
    """Whether a request may run the detector now; True when it is the half-open trial."""
    state = breaker_state()
    if state == OPEN or (state == HALF_OPEN and not cache.add(KEY + "trial", 1, timeout=breaker_cooldown())):
        wait = max(1, math.ceil(breaker_cooldown() - (time.time() - (cache.get(KEY + "opened_at") or 0))))
        raise EvaluatorUnavailable(
            f"The evaluator is unavailable after repeated failures (circuit breaker {state}); "
            f"retry in {wait} s"
        )
    return state == HALF_OPEN


def _record(ok: bool, seconds: float, trial: bool) -> None:
    _incr("total")
    _incr("time_us", int(seconds * 1_000_000))
    if ok:
        _incr("succeeded")
        cache.set(KEY + "failures_in_a_row", 0, timeout=None)
        cache.delete_many([KEY + "opened_at", KEY + "trial"])
        return
    in_a_row = _incr("failures_in_a_row")
    if trial or in_a_row >= breaker_failures():
        cache.set(KEY + "opened_at", time.time(), timeout=None)
    cache.delete(KEY + "trial")


def health() -> dict[str, Any]:
    values = cache.get_many([KEY + n for n in ("total", "succeeded", "time_us")])
    total = int(values.get(KEY + "total", 0))
    succeeded = int(values.get(KEY + "succeeded", 0))
    rate = succeeded / total if total else 1.0  # no evaluation has failed yet
    state = breaker_state()
    installed = detector_installed()
    score = 0.0 if state == OPEN or not installed else rate * (0.5 if state == HALF_OPEN else 1.0)
    return {
        "is_healthy": installed and state != OPEN and score >= 0.5,
        "health_score": round(score, 4),
        "total_evaluations": total,
        "success_rate": round(rate, 4),
        "average_response_time": int(values.get(KEY + "time_us", 0)) / 1_000_000 / total if total else 0.0,
        "circuit_breaker_state": state,
    }


# -- the evaluation -----------------------------------------------------------------------------------------


def evaluate(user: Any, body: Any) -> dict[str, Any]:
    """Evaluate the request's image; a 422 for an image that cannot be read, a 503 when the detector fails or
    the breaker is open."""
    trial = _admit()
    started = time.perf_counter()
    try:
        image = load_image(user, body)
    except BaseException:
        if trial:
            cache.delete(KEY + "trial")  # not the detector's failure: let the next request try
        raise
    image.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE))
    try:
        boxes, top_score = run_detector(image)
        result = analyse(boxes, top_score, image.height, body)
        result["collage_detected"] = collage_detected(image)
    except Exception as exc:
        log.exception("evaluation failed")
        _record(False, time.perf_counter() - started, trial)
        raise EvaluatorUnavailable(f"Evaluation failed: {exc.__class__.__name__}") from exc
    seconds = time.perf_counter() - started
    _record(True, seconds, trial)
    confidences = [
        result.get(k) for k in ("shot_type_confidence", "human_presence_confidence", "gender_confidence")
    ]
    result.update(
        success=True,
        evaluation_time_ms=round(seconds * 1000, 2),
        confidence_summary=mean([c for c in confidences if c is not None]),
    )
    return result
