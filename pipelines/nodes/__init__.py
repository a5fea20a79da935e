"""Node registry: one module per family. Every module in this package that
defines node types is imported by :func:`load_all`; a family whose optional
dependencies (torch, onnxruntime, ...) are missing is skipped with a warning so
the core stays usable without the AI stack."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading

logger = logging.getLogger(__name__)
_loaded = False
_lock = threading.Lock()
UNAVAILABLE: dict[str, str] = {}


def load_all() -> None:
    """Import every family once. Thread-safe, and complete when it returns: a request served while another
    thread is still importing waits for it instead of seeing half a registry. PipelinesConfig.ready calls it,
    so a server has the whole registry before its first request."""
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for info in pkgutil.iter_modules(__path__):
            if info.name.startswith("_") or info.name == "base":
                continue
            try:
                importlib.import_module(f"{__name__}.{info.name}")
            except ImportError as exc:  # optional stack not installed
                UNAVAILABLE[info.name] = str(exc)
                logger.warning("node family %s unavailable: %s", info.name, exc)
        _loaded = True
