"""The LoRA training loop for our upscalers: no Django, no storage, no HTTP — callbacks tell the caller.

``train(config, dataset, ...)`` loads the shipped base network (``pipelines.ml.upscale_models``), attaches
rank-``rank`` adapters to the convolutions of its body (``pipelines.ml.lora.attach``), freezes the rest, and
optimises the adapters alone with Adam on the L1 distance between the network's output for the degraded
input and the high-resolution patch (``training.data``).

* One *step* is one optimizer update: ``gradient_accumulation`` micro-batches of ``batch_size`` pairs.
* Between steps ``should_stop()`` is asked; when it says yes the loop ends there, reports the adapter so far
  through ``on_checkpoint`` and returns it with ``stopped=True``.
* ``on_checkpoint(step, adapter_bytes)`` every ``save_every`` steps and at the end (never twice for one
  step); keeping only ``max_step_saves_to_keep`` of them is the caller's job (it stores them).
* ``on_sample(step, png_bytes)`` every ``sample_every`` steps: a fixed held input upscaled by the current
  network (under ``torch.no_grad``), the input (nearest-neighbour enlarged) on the left, the output on the
  right.
* Deterministic for a seed on the CPU: the adapter's initialisation comes from ``torch.Generator(seed)``,
  step ``n``'s pairs from ``numpy.random.default_rng([seed, n])`` — so a run resumed from the checkpoint of
  step ``n`` (``resume=bytes, start_step=n``) sees the same pairs as an uninterrupted one (Adam's moments
  are not in the checkpoint and restart from zero). On CUDA, cuDNN may pick non-deterministic kernels.
"""

from __future__ import annotations

import io
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pipelines.ml import lora
from pipelines.ml.upscale_models import MODELS, load_network
from training.data import Dataset, to_tensor

MAX_STEPS = 100_000


