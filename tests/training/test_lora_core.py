"""The torch core of upscaler LoRA training: adapters and their files, the preprocessing, the loop, and the
upscale node with a LoRA. CPU only, tiny images, bounded step counts."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from pipelines.ml import lora, upscale  # noqa: E402
from pipelines.nodes.base import ImageValue, NodeContext, NodeError, get_node_type  # noqa: E402
from training import data, loop  # noqa: E402

BASE = "realesr-animevideov3"
MILD = data.Degradation(blur_sigma=(0.2, 1.0), noise_sigma=(1.0, 5.0), poisson_scale=(0.05, 0.5),
                        jpeg_quality=(70, 95))


@pytest.fixture(scope="module", autouse=True)
def weights():
    from pipelines.ml import upscale_models

    upscale_models.ensure_converted([BASE, "RealESRGAN_x4plus_anime_6B"])


def texture(seed: int, size: int = 48) -> Image.Image:
    """One member of a procedural texture family: a smooth colour field and diagonal stripes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    fx, fy = rng.uniform(0.05, 0.15, 2)
    field = 0.5 + 0.4 * np.sin(xx * fx + rng.uniform(0, 6)) * np.sin(yy * fy)
    stripes = ((xx + 2 * yy) % 24 < 12).astype(np.float32)
    pixels = np.stack([field, 0.3 + 0.5 * stripes, 0.5 * field + 0.4 * stripes], axis=2)
    return Image.fromarray((pixels.clip(0, 1) * 255).astype(np.uint8))


def small_dataset(count: int = 4, degradation: data.Degradation = MILD) -> data.Dataset:
    return data.prepare([texture(i) for i in range(count)], 4, 32, degradation=degradation)


def config(**overrides) -> loop.TrainConfig:
    settings = {"steps": 4, "learning_rate": 1e-3, "batch_size": 1, "save_every": 0, "sample_every": 0,
                "patch_size": 32, "seed": 1}
    return loop.TrainConfig(**{**settings, **overrides})


@pytest.fixture(scope="module")
def trained() -> dict:
    """A briefly trained adapter (for the node tests: it only has to be a real, non-zero adapter)."""
    return {"result": loop.train(config(steps=6, learning_rate=3e-3), small_dataset(2), device="cpu")}


# -- the loop ---------------------------------------------------------------------------------------------


@pytest.mark.slow  # ~6 s on an idle 2-core machine (4 of them importing basicsr), far more when it is shared
def test_a_few_steps_make_the_loss_go_down():
    steps: list[tuple[int, float, float]] = []
    result = loop.train(config(steps=30, batch_size=2), small_dataset(), on_step=lambda *args: steps.append(args),
                        device="cpu")
    assert result.steps_done == 30 and not result.stopped and len(result.losses) == 30
    assert np.mean(result.losses[-5:]) < np.mean(result.losses[:5]), result.losses
    assert [s for s, _, _ in steps] == list(range(1, 31)) and all(seconds > 0 for _, _, seconds in steps)
    meta, state = lora.from_bytes(result.adapter)
    assert (meta["base_model"], meta["rank"], meta["alpha"], meta["scale"]) == (BASE, 16, 16.0, 1.0)
    assert meta["format"] == "canvasflow-lora" and meta["step"] == "30"
    assert len(state) == 2 * 18  # SRVGGNetCompact's 18 convolutions, down and up each


def test_training_is_deterministic_for_a_seed():
    dataset = small_dataset(2)
    first = loop.train(config(steps=3), dataset, device="cpu")
    second = loop.train(config(steps=3), dataset, device="cpu")
    assert first.losses == second.losses
    (meta1, state1), (meta2, state2) = lora.from_bytes(first.adapter), lora.from_bytes(second.adapter)
    assert meta1 == meta2 and state1.keys() == state2.keys()  # (the header's key order is not fixed)
    assert all(torch.equal(state1[k], state2[k]) for k in state1)
    other = loop.train(config(steps=3, seed=2), dataset, device="cpu")
    assert other.losses != first.losses


