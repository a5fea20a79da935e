"""Low-rank adapters (LoRA) for the convolutions of our Real-ESRGAN networks.

A :class:`LoRAConv2d` wraps a frozen ``Conv2d`` and adds a trainable low-rank path::

    y = base(x) + up(down(x)) * (alpha / rank) * weight

``down`` is a ``k×k`` convolution with the base's stride, padding and dilation from the input channels to
``rank`` channels, ``up`` a ``1×1`` convolution from ``rank`` to the output channels, initialised to zero (so a
freshly attached adapter changes nothing). Neither has a bias, which keeps the merge exact.

Files are safetensors: the tensors ``<module>.lora_down.weight`` / ``<module>.lora_up.weight`` (``<module>`` is
the wrapped convolution's qualified name in the base network, e.g. ``body.4`` or ``body.0.rdb1.conv1``) and the
metadata ``{"format": "canvasflow-lora", "base_model", "rank", "alpha", "scale"}`` (strings, as safetensors
requires; ``scale`` is ``alpha / rank``, the factor applied at weight 1), plus whatever the caller adds.

Inference (:func:`apply`) merges the adapter into a copy of the base network: the low-rank path is itself a
``k×k`` convolution whose kernel is ``up · down``, so ``W' = W + scale · weight · (up ⊗ down)`` gives the same
output as the wrapped network (to float rounding, ~2e-5) at the base network's cost. Measured with
``bench/train_lora.py`` on the 2-core CPU machine for ``realesr-animevideov3``, rank 16, a 96×96 input: base
109 ms, merged 108 ms, unmerged 167 ms per pass (+53 %). So :func:`apply` merges by default; a merged network
also keeps the plain module layout that ``torch.compile`` and the engine's progress hooks expect. Training uses
the unmerged form (:func:`attach`).

Nothing here knows Django, storage or HTTP.
"""

from __future__ import annotations

import copy
import json
import math
import re
import struct
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

FORMAT = "canvasflow-lora"
MAX_RANK = 128
DEFAULT_TARGETS = ("body",)
_KEY = re.compile(r"^(?P<module>[A-Za-z0-9_.]+)\.lora_(?P<part>down|up)\.weight$")


class LoRAConv2d(nn.Module):
    """A frozen ``Conv2d`` plus a trainable low-rank path; ``lora_weight`` scales the path at run time."""

    def __init__(self, base: nn.Conv2d, rank: int, alpha: float, lora_weight: float = 1.0, *,
                 generator: torch.Generator | None = None):
        super().__init__()
        if base.groups != 1:
            raise ValueError("LoRAConv2d supports ungrouped convolutions only")
        if not 1 <= rank <= MAX_RANK:
            raise ValueError(f"rank must be within 1..{MAX_RANK}")
        self.base = base.requires_grad_(False)
        self.rank = int(rank)
        self.alpha = float(alpha)
        self.lora_weight = float(lora_weight)
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_down = nn.Conv2d(base.in_channels, rank, base.kernel_size, base.stride, base.padding,
                                   base.dilation, bias=False, padding_mode=base.padding_mode, **factory)
        self.lora_up = nn.Conv2d(rank, base.out_channels, 1, bias=False, **factory)
        nn.init.kaiming_uniform_(self.lora_down.weight, a=math.sqrt(5), generator=generator)
        nn.init.zeros_(self.lora_up.weight)

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.lora_up(self.lora_down(x)) * (self.scale * self.lora_weight)

    def delta(self) -> torch.Tensor:
        """The low-rank path as one kernel of the base's shape (at weight 1)."""
        up = self.lora_up.weight.flatten(1)  # out × rank
        return torch.einsum("or,rikl->oikl", up, self.lora_down.weight) * self.scale

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha}, lora_weight={self.lora_weight}"


def _selected(name: str, targets: Iterable[str]) -> bool:
    return any(name == t or name.startswith(t + ".") for t in targets)


