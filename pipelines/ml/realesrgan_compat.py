"""The one place that imports basicsr and realesrgan.

basicsr 1.4.2 (realesrgan's dependency) imports
``torchvision.transforms.functional_tensor``, a module that current torchvision
no longer has; the functions basicsr uses from it live in
``torchvision.transforms.functional``. We alias the old name before the first
import of basicsr. Every module of ours that needs an architecture or
``RealESRGANer`` goes through the functions below, so the alias is set exactly
once and nobody has to remember it.

Importing basicsr/realesrgan pulls in their whole packages (datasets, losses,
models): a couple of seconds, so it is done lazily, on first use.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_lock = threading.Lock()
_patched = False


def patch_torchvision() -> None:
    """Alias ``torchvision.transforms.functional_tensor`` (idempotent)."""
    global _patched
    if _patched:
        return
    with _lock:
        if _patched:
            return
        from torchvision.transforms import functional

        sys.modules.setdefault("torchvision.transforms.functional_tensor", functional)
        _patched = True


def rrdbnet_class() -> type:
    """basicsr's ``RRDBNet`` (RealESRGAN_x4plus and the anime_6B variant)."""
    patch_torchvision()
    from basicsr.archs.rrdbnet_arch import RRDBNet

    return RRDBNet


def srvgg_class() -> type:
    """realesrgan's ``SRVGGNetCompact`` (realesr-animevideov3)."""
    patch_torchvision()
    from realesrgan.archs.srvgg_arch import SRVGGNetCompact

    return SRVGGNetCompact


def realesrganer(**kwargs: Any) -> Any:
    """Build realesrgan's reference ``RealESRGANer`` (used by the parity test and the benchmark)."""
    patch_torchvision()
    from realesrgan import RealESRGANer

    return RealESRGANer(**kwargs)