def test_checkpoints_every_save_every_steps_and_at_the_end():
    saved: list[int] = []
    samples: list[tuple[int, bytes]] = []
    result = loop.train(config(steps=7, save_every=3, sample_every=2), small_dataset(2),
                        on_checkpoint=lambda step, adapter: saved.append(step) or lora.from_bytes(adapter),
                        on_sample=lambda step, png: samples.append((step, png)), device="cpu")
    assert saved == [3, 6, 7] and result.steps_done == 7
    assert [step for step, _ in samples] == [2, 4, 6]
    sample = Image.open(io.BytesIO(samples[0][1]))
    assert sample.format == "PNG" and sample.size == (64, 32)  # input enlarged | output, 32x32 each

    saved.clear()
    loop.train(config(steps=6, save_every=3), small_dataset(2), on_checkpoint=lambda s, a: saved.append(s),
               device="cpu")
    assert saved == [3, 6]  # the end is not saved twice


def test_should_stop_stops_between_steps_and_keeps_the_adapter():
    done: list[int] = []
    saved: list[int] = []
    result = loop.train(config(steps=50, save_every=2), small_dataset(2),
                        on_step=lambda step, loss, seconds: done.append(step),
                        should_stop=lambda: len(done) >= 3,
                        on_checkpoint=lambda step, adapter: saved.append(step), device="cpu")
    assert result.stopped and result.steps_done == 3 and len(result.losses) == 3 and done == [1, 2, 3]
    assert saved == [2, 3]  # the stop keeps the last step too
    assert lora.from_bytes(result.adapter)[0]["step"] == "3"


def test_resume_continues_from_a_checkpoint():
    dataset = small_dataset(2)
    first = loop.train(config(steps=3), dataset, device="cpu")
    resumed = loop.train(config(steps=5), dataset, resume=first.adapter, start_step=3, device="cpu")
    assert resumed.steps_done == 5 and len(resumed.losses) == 2
    assert lora.from_bytes(resumed.adapter)[0]["step"] == "5"
    with pytest.raises(ValueError, match="rank-16 adapter"):
        loop.train(config(steps=5, rank=8), dataset, resume=first.adapter, start_step=3, device="cpu")


@pytest.mark.parametrize("field, value", [("rank", 0), ("rank", 129), ("steps", 0), ("learning_rate", 0.0),
                                          ("learning_rate", -1e-4), ("base_model", "sdxl"), ("batch_size", 0),
                                          ("patch_size", 30)])
def test_absurd_settings_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"^{field} must be"):
        config(**{field: value}).validate()


# -- preprocessing ----------------------------------------------------------------------------------------


def test_degradation_is_deterministic_for_a_seed():
    dataset = small_dataset(3, data.Degradation())
    lr1, hr1 = dataset.batch(np.random.default_rng(7), 4)
    lr2, hr2 = dataset.batch(np.random.default_rng(7), 4)
    assert torch.equal(lr1, lr2) and torch.equal(hr1, hr2)
    assert lr1.shape == (4, 3, 8, 8) and hr1.shape == (4, 3, 32, 32)
    lr3, _ = dataset.batch(np.random.default_rng(8), 4)
    assert not torch.equal(lr1, lr3)
    hr = np.asarray(texture(0))[:32, :32]
    assert np.array_equal(data.degrade(hr, 4, np.random.default_rng(1)), data.degrade(hr, 4, np.random.default_rng(1)))


