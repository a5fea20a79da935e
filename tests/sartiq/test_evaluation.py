"""Sartiq's evaluation routes: shot analysis of real photos (scikit-image ships them) and of images made here,
every response field, FastAPI's error shapes, images by data URL, by URL through the safe fetcher and by art_
id, auth, the health counters and the circuit breaker."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from PIL import Image, ImageOps
from rest_framework.test import APIClient
from skimage import data as photos

from accounts import keys
from accounts.models import ApiKeyKind
from pipelines.nodes.base import ImageValue
from runs import artifacts
from runs.api.sartiq import evaluation
from runs.api.sartiq.evaluation import Box
from tests.runs.conftest import ImageServer
from tests.sartiq.conftest import data_url, png

pytestmark = pytest.mark.django_db
URL = "/api/v1/evaluation/"
HEALTH = "/api/v1/evaluation/health"
FIELDS = {
    "success",
    "detected_framing",
    "detected_view_angle",
    "shot_type_confidence",
    "matches_expected",
    "human_detected",
    "number_of_people",
    "human_presence_confidence",
    "anatomy_correct",
    "anatomy_issues",
    "anatomy_confidence",
    "detected_gender",
    "gender_confidence",
    "garment_description",
    "subject_description",
    "scene_description",
    "collage_detected",
    "error",
    "evaluation_time_ms",
    "confidence_summary",
}
NEVER_MEASURED = (
    "anatomy_correct",
    "anatomy_issues",
    "anatomy_confidence",
    "garment_description",
    "subject_description",
    "scene_description",
    "error",
)


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(photos, name)()).convert("RGB")


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    right = right.resize(left.size)
    both = Image.new("RGB", (left.width * 2, left.height))
    both.paste(left, (0, 0))
    both.paste(right, (left.width, 0))
    return both


def body(image: bytes | None = None, **overrides) -> dict:
    request = {
        "image_data": data_url(image if image is not None else png()),
        "expected_framing": "full_body",
        "expected_view_angle": "front",
    }
    request.update(overrides)
    return request


def evaluate(client, request: dict, query: str = ""):
    return client.post(URL + query, request, format="json")


def ok(client, request: dict) -> dict:
    resp = evaluate(client, request)
    assert resp.status_code == 200, resp.content
    result = resp.json()
    assert set(result) == FIELDS and result["success"] is True
    for name in NEVER_MEASURED:
        assert result[name] is None, name
    assert 0 < result["evaluation_time_ms"] < 60_000
    return result


def summary_of(result: dict) -> float:
    given = [
        result[k]
        for k in (
            "shot_type_confidence",
            "human_presence_confidence",
            "gender_confidence",
            "anatomy_confidence",
        )
        if result[k] is not None
    ]
    return sum(given) / len(given)


# -- shot analysis on real photos --------------------------------------------------------------------------


def test_a_womans_portrait_front_waist_up(sartiq):
    """scikit-image's astronaut: Eileen Collins, facing the camera, in frame to the waist."""
    result = ok(
        sartiq,
        body(encoded(photo("astronaut"), "JPEG"), expected_framing="half_body", include_descriptions=True),
    )
    assert result["human_detected"] is True and result["number_of_people"] == 1
    assert result["human_presence_confidence"] > 0.6
    assert result["detected_gender"] == "FEMALE" and result["gender_confidence"] > 0.6
    assert result["detected_framing"] == "half_body" and result["detected_view_angle"] == "front"
    assert 0.6 < result["shot_type_confidence"] <= 1 and result["matches_expected"] is True
    assert result["collage_detected"] is False
    assert result["confidence_summary"] == pytest.approx(summary_of(result))


def test_a_man_to_the_knees_does_not_match_full_body(sartiq):
    """scikit-image's cameraman: a man behind his camera, in frame to about the knees."""
    result = ok(sartiq, body(encoded(photo("camera")), expected_gender="MALE"))
    assert result["human_detected"] is True and result["number_of_people"] == 1
    assert result["detected_gender"] == "MALE" and 0 < result["gender_confidence"] <= 1
    assert result["detected_framing"] == "three_quarter" and result["detected_view_angle"] == "front"
    assert result["matches_expected"] is False
    assert result["collage_detected"] is False