@dataclass
class TrainConfig:
    base_model: str = "realesr-animevideov3"
    rank: int = 16
    alpha: float | None = None  # None: equal to rank (scale 1)
    steps: int = 1000
    learning_rate: float = 1e-4
    batch_size: int = 1
    gradient_accumulation: int = 1
    save_every: int = 250  # 0: only at the end
    max_step_saves_to_keep: int = 4  # the caller's: it stores the checkpoints
    sample_every: int = 250  # 0: never
    patch_size: int = 128  # side of the high-resolution patch (the input is patch_size / the model's scale)
    seed: int = 0
    targets: tuple[str, ...] = field(default=lora.DEFAULT_TARGETS)

    def __post_init__(self) -> None:
        if self.alpha is None:
            self.alpha = float(self.rank)

    @property
    def scale(self) -> int:
        return MODELS[self.base_model].net_scale if self.base_model in MODELS else 4

    def validate(self) -> None:
        """ValueError naming the first field out of range."""
        checks: list[tuple[str, bool, str]] = [
            ("base_model", self.base_model in MODELS, f"one of {list(MODELS)}"),
            ("rank", isinstance(self.rank, int) and 1 <= self.rank <= lora.MAX_RANK, f"1..{lora.MAX_RANK}"),
            ("alpha", self.alpha is not None and math.isfinite(self.alpha) and self.alpha > 0, "> 0"),
            ("steps", isinstance(self.steps, int) and 1 <= self.steps <= MAX_STEPS, f"1..{MAX_STEPS}"),
            ("learning_rate", math.isfinite(self.learning_rate) and 0 < self.learning_rate <= 1, "in (0, 1]"),
            ("batch_size", isinstance(self.batch_size, int) and 1 <= self.batch_size <= 64, "1..64"),
            ("gradient_accumulation", isinstance(self.gradient_accumulation, int)
             and 1 <= self.gradient_accumulation <= 64, "1..64"),
            ("save_every", isinstance(self.save_every, int) and self.save_every >= 0, ">= 0"),
            ("max_step_saves_to_keep", isinstance(self.max_step_saves_to_keep, int)
             and self.max_step_saves_to_keep >= 1, ">= 1"),
            ("sample_every", isinstance(self.sample_every, int) and self.sample_every >= 0, ">= 0"),
            ("patch_size", isinstance(self.patch_size, int) and 8 * self.scale <= self.patch_size <= 1024
             and self.patch_size % self.scale == 0,
             f"a multiple of {self.scale} within {8 * self.scale}..1024"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"{name} must be {rule}, not {getattr(self, name)!r}")

    def metadata(self, step: int) -> dict[str, Any]:
        return {"base_model": self.base_model, "rank": self.rank, "alpha": self.alpha, "step": step,
                "targets": ",".join(self.targets)}


@dataclass
class TrainResult:
    adapter: bytes
    steps_done: int
    stopped: bool
    losses: list[float]


def pick_device(device: str | torch.device | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build(config: TrainConfig, device: torch.device, resume: bytes | None = None) -> torch.nn.Module:
    """The base network with adapters attached (initialised from ``config.seed``, or loaded from ``resume``)."""
    net = load_network(config.base_model)
    lora.attach(net, config.rank, float(config.alpha), config.targets,
                generator=torch.Generator().manual_seed(config.seed))
    if resume is not None:
        meta, adapter = lora.from_bytes(resume)
        if meta["base_model"] != config.base_model or meta["rank"] != config.rank:
            raise ValueError(f"the checkpoint to resume is a rank-{meta['rank']} adapter of {meta['base_model']}, "
                             f"not rank {config.rank} of {config.base_model}")
        lora.load_adapter_state(net, adapter)
    return net.to(device)


def sample_png(net: torch.nn.Module, lr: np.ndarray, device: torch.device) -> bytes:
    """``lr`` upscaled by ``net``: the input (nearest-neighbour enlarged) beside the output, as PNG."""
    from PIL import Image

    with torch.no_grad():
        out = net(to_tensor(lr)[None].to(device))[0].clamp(0, 1)
    out_pixels = (out.permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
    height, width = out_pixels.shape[:2]
    side = Image.new("RGB", (width * 2, height))
    side.paste(Image.fromarray(lr).resize((width, height), Image.Resampling.NEAREST), (0, 0))
    side.paste(Image.fromarray(out_pixels), (width, 0))
    buffer = io.BytesIO()
    side.save(buffer, "PNG")
    return buffer.getvalue()


def train(config: TrainConfig, dataset: Dataset, *,
          on_step: Callable[[int, float, float], None] | None = None,
          should_stop: Callable[[], bool] | None = None,
          on_checkpoint: Callable[[int, bytes], None] | None = None,
          on_sample: Callable[[int, bytes], None] | None = None,
          resume: bytes | None = None, start_step: int = 0,
          device: str | torch.device | None = None) -> TrainResult:
    """Train from step ``start_step`` (with ``resume``, the adapter saved at that step) to ``config.steps``, or
    until ``should_stop()``.

    ``on_step(step, loss, seconds_per_step)``: after each step (``step`` counts from 1, loss is the step's mean
    L1, seconds_per_step the mean of the last 20 steps)."""
    config.validate()
    if dataset.scale != config.scale:
        raise ValueError(f"the dataset is for x{dataset.scale}, {config.base_model} is x{config.scale}")
    if not 0 <= start_step <= config.steps:
        raise ValueError(f"start_step must be within 0..{config.steps}")
    device = pick_device(device)
    net = build(config, device, resume)
    params = [p for module in lora.adapters(net).values()
              for p in (module.lora_down.weight, module.lora_up.weight)]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=config.learning_rate)
    sample_lr = dataset.pair(np.random.default_rng([config.seed, 2**31 - 1]))[0] if on_sample else None

    def adapter(step: int) -> bytes:
        return lora.to_bytes(lora.adapter_state(net), config.metadata(step))

    losses: list[float] = []
    durations: deque[float] = deque(maxlen=20)
    step, stopped, saved = start_step, False, start_step  # nothing new to save before the first step
    while step < config.steps:
        if should_stop is not None and should_stop():
            stopped = True
            break
        started = time.perf_counter()
        rng = np.random.default_rng([config.seed, step])
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(config.gradient_accumulation):
            lr_batch, hr_batch = dataset.batch(rng, config.batch_size)
            output = net(lr_batch.to(device))
            loss = F.l1_loss(output, hr_batch.to(device))
            (loss / config.gradient_accumulation).backward()
            total += float(loss.detach())
        optimizer.step()
        step += 1
        value = total / config.gradient_accumulation
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss became {value} at step {step}; lower the learning_rate")
        losses.append(value)
        durations.append(time.perf_counter() - started)
        if on_step is not None:
            on_step(step, value, sum(durations) / len(durations))
        if on_sample is not None and config.sample_every and step % config.sample_every == 0:
            on_sample(step, sample_png(net, sample_lr, device))
        if on_checkpoint is not None and config.save_every and step % config.save_every == 0:
            on_checkpoint(step, adapter(step))
            saved = step
    result = adapter(step)
    if on_checkpoint is not None and saved != step:
        on_checkpoint(step, result)
    return TrainResult(adapter=result, steps_done=step, stopped=stopped, losses=losses)
