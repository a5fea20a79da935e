"""The ncnn -> torch conversion of the Real-ESRGAN weights.

The original .param/.bin files run through ncnn (the runtime they were made
for) and the converted state dicts run through basicsr's/realesrgan's own
architectures must produce the same image.
"""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
from django.core.management import call_command

from pipelines.ml import ncnn_convert, upscale_models

ncnn = pytest.importorskip("ncnn")
torch = pytest.importorskip("torch")


def run_ncnn(stem: str, chw: np.ndarray) -> np.ndarray:
    param, weights = upscale_models.ncnn_files(stem)
    net = ncnn.Net()
    # plain float32 on the CPU, so that the comparison measures the conversion and not ncnn's fp16 paths
    net.opt.use_vulkan_compute = False
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    net.opt.num_threads = 2
    assert net.load_param(str(param)) == 0 and net.load_model(str(weights)) == 0
    extractor = net.create_extractor()
    extractor.input("data", ncnn.Mat(np.ascontiguousarray(chw)))
    status, out = extractor.extract("output")
    assert status == 0
    return np.array(out)


@pytest.mark.parametrize("name", list(upscale_models.MODELS))
def test_converted_network_matches_the_ncnn_original(name, upscale_weights, upscale_sample, upscale_psnr):
    # 32×32: the shape the other x4plus tests use, so torch's per-shape CPU kernel set-up is paid once
    chw = np.ascontiguousarray(upscale_sample(32, 32, 3, np.float32).transpose(2, 0, 1))
    expected = np.clip(run_ncnn(upscale_models.MODELS[name].ncnn_stem, chw), 0, 1)

    net = upscale_models.load_network(name)
    with torch.inference_mode():
        ours = net(torch.from_numpy(chw)[None])[0].clamp(0, 1).numpy()

    assert ours.shape == expected.shape == (3, 128, 128)
    assert upscale_psnr(ours, expected, 1.0) >= 45.0


@pytest.mark.parametrize("scale", [2, 3])
def test_animevideov3_x2_x3_graphs_match_the_engine(scale, upscale_weights, upscale_sample, upscale_psnr):
    """The ncnn x2/x3 variants are the x4 network plus a bicubic resize; the engine does the same."""
    from pipelines.ml.upscale import UpscaleEngine

    image = upscale_sample(24, 24, 3, np.float32, seed=3)
    stem = upscale_models.MODELS["realesr-animevideov3"].ncnn_variants[scale]
    expected = np.clip(run_ncnn(stem, np.ascontiguousarray(image.transpose(2, 0, 1))), 0, 1).transpose(1, 2, 0)

    ours = UpscaleEngine("realesr-animevideov3", "cpu").upscale(image, scale=scale)

    assert ours.shape == expected.shape == (24 * scale, 24 * scale, 3)
    assert upscale_psnr(ours, expected, 1.0) >= 45.0


def test_converted_files_use_the_upstream_layout(upscale_weights):
    """{"params_ema": state_dict}: realesrgan's RealESRGANer loads them as they are."""
    path = upscale_models.models_dir() / "realesr-animevideov3.pth"
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint["params_ema"]
    assert state["body.0.weight"].shape == (64, 3, 3, 3)
    assert state["body.0.weight"].dtype == torch.float16  # as stored by ncnn: nothing invented
    assert state["body.1.weight"].dtype == torch.float32  # PReLU slopes are float32 in the .bin


def test_command_is_idempotent_and_fast_when_converted(upscale_weights, capsys):
    started = time.perf_counter()
    call_command("convert_realesrgan", "--verify")
    elapsed = time.perf_counter() - started
    out = capsys.readouterr().out
    assert out.count("up to date") == len(upscale_models.MODELS)
    assert "checksums match" in out
    assert elapsed < 5.0


