"""Our inference engine around the Real-ESRGAN networks.

What it adds to a bare ``net(x)``:

* **Tiling with overlap**, so memory is bounded by the tile size and not by
  the image. Every window the network sees is ``tile + 2·pad`` pixels wide
  (clamped inside the image rather than padded, so no invented pixels reach the
  network and every window has the same shape — which is what lets tiles of
  different images share a batch and a compiled graph). Only each window's
  core goes into the output.
* **Any pixel format**: gray, gray+alpha, RGB, RGBA, in 8 or 16 bits (or float).
  Gray is fed as three equal channels and folded back with the ITU-R 601
  luma weights (as ``RealESRGANer`` does); alpha is upscaled separately
  with bicubic interpolation.
* **Scales 2, 3, 4**: the networks are ×4; ×2/×3 resize each window's ×4
  output with bicubic interpolation before cropping, which is exactly what the
  ``realesr-animevideov3`` x2/x3 ncnn graphs do.
* **CUDA**: half precision, channels-last, ``torch.compile`` with a warm-up
  at load (kernels are cached on disk under ``DATA_DIR/cache/torchinductor``
  so the next worker process compiles from cache), and micro-batching of the
  tiles of all concurrent requests for the same model
  (:mod:`pipelines.ml.upscale_batcher`).
* **CPU fallback**: float32, eager, one request at a time, and a tighter input
  size limit (``UPSCALE_CPU_MAX_INPUT_PIXELS``).

Networks are loaded once per process, lazily, by :func:`get_engine`.

Settings (``django.conf.settings``, else environment variables, else the default):
``UPSCALE_DEVICE`` (``auto``), ``UPSCALE_MAX_INPUT_PIXELS`` (4 000 000),
``UPSCALE_CPU_MAX_INPUT_PIXELS`` (1 048 576), ``UPSCALE_TILE_PAD`` (16),
``UPSCALE_MAX_BATCH`` (8), ``UPSCALE_BATCH_WAIT_MS`` (5), ``UPSCALE_HALF`` (true),
``UPSCALE_COMPILE`` (true), ``UPSCALE_COMPILE_MODE`` (``default``),
``REALESRGAN_WEIGHTS_DIR`` (unset), ``UPSCALE_LORA_ENGINES`` (4: engines with a LoRA merged in, kept per
process, see :func:`get_adapted_engine`).
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.ml.upscale_models import DEFAULT_MODEL, MODELS, _setting, data_dir, load_network, weights_path

logger = logging.getLogger(__name__)

SCALES = (2, 3, 4)
DEFAULT_TILE = 256
MIN_TILE, MAX_TILE = 32, 1024
LUMA = (0.299, 0.587, 0.114)


class UpscaleInputError(ValueError):
    """The pixels cannot be upscaled as asked; ``code`` is the node error code."""

    def __init__(self, message: str, code: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.details = details or {}


def _flag(name: str, default: bool) -> bool:
    value = _setting(name, default)
    return value if isinstance(value, bool) else str(value).strip().lower() not in ("0", "false", "no", "off", "")


def select_device() -> str:
    """``UPSCALE_DEVICE``: ``auto`` picks CUDA when present, else the CPU."""
    import torch

    wanted = str(_setting("UPSCALE_DEVICE", "auto")).lower()
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("UPSCALE_DEVICE=%s but CUDA is not available; using the CPU", wanted)
        return "cpu"
    return wanted


def max_input_pixels(device: str) -> int:
    """``UPSCALE_MAX_INPUT_PIXELS`` everywhere; on the CPU also ``UPSCALE_CPU_MAX_INPUT_PIXELS``."""
    limit = int(_setting("UPSCALE_MAX_INPUT_PIXELS", 4_000_000))
    if device.split(":")[0] == "cpu":
        limit = min(limit, int(_setting("UPSCALE_CPU_MAX_INPUT_PIXELS", 1_048_576)))
    return limit


def check_size(height: int, width: int, device: str) -> None:
    """Refuse an input over the device's pixel limit (before anything is decoded or loaded)."""
    limit = max_input_pixels(device)
    if height * width > limit:
        raise UpscaleInputError(
            f"image is {width}x{height} ({height * width} pixels); the upscale limit on {device} is "
            f"{limit} pixels", "IMAGE_TOO_LARGE",
            {"width": width, "height": height, "max_pixels": limit, "device": device})