def attach(net: nn.Module, rank: int, alpha: float, targets: Iterable[str] | None = None, *,
           generator: torch.Generator | None = None) -> list[str]:
    """Wrap, in place, every ``Conv2d`` of ``net`` whose qualified name is, or is inside, one of ``targets``
    (default ``("body",)``: SRVGGNetCompact's 18 convolutions; RRDBNet's 5 convolutions of each dense block of
    each RRDB, i.e. 345 for x4plus and 90 for anime_6B — not conv_first, conv_body or the upsampling convs).
    Freezes the rest of the network; ``generator`` seeds the down convolutions' initialisation. Returns the
    wrapped names, in order."""
    targets = tuple(targets) if targets is not None else DEFAULT_TARGETS
    names = [name for name, module in net.named_modules()
             if isinstance(module, nn.Conv2d) and _selected(name, targets)
             and not any(part.startswith("lora_") for part in name.split("."))]
    if not names:
        raise ValueError(f"no Conv2d of the network matches the targets {list(targets)}")
    net.requires_grad_(False)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = net.get_submodule(parent_name) if parent_name else net
        setattr(parent, child, LoRAConv2d(getattr(parent, child), rank, alpha, generator=generator))
    return names


def adapters(net: nn.Module) -> dict[str, LoRAConv2d]:
    return {name: m for name, m in net.named_modules() if isinstance(m, LoRAConv2d)}


def adapter_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's tensors only (detached float32 CPU copies), keyed ``<module>.lora_{down,up}.weight``."""
    state = {}
    for name, module in adapters(net).items():
        state[f"{name}.lora_down.weight"] = module.lora_down.weight.detach().float().cpu().contiguous()
        state[f"{name}.lora_up.weight"] = module.lora_up.weight.detach().float().cpu().contiguous()
    if not state:
        raise ValueError("the network has no LoRA adapter attached")
    return state


