"""IMAGE__UPSCALE as the engine sees it: registry entry, run(), outputs and errors."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pipelines.nodes.base import ImageValue, NodeContext, NodeError, get_node_type

pytest.importorskip("torch")

FAST = {"model": "realesr-animevideov3"}


@pytest.fixture
def upscale_node(upscale_weights):
    node_type = get_node_type("IMAGE__UPSCALE")
    assert node_type is not None
    return node_type


def run(node_type, image, progress=None, **params):
    ctx = NodeContext(run_id="run-1", node_id="upscale-1", report_progress=progress or (lambda f: None))
    return node_type().run(ctx, {"image": image}, {**node_type.param_defaults(), **params})


def encoded(image: Image.Image, fmt: str) -> Image.Image:
    """What the engine does with an image output: encode it as an artifact, here read back."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    buffer.seek(0)
    return Image.open(buffer)


def test_registry_entry_describes_the_node(upscale_node):
    described = upscale_node.describe()
    assert described["family"] == "image_ai" and described["resource_class"] == "gpu"
    assert described["credit_cost"] == 5
    assert [p["name"] for p in described["inputs"]] == ["image"]
    assert [(p["name"], p["type"]) for p in described["outputs"]] == [("image", "image"), ("metadata", "json")]
    props = described["params_schema"]["properties"]
    assert props["model"]["enum"] == ["RealESRGAN_x4plus", "RealESRGAN_x4plus_anime_6B", "realesr-animevideov3"]
    assert props["scale"]["enum"] == [2, 3, 4] and props["format"]["enum"] == ["PNG", "WEBP", "JPEG"]
    for name, prop in props.items():
        assert {"default", "description", "examples"} <= set(prop), name
    assert upscale_node.param_defaults() == {"model": "RealESRGAN_x4plus", "scale": 4, "format": "PNG",
                                             "tile_size": 256, "lora": "", "lora_weight": 1.0}


def test_default_model_upscales_four_times(upscale_node, upscale_sample):
    source = ImageValue(Image.fromarray(upscale_sample(32, 32, seed=9)), source="https://example.com/in.png")
    outputs = run(upscale_node, source)
    image = outputs["image"]
    assert isinstance(image, ImageValue) and image.format == "PNG" and image.source == source.source
    assert image.image.size == (128, 128) and image.image.mode == "RGB"
    assert outputs["metadata"] == {"scale": 4, "width": 128, "height": 128}
    assert image.metadata["model"] == "RealESRGAN_x4plus"
    assert encoded(image.image, "PNG").size == (128, 128)


def test_transparency_survives_webp(upscale_node, upscale_sample):
    pixels = upscale_sample(16, 16, 4)
    pixels[:, :8, 3] = 0
    pixels[:, 8:, 3] = 255
    outputs = run(upscale_node, ImageValue(Image.fromarray(pixels)), format="WEBP", scale=2, **FAST)
    image = outputs["image"]
    assert image.format == "WEBP" and image.image.mode == "RGBA" and image.image.size == (32, 32)
    alpha = np.asarray(encoded(image.image, "WEBP").convert("RGBA"))[:, :, 3]
    assert alpha[:, :14].max() == 0 and alpha[:, 18:].min() == 255


def test_jpeg_output_is_flattened_onto_white(upscale_node):
    pixels = np.zeros((8, 8, 4), np.uint8)  # fully transparent black
    outputs = run(upscale_node, ImageValue(Image.fromarray(pixels)), format="jpeg", **FAST)
    image = outputs["image"]
    assert image.format == "JPEG" and image.image.mode == "RGB"
    assert np.asarray(encoded(image.image, "JPEG")).min() > 240


def test_sixteen_bit_gray_stays_sixteen_bit_in_png(upscale_node, upscale_sample):
    source = Image.fromarray(upscale_sample(12, 12, 1, np.uint16))
    assert source.mode == "I;16"
    outputs = run(upscale_node, ImageValue(source), scale=3, **FAST)
    reread = encoded(outputs["image"].image, "PNG")
    values = np.asarray(reread)
    assert reread.size == (36, 36) and values.max() > 255
    assert outputs["metadata"] == {"scale": 3, "width": 36, "height": 36}


def test_palette_and_bytes_inputs(upscale_node, upscale_sample):
    palette = Image.fromarray(upscale_sample(10, 10)).convert("P")
    palette.info["transparency"] = 0
    assert run(upscale_node, ImageValue(palette), **FAST)["image"].image.mode == "RGBA"

    buffer = io.BytesIO()
    Image.fromarray(upscale_sample(10, 10)).convert("L").save(buffer, format="PNG")
    outputs = run(upscale_node, buffer.getvalue(), scale=2, **FAST)
    assert outputs["image"].image.mode == "L" and outputs["image"].image.size == (20, 20)


def test_exif_rotation_is_applied(upscale_node, upscale_sample):
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    Image.fromarray(upscale_sample(10, 20)).save(buffer, format="JPEG", exif=exif)
    outputs = run(upscale_node, buffer.getvalue(), scale=2, **FAST)
    assert outputs["metadata"]["width"] == 20 and outputs["metadata"]["height"] == 40


def test_progress_goes_to_the_context(upscale_node, upscale_sample):
    seen = []
    run(upscale_node, ImageValue(Image.fromarray(upscale_sample(80, 80))), progress=seen.append, tile_size=32,
        **FAST)
    assert seen[-1] == 1.0 and seen == sorted(seen)


def truncated_png(pixels: np.ndarray) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return Image.open(io.BytesIO(buffer.getvalue()[: len(buffer.getvalue()) // 2]))  # header fine, data cut


@pytest.mark.parametrize("value, code", [
    (b"definitely not an image", "INVALID_IMAGE"),
    (None, "MISSING_INPUT"),
    (42, "INVALID_INPUT"),
])
def test_bad_inputs_are_node_errors(upscale_node, value, code):
    with pytest.raises(NodeError) as exc:
        run(upscale_node, value, **FAST)
    assert exc.value.code == code and not exc.value.retryable


def test_corrupt_image_data_is_a_node_error(upscale_node, upscale_sample):
    with pytest.raises(NodeError) as exc:
        run(upscale_node, ImageValue(truncated_png(upscale_sample(64, 64)), source="artifact:42"), **FAST)
    assert exc.value.code == "INVALID_IMAGE" and "artifact:42" in exc.value.message


def test_too_many_pixels_is_refused_before_decoding(upscale_node, settings):
    settings.UPSCALE_MAX_INPUT_PIXELS = 1_000
    header_only = truncated_png(np.zeros((100, 100, 3), np.uint8))  # would not even decode
    with pytest.raises(NodeError) as exc:
        run(upscale_node, ImageValue(header_only), **FAST)
    assert exc.value.code == "IMAGE_TOO_LARGE"
    assert exc.value.details["max_pixels"] == 1_000 and exc.value.details["width"] == 100


@pytest.mark.parametrize("params", [{"scale": 8}, {"format": "GIF"}, {"model": "waifu2x"}, {"tile_size": 4},
                                    {"scale": "four"}])
def test_bad_params_are_node_errors(upscale_node, params):
    with pytest.raises(NodeError) as exc:
        run(upscale_node, ImageValue(Image.new("RGB", (4, 4))), **{**FAST, **params})
    assert exc.value.code == "INVALID_PARAM"


def test_module_import_stays_light():
    """Loading the registry must not import torch, basicsr or realesrgan."""
    code = ("import sys; import pipelines.nodes.upscale; "
            "print(sorted(m for m in ('torch', 'basicsr', 'realesrgan', 'cv2') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
