"""REFINE with upscaling on our Real-ESRGAN engine (IMAGE__UPSCALE), through the task routes."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from runs.api.sartiq import graphs
from tests.sartiq.conftest import data_url, png

pytestmark = pytest.mark.django_db
FAST = {"upscale_model": "realesr-animevideov3"}  # the small network: seconds on a CPU


@pytest.fixture(scope="module")
def upscale_weights():
    pytest.importorskip("torch")
    from pipelines.ml import upscale_models

    return upscale_models.ensure_converted()


def refine(**overrides) -> dict:
    body = {
        "task_type": "REFINE",
        "origin_instance": "tests",
        "base_image_url": data_url(png((24, 16))),
        "upscale_enabled": True,
        "upscale_factor": 2,
        "upscale_steps": 20,
        "upscale_denoise": 0.3,
        "face_detail_enabled": False,
        "face_detail_steps": 20,
        "face_detail_denoise": 0.3,
        "config": FAST,
    }
    body.update(overrides)
    return body


def result_size(body) -> tuple[int, int]:
    with default_storage.open(body["result_image_path"]) as fh:
        return Image.open(fh).size


@pytest.mark.parametrize(
    ("overrides", "size"),
    [
        ({"upscale_factor": 2}, (48, 32)),
        ({"upscale_factor": 1.5}, (36, 24)),
        ({"upscale_factor": None, "target_width": 50, "target_height": 30}, (50, 30)),
    ],
)
def test_refine_upscales_through_the_engine(sartiq, upscale_weights, overrides, size):
    resp = sartiq.post("/api/v1/tasks/", refine(**overrides), format="json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["task_type"] == "REFINE" and body["status"] == "COMPLETED", body
    assert result_size(body) == size
    assert (body["upscale_seed"], body["face_detail_seed"], body["upscale_steps"]) == (0, 0, 20)
    assert body["fal_app_id"] is None and body["fal_request_id"] is None
    assert body["upscale_factor"] == overrides.get("upscale_factor", 2)


def test_upscale_factors_map_to_real_esrgan_passes():
    def steps(factor):
        return [(t, p.get("scale", p.get("factor"))) for t, p in graphs.upscale_steps(factor, {})]

    assert steps(4.0) == [("IMAGE__UPSCALE", 4)]
    assert steps(8.0) == [("IMAGE__UPSCALE", 4), ("IMAGE__UPSCALE", 2)]
    assert steps(2.5) == [("IMAGE__UPSCALE", 3), ("IMAGE__SCALE", 0.833333)]
    assert steps(6.0) == [("IMAGE__UPSCALE", 4), ("IMAGE__UPSCALE", 2), ("IMAGE__SCALE", 0.75)]


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"upscale_factor": 0.5}, ["body", "upscale_factor"]),
        ({"upscale_factor": 9}, ["body", "upscale_factor"]),
        ({"upscale_factor": None}, ["body"]),
        ({"target_width": 10}, ["body"]),
        ({"upscale_factor": None, "target_width": 10**6, "target_height": 10}, ["body", "target_width"]),
        ({"config": {"upscale_model": "nope"}}, ["body", "config", "upscale_model"]),
        ({"upscale_steps": None}, ["body", "upscale_steps"]),
        ({"face_detail_enabled": "maybe"}, ["body", "face_detail_enabled"]),
    ],
)
def test_refine_input_errors_are_422(sartiq, overrides, loc):
    resp = sartiq.post("/api/v1/tasks/", refine(**overrides), format="json")
    assert resp.status_code == 422, resp.content
    assert resp.json()["detail"][0]["loc"] == loc


def test_face_details_need_a_face_model_so_are_501(sartiq):
    resp = sartiq.post("/api/v1/tasks/", refine(face_detail_enabled=True), format="json")
    assert resp.status_code == 501 and set(resp.json()) == {"detail"}