def load_adapter_state(net: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` into the adapters attached to ``net`` (same modules, same shapes, or ValueError)."""
    modules = adapters(net)
    expected = {f"{n}.lora_{p}.weight" for n in modules for p in ("down", "up")}
    if set(state) != expected:
        raise ValueError("the adapter does not fit this network: its modules differ")
    with torch.no_grad():
        for key, tensor in state.items():
            module_name, _, part = key.rpartition(".lora_")
            target = getattr(modules[module_name], "lora_" + part.split(".")[0]).weight
            if tuple(target.shape) != tuple(tensor.shape):
                raise ValueError(f"the adapter does not fit this network: {key} is {tuple(tensor.shape)}, "
                                 f"expected {tuple(target.shape)}")
            target.copy_(tensor)


# -- files -----------------------------------------------------------------------------------------------


def to_bytes(state: dict[str, torch.Tensor], metadata: dict[str, Any]) -> bytes:
    """A safetensors file of ``state``. ``metadata`` must name ``base_model``, ``rank`` and ``alpha``;
    ``format`` and ``scale`` are filled in; every value is stored as a string."""
    from safetensors.torch import save

    missing = [k for k in ("base_model", "rank", "alpha") if k not in metadata]
    if missing:
        raise ValueError(f"adapter metadata lacks {missing}")
    rank, alpha = int(metadata["rank"]), float(metadata["alpha"])
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    meta.update(format=FORMAT, rank=str(rank), alpha=repr(alpha), scale=repr(alpha / rank))
    _check_state(state, rank)
    return save({k: v.detach().float().cpu().contiguous() for k, v in state.items()}, metadata=meta)


def read_metadata(data: bytes) -> dict[str, str]:
    """The safetensors header's ``__metadata__`` (ValueError when ``data`` is not a safetensors file)."""
    if len(data) < 8:
        raise ValueError("not a safetensors file: too short")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8 or size > 100 * 1024 * 1024:
        raise ValueError("not a safetensors file: bad header size")
    try:
        header = json.loads(data[8:8 + size])
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError("not a safetensors file: unreadable header") from exc
    if not isinstance(header, dict):
        raise ValueError("not a safetensors file: bad header")
    meta = header.get("__metadata__") or {}
    return meta if isinstance(meta, dict) else {}


def from_bytes(data: bytes) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(metadata, state)`` of a Canvasflow LoRA file; ValueError for anything else (another program's
    safetensors, a FLUX LoRA, a damaged file) saying what is wrong. ``metadata`` has ``base_model`` (str),
    ``rank`` (int), ``alpha`` and ``scale`` (float) typed; other entries stay strings."""
    from pipelines.ml.upscale_models import MODELS

    meta: dict[str, Any] = dict(read_metadata(data))
    if meta.get("format") != FORMAT:
        raise ValueError(f"not a Canvasflow upscaler LoRA (its metadata format is {meta.get('format')!r}, "
                         f"expected {FORMAT!r})")
    if meta.get("base_model") not in MODELS:
        raise ValueError(f"the LoRA's base_model {meta.get('base_model')!r} is not one of {list(MODELS)}")
    try:
        meta["rank"] = int(meta["rank"])
        meta["alpha"] = float(meta["alpha"])
        meta["scale"] = meta["alpha"] / meta["rank"]
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"the LoRA's rank/alpha metadata is invalid: {exc}") from exc
    if not 1 <= meta["rank"] <= MAX_RANK or not math.isfinite(meta["alpha"]) or meta["alpha"] <= 0:
        raise ValueError(f"the LoRA's rank ({meta['rank']}) or alpha ({meta['alpha']}) is out of range")
    try:
        from safetensors.torch import load

        state = load(bytes(data))
    except Exception as exc:  # safetensors raises its own error type for damaged files
        raise ValueError(f"the LoRA file is damaged: {exc}") from exc
    _check_state(state, meta["rank"])
    return meta, state


def _check_state(state: dict[str, torch.Tensor], rank: int) -> None:
    if not state:
        raise ValueError("the LoRA has no tensors")
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        match = _KEY.match(key)
        if match is None:
            raise ValueError(f"unexpected tensor {key!r} in the LoRA")
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise ValueError(f"tensor {key!r} of the LoRA is not finite floating point")
        parts.setdefault(match["module"], {})[match["part"]] = tensor
    for module, pair in parts.items():
        down, up = pair.get("down"), pair.get("up")
        if down is None or up is None:
            raise ValueError(f"the LoRA lacks the down or up weight of {module}")
        if down.ndim != 4 or up.ndim != 4 or down.shape[0] != rank or up.shape[1] != rank \
                or up.shape[2:] != (1, 1):
            raise ValueError(f"the LoRA's weights of {module} do not have rank {rank}")


# -- inference -------------------------------------------------------------------------------------------


def apply(net: nn.Module, data: bytes, weight: float = 1.0, *, merge: bool = True,
          base_model: str | None = None, inplace: bool = False) -> nn.Module:
    """A copy of ``net`` with the adapter in ``data`` applied at ``weight`` (``net`` is left as it is, unless
    ``inplace``: then ``net`` itself is changed and returned — for a network loaded just for this).

    ``merge`` (default): the adapter is folded into the convolution weights, so the copy has the base's layout
    and speed; otherwise the copy's convolutions are wrapped in :class:`LoRAConv2d`. ``base_model``, when
    given, must be the adapter's (else ValueError). The adapter's modules must exist in ``net`` as
    convolutions of the right shapes (else ValueError)."""
    meta, state = from_bytes(data)
    if base_model is not None and meta["base_model"] != base_model:
        raise ValueError(f"the LoRA was trained on {meta['base_model']}, not {base_model}")
    out = net if inplace else copy.deepcopy(net)
    names = sorted({_KEY.match(k)["module"] for k in state})
    for name in names:
        try:
            conv = out.get_submodule(name)
        except AttributeError as exc:
            raise ValueError(f"the LoRA names {name}, which this network does not have") from exc
        if not isinstance(conv, nn.Conv2d) or conv.groups != 1:
            raise ValueError(f"the LoRA names {name}, which is not a convolution of this network")
        down, up = state[f"{name}.lora_down.weight"], state[f"{name}.lora_up.weight"]
        if down.shape[1:] != conv.weight.shape[1:] or up.shape[0] != conv.out_channels:
            raise ValueError(f"the LoRA's weights of {name} do not fit this network's convolution")
    if merge:
        with torch.no_grad():
            for name in names:
                conv = out.get_submodule(name)
                up = state[f"{name}.lora_up.weight"].flatten(1)
                delta = torch.einsum("or,rikl->oikl", up, state[f"{name}.lora_down.weight"])
                conv.weight.add_((delta * (meta["scale"] * weight)).to(conv.weight))
        return out
    wrapped = attach(out, meta["rank"], meta["alpha"], targets=names)
    if sorted(wrapped) != names:  # a target that is a prefix of others would wrap more than the file has
        raise ValueError("the LoRA's modules do not match this network's convolutions")
    load_adapter_state(out, state)
    for module in adapters(out).values():
        module.lora_weight = float(weight)
    return out