def test_command_converts_into_an_empty_data_dir(settings, tmp_path, capsys):
    settings.DATA_DIR = tmp_path
    call_command("convert_realesrgan", "realesr-animevideov3")
    assert "realesr-animevideov3: converted" in capsys.readouterr().out
    manifest = upscale_models.read_manifest()
    entry = manifest["models"]["realesr-animevideov3"]
    assert entry["parameters"] == 621_424
    assert set(entry["variants"]) == {"2", "3"}
    assert (tmp_path / "models" / "realesrgan" / "realesr-animevideov3.pth").stat().st_size == entry["bytes"]
    call_command("convert_realesrgan", "realesr-animevideov3")
    assert "up to date" in capsys.readouterr().out


def test_upstream_pth_takes_precedence(settings, tmp_path, upscale_weights):
    settings.REALESRGAN_WEIGHTS_DIR = str(tmp_path)
    assert upscale_models.weights_path("realesr-animevideov3") == (
        upscale_models.models_dir() / "realesr-animevideov3.pth")
    net = upscale_models.load_network("realesr-animevideov3")
    torch.save({"params": {k: v.clone() for k, v in net.state_dict().items()}}, tmp_path / "realesr-animevideov3.pth")
    assert upscale_models.weights_path("realesr-animevideov3") == tmp_path / "realesr-animevideov3.pth"
    reloaded = upscale_models.load_network("realesr-animevideov3")
    assert torch.equal(reloaded.body[0].weight, net.body[0].weight)


# -- the reader itself -----------------------------------------------------------------------------------

def write_model(tmp_path, param_text: str, blobs: bytes):
    (tmp_path / "m.param").write_text(param_text)
    (tmp_path / "m.bin").write_bytes(blobs)
    return tmp_path / "m.param", tmp_path / "m.bin"


PARAM = """7767517
3 3
Input            in      0 1 data
Convolution      conv    1 1 data c 0=2 1=1 5=1 6=2 9=2 -23310=1,2.000000e-01
PReLU            act     1 1 c output 0=2
"""


def test_reader_handles_fp16_and_fp32_blobs(tmp_path):
    fp16 = struct.pack("<I", ncnn_convert.TAG_FP16) + np.array([0.5, -2.0], "<f2").tobytes()
    rest = np.array([0.25, 1.0], "<f4").tobytes() + np.array([0.1, 0.2], "<f4").tobytes()
    layers = ncnn_convert.load_ncnn(*write_model(tmp_path, PARAM, fp16 + rest))
    conv, prelu = layers[1], layers[2]
    assert conv.params[10] == [0.2]  # array parameter
    assert conv.weights["weight"].tolist() == [0.5, -2.0]
    assert conv.weights["bias"].tolist() == [0.25, 1.0]
    assert np.allclose(prelu.weights["weight"], [0.1, 0.2])

    fp32 = struct.pack("<I", 0) + np.array([0.5, -2.0], "<f4").tobytes()
    layers = ncnn_convert.load_ncnn(*write_model(tmp_path, PARAM, fp32 + rest))
    assert layers[1].weights["weight"].dtype == np.float32


@pytest.mark.parametrize("blobs, message", [
    (struct.pack("<I", ncnn_convert.TAG_INT8) + b"\0" * 28, "quantized"),
    (struct.pack("<I", 0) + b"\0" * 8, "end of .bin"),
    (struct.pack("<I", 0) + b"\0" * 24 + b"extra!!!", "left over"),
])
def test_reader_refuses_what_it_does_not_understand(tmp_path, blobs, message):
    with pytest.raises(ncnn_convert.NcnnFormatError, match=message):
        ncnn_convert.load_ncnn(*write_model(tmp_path, PARAM, blobs))


def test_mismatched_graph_is_refused(upscale_weights):
    """Pouring the anime_6B file into the 23-block network must fail loudly, not half-load."""
    layers = ncnn_convert.load_ncnn(*upscale_models.ncnn_files("REALESRGAN_X4PLUSANIME_UP4X"))
    network = upscale_models.build_network(upscale_models.MODELS["RealESRGAN_x4plus"], "meta")
    with pytest.raises(ncnn_convert.NcnnFormatError, match="weight layers"):
        ncnn_convert.state_dict_for(network, layers)