def test_prepare_reports_each_file_and_refuses_bad_images():
    calls: list[tuple[int, int]] = []
    png = io.BytesIO()
    texture(5).save(png, "PNG")
    dataset = data.prepare([texture(1), ("mine.png", png.getvalue()), texture(2).convert("RGBA")], 4, 32,
                           on_file=lambda i, total: calls.append((i, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)] and len(dataset) == 3 and dataset.names[1] == "mine.png"
    with pytest.raises(ValueError, match="^broken.jpg: unreadable image"):
        data.prepare([texture(1), ("broken.jpg", b"\xff\xd8 not really a jpeg")], 4, 32)
    with pytest.raises(ValueError, match=r"^image 2: image is 16x16; training needs at least 32x32"):
        data.prepare([texture(1), texture(2, size=16)], 4, 32)
    with pytest.raises(ValueError, match="no images"):
        data.prepare([], 4, 32)
    with pytest.raises(ValueError, match="multiple of the scale"):
        data.prepare([texture(1)], 4, 30)


# -- adapters and their files -----------------------------------------------------------------------------


def base_net():
    from pipelines.ml.upscale_models import load_network

    return load_network(BASE)


def test_an_adapter_with_zero_up_weights_changes_nothing():
    net = base_net()
    wrapped = base_net()
    names = lora.attach(wrapped, 8, 8)
    assert names == [f"body.{i}" for i in range(0, 36, 2)]
    adapter = lora.to_bytes(lora.adapter_state(wrapped), {"base_model": BASE, "rank": 8, "alpha": 8})
    x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = net(x)
        assert torch.equal(wrapped(x), expected)
        assert torch.equal(lora.apply(net, adapter)(x), expected)
        assert torch.equal(lora.apply(net, adapter, merge=False)(x), expected)


def test_merged_and_wrapped_adapters_agree():
    net = base_net()
    wrapped = base_net()
    lora.attach(wrapped, 4, 8)
    generator = torch.Generator().manual_seed(3)
    for module in lora.adapters(wrapped).values():
        module.lora_up.weight.data = torch.randn(module.lora_up.weight.shape, generator=generator) * 0.01
    adapter = lora.to_bytes(lora.adapter_state(wrapped), {"base_model": BASE, "rank": 4, "alpha": 8})
    x = torch.rand(1, 3, 16, 16, generator=generator)
    with torch.no_grad():
        reference = wrapped(x)
        merged, unmerged = lora.apply(net, adapter), lora.apply(net, adapter, merge=False)
        assert torch.allclose(merged(x), reference, atol=1e-4)
        assert torch.equal(unmerged(x), reference)
        assert not torch.allclose(net(x), reference, atol=1e-3)  # net itself is left as it was
        half = lora.apply(net, adapter, 0.5)(x)
        assert torch.allclose(half, lora.apply(net, adapter, 0.5, merge=False)(x), atol=1e-4)
        assert not torch.allclose(half, reference, atol=1e-3)
    assert not any(isinstance(m, lora.LoRAConv2d) for m in merged.modules())


def test_from_bytes_refuses_foreign_and_damaged_files():
    from safetensors.torch import save

    foreign = save({"lora_unet_down.weight": torch.zeros(4, 4)}, metadata={"ss_network_module": "networks.lora"})
    with pytest.raises(ValueError, match="not a Canvasflow upscaler LoRA"):
        lora.from_bytes(foreign)
    with pytest.raises(ValueError, match="not a safetensors file"):
        lora.from_bytes(b"\x00\x01 definitely not")
    wrong_model = save({"body.0.lora_down.weight": torch.zeros(4, 3, 3, 3),
                        "body.0.lora_up.weight": torch.zeros(64, 4, 1, 1)},
                       metadata={"format": "canvasflow-lora", "base_model": "flux-dev", "rank": "4", "alpha": "4"})
    with pytest.raises(ValueError, match="base_model 'flux-dev'"):
        lora.from_bytes(wrong_model)
    odd_tensor = save({"unet.weight": torch.zeros(2)},
                      metadata={"format": "canvasflow-lora", "base_model": BASE, "rank": "4", "alpha": "4"})
    with pytest.raises(ValueError, match="unexpected tensor"):
        lora.from_bytes(odd_tensor)
    good = lora.to_bytes({"body.0.lora_down.weight": torch.zeros(4, 3, 3, 3),
                          "body.0.lora_up.weight": torch.zeros(64, 4, 1, 1)}, {"base_model": BASE, "rank": 4,
                                                                              "alpha": 4})
    with pytest.raises(ValueError, match="damaged"):
        lora.from_bytes(good[:-10])
    x4 = lora.to_bytes({"body.99.lora_down.weight": torch.zeros(4, 3, 3, 3),
                        "body.99.lora_up.weight": torch.zeros(64, 4, 1, 1)}, {"base_model": BASE, "rank": 4,
                                                                             "alpha": 4})
    with pytest.raises(ValueError, match="body.99"):
        lora.apply(base_net(), x4)


# -- the upscale node with a LoRA -------------------------------------------------------------------------


def node_run(image: Image.Image, adapter: bytes | None, **params):
    node_type = get_node_type("IMAGE__UPSCALE")
    files = {"trained/my_style.safetensors": adapter} if adapter is not None else {}
    ctx = NodeContext(run_id="run-1", node_id="up", read_lora=files.get)
    resolved = {**node_type.param_defaults(), "model": BASE, "tile_size": 32, **params}
    return node_type().run(ctx, {"image": ImageValue(image)}, resolved)


def test_a_trained_adapter_changes_the_node_output(trained):
    upscale.clear_engines()
    image = texture(11, size=24)
    adapter = trained["result"].adapter
    base = node_run(image, None)
    adapted = node_run(image, adapter, lora="trained/my_style.safetensors")
    again = node_run(image, adapter, lora="trained/my_style.safetensors")
    off = node_run(image, adapter, lora="trained/my_style.safetensors", lora_weight=0)
    base_pixels = np.asarray(base["image"].image, dtype=np.int16)
    adapted_pixels = np.asarray(adapted["image"].image, dtype=np.int16)
    assert adapted_pixels.shape == base_pixels.shape == (96, 96, 3)
    assert np.abs(adapted_pixels - base_pixels).mean() > 0.5
    assert np.array_equal(np.asarray(again["image"].image), np.asarray(adapted["image"].image))
    assert np.array_equal(np.asarray(off["image"].image), np.asarray(base["image"].image))
    meta = adapted["metadata"]
    assert meta["lora"] == "trained/my_style.safetensors" and meta["lora_weight"] == 1.0
    assert len(meta["lora_sha256"]) == 64 and adapted["image"].metadata["lora_sha256"] == meta["lora_sha256"]
    assert "lora" not in base["metadata"]
    assert len(upscale._adapted) == 1  # the second run reused the adapted engine
    node_type = get_node_type("IMAGE__UPSCALE")
    context = node_type.cache_context({"lora": "trained/my_style.safetensors"}, {"trained/my_style.safetensors":
                                                                                 adapter}.get)
    assert context == {"lora_sha256": meta["lora_sha256"]} and node_type.cache_context({"lora": ""}, dict().get) == {}
    upscale.clear_engines()


def test_a_lora_of_another_model_is_a_422(trained):
    with pytest.raises(NodeError) as caught:
        node_run(texture(1, size=16), trained["result"].adapter, lora="trained/my_style.safetensors",
                 model="RealESRGAN_x4plus_anime_6B")
    error = caught.value
    assert error.code == "LORA_MODEL_MISMATCH" and error.http_status == 422
    assert "trained for realesr-animevideov3" in error.message and "RealESRGAN_x4plus_anime_6B" in error.message


def test_missing_foreign_or_out_of_range_loras_are_422s(trained):
    from safetensors.torch import save

    cases = [(None, {"lora": "trained/nothing.safetensors"}, "LORA_NOT_FOUND"),
             (save({"w": torch.zeros(2)}), {"lora": "trained/my_style.safetensors"}, "INVALID_LORA"),
             (trained["result"].adapter, {"lora": "trained/my_style.safetensors", "lora_weight": 2.5},
              "INVALID_PARAM")]
    for adapter, params, code in cases:
        with pytest.raises(NodeError) as caught:
            node_run(texture(1, size=16), adapter, **params)
        assert caught.value.code == code and caught.value.http_status == 422


def test_adapted_engines_are_a_small_lru(trained, settings):
    settings.UPSCALE_LORA_ENGINES = 2
    upscale.clear_engines()
    adapter = trained["result"].adapter
    first = upscale.get_adapted_engine(BASE, adapter, 1.0, "cpu")
    assert upscale.get_adapted_engine(BASE, adapter, 1.0, "cpu") is first
    half = upscale.get_adapted_engine(BASE, adapter, 0.5, "cpu")
    assert half is not first and first.adapter_sha256 == half.adapter_sha256
    assert upscale.get_adapted_engine(BASE, adapter, 0.0, "cpu") is upscale.get_engine(BASE, "cpu")
    upscale.get_adapted_engine(BASE, adapter, 1.5, "cpu")  # evicts the least recently used: 1.0
    assert upscale.get_adapted_engine(BASE, adapter, 1.0, "cpu") is not first
    assert len(upscale._adapted) == 2
    with pytest.raises(ValueError, match="trained on realesr-animevideov3"):
        upscale.get_adapted_engine("RealESRGAN_x4plus_anime_6B", adapter, 1.0, "cpu")
    upscale.clear_engines()