def test_an_empty_image_has_no_human(sartiq):
    sixteen_bit = encoded(Image.new("I;16", (64, 48)), "TIFF")
    for image in (png(subject=False), png((300, 200)), encoded(photo("rocket"), "JPEG"), sixteen_bit):
        result = ok(sartiq, body(image))
        assert result["human_detected"] is False and result["number_of_people"] == 0
        assert result["human_presence_confidence"] > 0.5
        for name in ("detected_framing", "detected_view_angle", "shot_type_confidence", "detected_gender"):
            assert result[name] is None, name
        assert result["gender_confidence"] is None and result["matches_expected"] is False
        assert result["confidence_summary"] == pytest.approx(result["human_presence_confidence"])


def test_two_photos_side_by_side_are_a_collage_of_two_people(sartiq):
    result = ok(sartiq, body(encoded(side_by_side(photo("astronaut"), photo("camera")))))
    assert result["collage_detected"] is True
    assert result["human_detected"] is True and result["number_of_people"] == 2


def test_collage_check_on_panels_and_single_pictures():
    coffee, cat, rocket = photo("coffee"), photo("chelsea"), photo("rocket")
    assert evaluation.collage_detected(side_by_side(coffee, cat))
    stacked = side_by_side(coffee, rocket).transpose(Image.Transpose.ROTATE_90)  # panels one above the other
    assert evaluation.collage_detected(stacked)
    grid = Image.new("RGB", (512, 512))
    for i, picture in enumerate((coffee, cat, rocket, photo("astronaut"))):
        grid.paste(picture.resize((256, 256)), ((i % 2) * 256, (i // 2) * 256))
    assert evaluation.collage_detected(Image.open(io.BytesIO(encoded(grid, "JPEG"))))
    gutter = Image.new("RGB", (1044, 400), "white")  # two panels with a white gutter between them
    gutter.paste(coffee.resize((512, 400)), (0, 0))
    gutter.paste(rocket.resize((512, 400)), (532, 0))
    assert evaluation.collage_detected(gutter)
    for single in (coffee, cat, rocket, photo("astronaut"), photo("camera"), photo("grass")):
        assert not evaluation.collage_detected(single)
    assert not evaluation.collage_detected(ImageOps.expand(coffee, 20, "white"))  # a frame is no panel
    assert not evaluation.collage_detected(Image.open(io.BytesIO(png((300, 200)))))


@pytest.mark.slow
def test_photos_without_people(sartiq):
    """Bounded: six photos of things, each evaluated once; none has a human or a collage."""
    timings = []
    for name in ("coffee", "chelsea", "rocket", "coins", "hubble_deep_field", "horse"):
        result = ok(sartiq, body(encoded(photo(name), "JPEG")))
        assert result["human_detected"] is False, name
        assert result["collage_detected"] is False, name
        timings.append(result["evaluation_time_ms"])
    assert max(timings) < 10_000


# -- the rules from boxes to a shot (no detector) ---------------------------------------------------------


class Expected:
    expected_framing, expected_view_angle = "full_body", "back"


def box(label: str, score: float = 0.8, y: float = 0, h: float = 50, x: float = 0, w: float = 50) -> Box:
    return Box(label, score, x, y, w, h)


def test_rules_framing_view_angle_and_people():
    back_full = evaluation.analyse([box("BUTTOCKS_COVERED"), box("FEET_COVERED", 0.6)], 0.8, 1000, Expected)
    assert back_full["detected_framing"] == "full_body" and back_full["detected_view_angle"] == "back"
    assert back_full["matches_expected"] is True and back_full["number_of_people"] == 1
    assert back_full["shot_type_confidence"] == pytest.approx(0.7)
    assert "detected_gender" not in back_full  # no face: left null

    turned = evaluation.analyse([box("FACE_FEMALE", y=0, h=100), box("BUTTOCKS_EXPOSED")], 0.8, 500, Expected)
    assert turned["detected_view_angle"] == "side" and turned["detected_framing"] == "three_quarter"

    close = evaluation.analyse([box("FACE_MALE", 0.9, y=50, h=200)], 0.9, 500, Expected)
    assert close["detected_framing"] == "close_up" and close["detected_view_angle"] == "front"
    assert close["detected_gender"] == "MALE" and close["gender_confidence"] == 0.9
    tall = evaluation.analyse([box("FACE_FEMALE", y=10, h=40)], 0.9, 1000, Expected)
    assert tall["detected_framing"] == "full_body"  # the frame reaches 24 face heights below the face
    torso = evaluation.analyse([box("BELLY_COVERED"), box("FEMALE_BREAST_COVERED")], 0.8, 500, Expected)
    assert torso["detected_framing"] == "half_body" and torso["detected_view_angle"] == "front"

    crowd = [box("FACE_FEMALE"), box("FACE_MALE"), *[box("FEET_COVERED") for _ in range(5)]]
    assert evaluation.analyse(crowd, 0.8, 500, Expected)["number_of_people"] == 3
    assert evaluation.people([box("FEET_EXPOSED"), box("FEET_EXPOSED"), box("BELLY_COVERED")]) == 1

    lone = evaluation.analyse([box("FEET_COVERED", 0.64)], 0.64, 500, Expected)  # one part is not a person
    assert lone["human_detected"] is False and lone["human_presence_confidence"] == pytest.approx(0.36)
    weak = evaluation.analyse([box("FACE_FEMALE", 0.3)], 0.3, 500, Expected)
    assert weak["human_detected"] is False and weak["number_of_people"] == 0


# -- images by URL and by upload ----------------------------------------------------------------------------


def test_image_url_through_the_safe_fetcher(sartiq, settings):
    server = ImageServer()
    try:
        url = server.add_image("/portrait.jpg", encoded(photo("astronaut"), "JPEG"))
        result = ok(sartiq, body(image_data=None, image_url=url))
        assert result["detected_gender"] == "FEMALE" and server.hits == ["/portrait.jpg"]
        settings.FETCH_ALLOW_LOOPBACK = False  # production: loopback is a private address
        resp = evaluate(sartiq, body(image_data=None, image_url=url))
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "image_url"]
        assert server.hits == ["/portrait.jpg"]
        settings.FETCH_ALLOW_LOOPBACK = True
        missing = evaluate(sartiq, body(image_data=None, image_url=server.url("/nothing.png")))
        assert missing.status_code == 422 and "404" in missing.json()["detail"][0]["msg"]
    finally:
        server.close()
    for private in ("http://10.0.0.7/a.png", "http://169.254.169.254/latest/meta-data", "http://[::1]/a.png"):
        settings.FETCH_ALLOW_LOOPBACK = False
        resp = evaluate(sartiq, body(image_data=None, image_url=private))
        assert resp.status_code == 422, private
        assert resp.json()["detail"][0]["loc"] == ["body", "image_url"]
        assert "not a public address" in resp.json()["detail"][0]["msg"]
    for bad in ("file:///etc/passwd", "/etc/passwd", "ftp://example.com/a.png"):
        resp = evaluate(sartiq, body(image_data=None, image_url=bad))
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "image_url"]


def test_an_art_id_of_the_caller_only(sartiq, other, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    value = ImageValue(image=photo("camera"), format="PNG", metadata={}, source="test")
    art = artifacts.store_image(sartiq.user, value)
    result = ok(sartiq, body(image_data=None, image_url=art.id))
    assert result["detected_gender"] == "MALE"
    resp = evaluate(other, body(image_data=None, image_url=art.id))
    assert resp.status_code == 422
    assert resp.json()["detail"] == [
        {"loc": ["body", "image_url"], "msg": f"Image {art.id} not found", "type": "value_error"}
    ]
    art.file.storage.delete(art.file.name)  # the upload's file is gone: still the caller's input error
    resp = evaluate(sartiq, body(image_data=None, image_url=art.id))
    assert resp.status_code == 422 and resp.json()["detail"][0]["msg"] == "The image could not be read"


# -- bad input --------------------------------------------------------------------------------------------


def test_validation_errors_are_fastapis(sartiq):
    def errors(request, query=""):
        resp = evaluate(sartiq, request, query)
        assert resp.status_code == 422, resp.content
        detail = resp.json()["detail"]
        assert isinstance(detail, list) and all(set(e) == {"loc", "msg", "type"} for e in detail)
        return detail

    missing = errors({"image_data": data_url(png())})
    assert {tuple(e["loc"]) for e in missing} == {
        ("body", "expected_framing"),
        ("body", "expected_view_angle"),
    }
    assert {e["type"] for e in missing} == {"missing"}
    wrong = errors(body(expected_framing="wide", expected_view_angle="top", expected_gender="X"))
    assert {tuple(e["loc"]) for e in wrong} == {
        ("body", "expected_framing"),
        ("body", "expected_view_angle"),
        ("body", "expected_gender"),
    }
    assert all(e["type"] == "enum" for e in wrong)
    neither = errors(body(image_data=None))
    assert neither[0]["loc"] == ["body"] and "image_data or image_url" in neither[0]["msg"]
    assert errors(body(image_data="", image_url=""))[0]["loc"] == ["body"]
    assert "not both" in errors(body(image_url="https://example.com/a.png"))[0]["msg"]
    assert errors(body(include_descriptions="maybe"))[0]["loc"] == ["body", "include_descriptions"]
    assert errors(body(), "?provider=openai")[0]["loc"] == ["query", "provider"]
    for unreadable in ("data:image/png;base64,not base64!", data_url(b"not an image at all"), "%%%"):
        detail = errors(body(image_data=unreadable))
        assert detail[0]["loc"] == ["body", "image_data"], unreadable
    assert errors(body(image_data="https://example.com/a.png"))[0]["loc"] == ["body", "image_data"]
    assert errors(body(image_data=data_url(png()[:60])))[0]["loc"] == ["body", "image_data"]  # truncated


def test_malformed_json_and_bodies_that_are_not_objects(sartiq):
    resp = sartiq.post(URL, '{"expected_framing": ', content_type="application/json")
    assert resp.status_code == 422
    (error,) = resp.json()["detail"]
    assert error["type"] == "json_invalid" and error["loc"][0] == "body"
    for raw in ("[]", '"x"', ""):
        resp = sartiq.post(URL, raw, content_type="application/json")
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body"]


def test_the_paths_answer_without_redirects(sartiq):
    assert evaluate(sartiq, body(), "?provider=local").status_code == 200
    assert sartiq.post("/api/v1/evaluation", body(), format="json").status_code == 200
    assert (
        sartiq.get(HEALTH + "/").status_code == 200
        and sartiq.get(HEALTH + "?provider=local").status_code == 200
    )
    resp = sartiq.get("/api/v1/evaluation/nothing")
    assert resp.status_code == 404 and resp.json() == {"detail": "Not Found"}
    resp = sartiq.get(URL)
    assert resp.status_code == 405 and resp.json() == {"detail": "Method Not Allowed"}


# -- auth ---------------------------------------------------------------------------------------------------


def test_auth_like_every_sartiq_route(sartiq):
    for method, path in (("post", URL), ("get", HEALTH)):
        resp = getattr(APIClient(), method)(path, body(), format="json")
        assert resp.status_code == 401 and resp.json() == {"detail": "Not authenticated"}
        bad = APIClient()
        bad.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
        assert getattr(bad, method)(path, body(), format="json").status_code == 401
    with_scope = keys.create_api_key(sartiq.user, "sartiq", ApiKeyKind.QUEUE, scopes=["sartiq"]).raw
    without = keys.create_api_key(sartiq.user, "queue", ApiKeyKind.QUEUE).raw
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {with_scope}")
    assert evaluate(client, body()).status_code == 200 and client.get(HEALTH).status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {without}")
    for resp in (evaluate(client, body()), client.get(HEALTH)):
        assert resp.status_code == 403 and set(resp.json()) == {"detail"}


# -- health and the circuit breaker ----------------------------------------------------------------------------


def health(client) -> dict:
    resp = client.get(HEALTH)
    assert resp.status_code == 200
    result = resp.json()
    assert set(result) == {
        "is_healthy",
        "health_score",
        "total_evaluations",
        "success_rate",
        "average_response_time",
        "circuit_breaker_state",
    }
    return result


def test_health_counts_evaluations(sartiq):
    assert health(sartiq) == {
        "is_healthy": True,
        "health_score": 1.0,
        "total_evaluations": 0,
        "success_rate": 1.0,
        "average_response_time": 0.0,
        "circuit_breaker_state": "closed",
    }
    times = [ok(sartiq, body())["evaluation_time_ms"] for _ in range(2)]
    assert evaluate(sartiq, body(image_data=None)).status_code == 422  # bad input is no evaluation
    now = health(sartiq)
    assert now["total_evaluations"] == 2 and now["success_rate"] == 1.0 and now["is_healthy"] is True
    assert now["average_response_time"] == pytest.approx(sum(times) / 2 / 1000, rel=0.05)


@pytest.fixture
def failing(monkeypatch, settings):
    settings.SARTIQ_EVALUATION_BREAKER_FAILURES = 2
    settings.SARTIQ_EVALUATION_BREAKER_COOLDOWN = 60
    calls = []

    def broken(image):
        calls.append(image.size)
        raise RuntimeError("onnxruntime session died")

    monkeypatch.setattr(evaluation, "run_detector", broken)
    return calls


def test_breaker_opens_after_failures_then_half_opens(sartiq, failing, monkeypatch):
    for _ in range(2):
        resp = evaluate(sartiq, body())
        assert resp.status_code == 503 and resp.json() == {"detail": "Evaluation failed: RuntimeError"}
    assert health(sartiq)["circuit_breaker_state"] == "open"
    resp = evaluate(sartiq, body())
    assert resp.status_code == 503 and "circuit breaker open" in resp.json()["detail"]
    assert len(failing) == 2  # the open breaker did not call the detector
    state = health(sartiq)
    assert state["is_healthy"] is False and state["health_score"] == 0.0
    assert state["total_evaluations"] == 2 and state["success_rate"] == 0.0

    later = time.time() + 61
    monkeypatch.setattr(evaluation.time, "time", lambda: later)
    state = health(sartiq)
    assert state["circuit_breaker_state"] == "half_open" and state["is_healthy"] is False
    assert evaluate(sartiq, body()).status_code == 503 and len(failing) == 3  # the trial failed: open again
    assert health(sartiq)["circuit_breaker_state"] == "open"

    later += 61
    monkeypatch.setattr(evaluation, "run_detector", lambda image: ([], 0.01))
    assert evaluate(sartiq, body(image_data=None)).status_code == 422  # bad input: the trial stays free
    result = ok(sartiq, body())
    assert result["human_detected"] is False
    state = health(sartiq)
    assert state["circuit_breaker_state"] == "closed" and state["total_evaluations"] == 4
    assert state["success_rate"] == 0.25 and state["health_score"] == 0.25 and state["is_healthy"] is False


def test_half_open_lets_one_trial_through(sartiq, failing, monkeypatch):
    for _ in range(2):
        evaluate(sartiq, body())
    later = time.time() + 61
    monkeypatch.setattr(evaluation.time, "time", lambda: later)
    assert evaluation._admit() is True  # this request is the trial
    resp = evaluate(sartiq, body())  # another, while the trial runs
    assert resp.status_code == 503 and "half_open" in resp.json()["detail"] and len(failing) == 2


# -- the OpenAPI document -------------------------------------------------------------------------------------


def test_the_routes_are_documented():
    schema = APIClient().get("/api/schema?format=json").json()
    post = schema["paths"]["/api/v1/evaluation/"]["post"]
    get = schema["paths"]["/api/v1/evaluation/health"]["get"]
    assert "/api/v1/evaluation" not in schema["paths"] and "/api/v1/evaluation/health/" not in schema["paths"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/EvaluationRequest")
    for op, name in ((post, "EvaluationResponse"), (get, "HealthStatus")):
        assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/" + name)
        assert {"bearer": []} in op["security"]
        assert [p["name"] for p in op["parameters"]] == ["provider"]
    assert "503" in post["responses"] and "422" in post["responses"]
    components = schema["components"]["schemas"]
    assert components["Framing"]["enum"][0] == "full_body" and components["ViewAngle"]["enum"][0] == "front"
    assert set(components["EvaluationRequest"]["required"]) == {"expected_framing", "expected_view_angle"}
    assert components["EvaluationRequest"]["properties"]["expected_gender"]["default"] == "FEMALE"
    assert set(components["HealthStatus"]["required"]) == {
        "is_healthy",
        "health_score",
        "total_evaluations",
        "success_rate",
        "average_response_time",
        "circuit_breaker_state",
    }
    text = json.dumps({k: components[k] for k in ("EvaluationRequest", "EvaluationResponse", "HealthStatus")})
    assert '"type": "null"' not in text
    assert np.isclose(components["EvaluationResponse"]["properties"]["confidence_summary"]["maximum"], 1.0)