# -- tiling ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tile:
    """``window`` is what the network sees, ``core`` the part of the output it owns (input pixels)."""

    window: tuple[int, int, int, int]  # y0, y1, x0, x1
    core: tuple[int, int, int, int]


def _spans(length: int, tile: int, pad: int) -> list[tuple[int, int, int, int]]:
    window = tile + 2 * pad
    if length <= window:
        return [(0, length, 0, length)]
    spans = []
    for core0 in range(0, length, tile):
        core1 = min(core0 + tile, length)
        win0 = min(max(core0 - pad, 0), length - window)  # slide inwards at the borders
        spans.append((win0, win0 + window, core0, core1))
    return spans


def plan_tiles(height: int, width: int, tile: int, pad: int) -> list[Tile]:
    """Cover the image with same-size windows whose cores do not overlap.

    Every core keeps at least ``pad`` pixels of real context on each side (or the image border).
    """
    return [Tile((wy0, wy1, wx0, wx1), (cy0, cy1, cx0, cx1))
            for wy0, wy1, cy0, cy1 in _spans(height, tile, pad)
            for wx0, wx1, cx0, cx1 in _spans(width, tile, pad)]


# -- pixels ----------------------------------------------------------------------------------------------

def _value_range(pixels: np.ndarray) -> float:
    if pixels.dtype == np.uint8:
        return 255.0
    if pixels.dtype == np.uint16:
        return 65535.0
    if pixels.dtype == np.float32:
        return 1.0
    raise UpscaleInputError(f"unsupported pixel type {pixels.dtype}", "UNSUPPORTED_IMAGE")


def _split_alpha(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if pixels.ndim == 2:
        return pixels[:, :, None], None
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
        raise UpscaleInputError(f"unsupported image shape {pixels.shape}", "UNSUPPORTED_IMAGE")
    channels = pixels.shape[2]
    if channels in (2, 4):
        return pixels[:, :, : channels - 1], pixels[:, :, channels - 1]
    return pixels, None


def _resize_alpha(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    resized = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_CUBIC)  # saturates integer types
    return np.clip(resized, 0.0, 1.0, dtype=np.float32) if alpha.dtype == np.float32 else resized


# -- the engine ------------------------------------------------------------------------------------------

class _CompiledWithFallback:
    """Run the compiled network; if compilation ever fails, log it once and stay eager."""

    def __init__(self, eager: Callable, compiled: Callable):
        self.eager = eager
        self.compiled: Callable | None = compiled

    def __call__(self, batch: Any) -> Any:
        import torch

        if self.compiled is not None:
            try:
                return self.compiled(batch)
            except torch.cuda.OutOfMemoryError:
                raise
            except Exception:  # inductor/triton failures must not fail the run
                logger.exception("torch.compile failed for the upscale network; continuing in eager mode")
                self.compiled = None
        return self.eager(batch)


def network_blocks(net: Any) -> list[Any]:
    """The network's main blocks in order (RRDBNet's 23 RRDBs, SRVGGNetCompact's convolutions), for progress
    within a pass; empty when the network has no ``body`` of blocks."""
    body = getattr(net, "body", None)
    return list(body.children()) if body is not None else []


class UpscaleEngine:
    """One network on one device, shared by every request in the process."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", *, weights: Path | None = None,
                 warm_up: bool = True, batched: bool | None = None, adapter: bytes | None = None,
                 lora_weight: float = 1.0):
        """``batched`` defaults to CUDA-only; tests force it on the CPU to exercise the batching path.
        ``adapter``: a LoRA file (:mod:`pipelines.ml.lora`) of this model, merged into the weights at
        ``lora_weight`` (ValueError when it is not one, or not of this model)."""
        import torch

        from pipelines.ml.upscale_batcher import DirectRunner, MicroBatcher

        if model not in MODELS:
            raise UpscaleInputError(f"unknown model {model!r}", "INVALID_PARAM", {"allowed": list(MODELS)})
        self.model = model
        self.spec = MODELS[model]
        self.device = torch.device(device)
        self.weights = Path(weights) if weights else weights_path(model)
        self.tile_pad = int(_setting("UPSCALE_TILE_PAD", 16))
        self.cuda = self.device.type == "cuda"
        self.compiled = False
        net = load_network(model, self.weights)
        self.adapter_sha256 = hashlib.sha256(adapter).hexdigest() if adapter is not None else None
        if adapter is not None:
            from pipelines.ml import lora

            net = lora.apply(net, adapter, lora_weight, base_model=model, inplace=True)
        self.dtype = torch.float32
        forward: Callable = net
        if self.cuda:
            torch.backends.cudnn.benchmark = True
            if _flag("UPSCALE_HALF", True):
                self.dtype = torch.float16
            net = net.to(self.device, dtype=self.dtype, memory_format=torch.channels_last)
            forward = self._maybe_compile(net)
        # Progress inside one tile: on the CPU a tile takes seconds (its blocks report as they pass);
        # on a GPU a tile takes milliseconds and the per-tile report is enough (hooks would also break the
        # compiled graph).
        self._step = threading.local()
        self._usage = threading.Lock()
        self._users = 0
        self._retired = False
        if not self.cuda:
            blocks = network_blocks(net)
            for index, block in enumerate(blocks):
                block.register_forward_hook(self._step_hook((index + 1) / len(blocks)))
        if self.cuda if batched is None else batched:
            self.max_batch = max(1, int(_setting("UPSCALE_MAX_BATCH", 8)))
            self.runner: Any = MicroBatcher(self._forward(forward), max_batch=self.max_batch,
                                            max_wait_s=float(_setting("UPSCALE_BATCH_WAIT_MS", 5)) / 1000.0,
                                            name=f"upscale-{model}")
        else:
            self.max_batch = 1
            self.runner = DirectRunner(self._forward(forward))
        if warm_up and self.cuda:
            self.warm_up()

    def _step_hook(self, fraction: float) -> Callable:
        def hook(module: Any, args: Any, output: Any) -> None:
            report = getattr(self._step, "report", None)
            if report is not None:
                report(fraction)

        return hook

    def _maybe_compile(self, net: Any) -> Callable:
        import torch

        if not _flag("UPSCALE_COMPILE", True):
            return net
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(data_dir() / "cache" / "torchinductor"))
        mode = str(_setting("UPSCALE_COMPILE_MODE", "default"))
        try:
            # dynamic: one graph for every window size (small images are not padded up to a tile), so a
            # new image size never triggers a recompile in the middle of a request
            compiled = torch.compile(net, mode=None if mode == "default" else mode, dynamic=True)
        except Exception:
            logger.exception("torch.compile is unavailable; the upscale network runs eagerly")
            return net
        self.compiled = True
        return _CompiledWithFallback(net, compiled)

    def _forward(self, net: Callable) -> Callable:
        import torch

        channels_last = self.cuda

        def forward(batch: Any) -> Any:
            with torch.inference_mode():
                if channels_last:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                return net(batch)

        return forward

    def warm_up(self, tile_size: int = DEFAULT_TILE) -> float:
        """Run a full-size window at batch 1 and at the largest batch (compiles on CUDA); returns seconds."""
        import torch

        started = time.perf_counter()
        side = tile_size + 2 * self.tile_pad
        # The graphs torch.compile(dynamic=True) makes for these networks, each specialised by a guard:
        # batch 1 vs. batch > 1, and windows over vs. under ~6 800 pixels (conv's layout heuristic). Not
        # square: traced with equal sides, dynamo would also guard H == W ("duck sizing").
        shapes = [(1, (side, side - 8)), (self.max_batch, (side, side - 8)), (1, (40, 48))]
        for batch, (height, width) in shapes:
            zeros = torch.zeros((3, height, width), device=self.device, dtype=self.dtype)
            futures = [self.runner.submit(zeros) for _ in range(batch)]
            for future in futures:
                future.result()
        if self.cuda:
            torch.cuda.synchronize(self.device)
        elapsed = time.perf_counter() - started
        logger.info("upscale %s warm-up on %s took %.1f s", self.model, self.device, elapsed)
        return elapsed

    # -- one image ---------------------------------------------------------------------------------------

    def upscale(self, pixels: np.ndarray, *, scale: int = 4, tile_size: int = DEFAULT_TILE,
                progress: Callable[[float], None] | None = None) -> np.ndarray:
        """Upscale an engine array (see :mod:`pipelines.ml.upscale_io`) by ``scale``; same layout and type."""
        with self._usage:
            self._users += 1
        try:
            return self._upscale(pixels, scale=scale, tile_size=tile_size, progress=progress)
        finally:
            with self._usage:
                self._users -= 1
                close = self._retired and self._users == 0
            if close:
                self.runner.close()

    def retire(self) -> None:
        """Close the runner once no request uses the engine any more (an adapted engine leaving the LRU)."""
        with self._usage:
            self._retired = True
            close = self._users == 0
        if close:
            self.runner.close()

    def _upscale(self, pixels: np.ndarray, *, scale: int, tile_size: int,
                 progress: Callable[[float], None] | None) -> np.ndarray:
        import torch

        if scale not in SCALES:
            raise UpscaleInputError(f"scale must be one of {SCALES}", "INVALID_PARAM", {"scale": scale})
        if not MIN_TILE <= tile_size <= MAX_TILE:
            raise UpscaleInputError(f"tile_size must be within {MIN_TILE}..{MAX_TILE}", "INVALID_PARAM")
        value_range = _value_range(pixels)
        color, alpha = _split_alpha(pixels)
        height, width = color.shape[:2]
        if height == 0 or width == 0:
            raise UpscaleInputError("image is empty", "INVALID_IMAGE")
        check_size(height, width, self.device.type)

        channels = color.shape[2] + (alpha is not None)
        out = np.empty((height * scale, width * scale, channels), dtype=pixels.dtype)  # the one full-size buffer
        color_out = out[:, :, : color.shape[2]]
        tiles = plan_tiles(height, width, tile_size, self.tile_pad)
        if progress:  # never backwards: a tile's blocks report before the tiles in flight are counted done
            report, high = progress, [0.0]

            def progress(fraction: float) -> None:
                high[0] = max(high[0], fraction)
                report(high[0])
        in_flight: collections.deque = collections.deque()  # bounded: at most two batches' worth of tiles
        with torch.inference_mode():
            for index, tile in enumerate(tiles):
                if progress and not self.cuda:  # the blocks of this tile's pass report where it is
                    self._step.report = lambda f, index=index: progress((index + f) / len(tiles))
                try:
                    in_flight.append((tile, self.runner.submit(self._prepare(color, tile, value_range))))
                finally:
                    self._step.report = None
                if len(in_flight) >= 2 * self.max_batch:
                    self._store(color_out, *in_flight.popleft(), scale, value_range)
                if progress:
                    progress((index + 1 - len(in_flight)) / len(tiles))
            while in_flight:
                self._store(color_out, *in_flight.popleft(), scale, value_range)
        if alpha is not None:
            out[:, :, -1] = _resize_alpha(alpha, height * scale, width * scale)
        if progress:
            progress(1.0)
        return out[:, :, 0] if pixels.ndim == 2 else out

    def _prepare(self, color: np.ndarray, tile: Tile, value_range: float) -> Any:
        import torch

        y0, y1, x0, x1 = tile.window
        # a copy: decoded images are often read-only views, and torch has no general uint16 arithmetic
        window = np.array(color[y0:y1, x0:x1], dtype=np.float32 if color.dtype == np.uint16 else color.dtype)
        tensor = torch.from_numpy(window).to(self.device, non_blocking=True).permute(2, 0, 1)
        # normalise in float32 first: 16-bit values overflow float16 (max 65504)
        tensor = (tensor.float() / value_range).to(self.dtype)
        if tensor.shape[0] == 1:
            tensor = tensor.expand(3, -1, -1)
        return tensor.contiguous()

    def _store(self, out: np.ndarray, tile: Tile, future: Any, scale: int, value_range: float) -> None:
        import torch
        import torch.nn.functional as F

        result = future.result().float()  # 3 × 4h × 4w for the whole window
        y0, y1, x0, x1 = tile.window
        if scale != self.spec.net_scale:
            result = F.interpolate(result[None], size=((y1 - y0) * scale, (x1 - x0) * scale), mode="bicubic",
                                   align_corners=False)[0]
        cy0, cy1, cx0, cx1 = tile.core
        result = result[:, (cy0 - y0) * scale: (cy1 - y0) * scale, (cx0 - x0) * scale: (cx1 - x0) * scale]
        result = result.clamp(0.0, 1.0)
        if out.shape[2] == 1:
            weights = torch.tensor(LUMA, device=result.device, dtype=result.dtype)
            result = (result * weights[:, None, None]).sum(0, keepdim=True)
        if out.dtype != np.float32:
            result = (result * value_range).round_()
            result = result.to(torch.uint8 if out.dtype == np.uint8 else torch.int32)
        out[cy0 * scale: cy1 * scale, cx0 * scale: cx1 * scale] = result.permute(1, 2, 0).cpu().numpy()


# -- one engine per (model, device, weights) per process -------------------------------------------------

_engines: dict[tuple[str, str, str], UpscaleEngine] = {}
_engine_locks: dict[tuple[str, str, str], threading.Lock] = collections.defaultdict(threading.Lock)
_registry_lock = threading.Lock()


def get_engine(model: str = DEFAULT_MODEL, device: str | None = None) -> UpscaleEngine:
    """The process-wide engine for ``model`` (loaded on first use; thread-safe)."""
    if model not in MODELS:
        raise UpscaleInputError(f"unknown model {model!r}", "INVALID_PARAM", {"allowed": list(MODELS)})
    device = device or select_device()
    key = (model, device, str(weights_path(model)))
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _registry_lock:
        lock = _engine_locks[key]
    with lock:  # other models keep loading in parallel
        engine = _engines.get(key)
        if engine is None:
            engine = UpscaleEngine(model, device, weights=Path(key[2]))
            _engines[key] = engine
    return engine


def clear_engines() -> None:
    """Forget the cached engines, adapted ones included (tests; a worker never needs this)."""
    with _registry_lock:
        for engine in [*_engines.values(), *_adapted.values()]:
            engine.runner.close()
        _engines.clear()
        _adapted.clear()


# -- engines with a LoRA merged in: a small LRU per process -----------------------------------------------

_adapted: collections.OrderedDict[tuple, UpscaleEngine] = collections.OrderedDict()
_adapted_locks: dict[tuple, threading.Lock] = collections.defaultdict(threading.Lock)


def adapted_engines_max() -> int:
    """``UPSCALE_LORA_ENGINES`` (4): adapted engines kept per process (each holds a full copy of its network,
    67 MB for x4plus in float32, and on CUDA its own compiled graph)."""
    return max(1, int(_setting("UPSCALE_LORA_ENGINES", 4)))


def get_adapted_engine(model: str, adapter: bytes, lora_weight: float = 1.0,
                       device: str | None = None) -> UpscaleEngine:
    """An engine of ``model`` with the LoRA file ``adapter`` merged in at ``lora_weight``, cached by
    (model, device, weights, sha256 of the adapter, weight) in a least-recently-used set of
    :func:`adapted_engines_max` engines. A weight of 0 is the plain engine. ValueError for a file that is not
    a LoRA of ``model``."""
    if model not in MODELS:
        raise UpscaleInputError(f"unknown model {model!r}", "INVALID_PARAM", {"allowed": list(MODELS)})
    lora_weight = round(float(lora_weight), 4)
    if lora_weight == 0:
        return get_engine(model, device)
    device = device or select_device()
    key = (model, device, str(weights_path(model)), hashlib.sha256(adapter).hexdigest(), lora_weight)
    with _registry_lock:
        engine = _adapted.get(key)
        if engine is not None:
            _adapted.move_to_end(key)
            return engine
        lock = _adapted_locks[key]
    with lock:
        with _registry_lock:
            engine = _adapted.get(key)
        if engine is None:
            engine = UpscaleEngine(model, device, weights=Path(key[2]), adapter=adapter, lora_weight=lora_weight)
            evicted = []
            with _registry_lock:
                _adapted[key] = engine
                while len(_adapted) > adapted_engines_max():
                    old_key, old = _adapted.popitem(last=False)
                    _adapted_locks.pop(old_key, None)
                    evicted.append(old)
            for old in evicted:
                old.retire()  # its runner closes when the requests using it are done
    with _registry_lock:
        if key in _adapted:
            _adapted.move_to_end(key)
    return engine
