"""Micro-batching of concurrent inference requests inside one worker process.

A GPU runs one 8-tile batch almost as fast as one tile, so when several runs
upscale at the same time (threads of one django-q2 worker, or the tiles of
one large image) we gather their tiles for a few milliseconds and run them as
one batch. One daemon thread per model owns the network: it is the only
thread that calls it, which also makes the (compiled) module safe to share.

:class:`DirectRunner` has the same interface without a thread, for the CPU,
where batching buys nothing and a lock keeps concurrent runs from fighting
over the cores.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

logger = logging.getLogger(__name__)

_STOP = object()


class DirectRunner:
    """Runs each item at once in the caller's thread (one at a time)."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn = fn
        self._lock = threading.Lock()
        self.batches = 0
        self.items = 0

    def submit(self, item: Any) -> Future:
        future: Future = Future()
        try:
            with self._lock:
                self.batches += 1
                self.items += 1
                future.set_result(self.fn(item.unsqueeze(0))[0])
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future

    def close(self) -> None:
        pass


class MicroBatcher:
    """Collects items (tensors of shape ``C,H,W``) for up to ``max_wait_s`` and runs same-shape items together.

    ``fn`` receives a stacked ``N,C,H,W`` batch and returns an ``N,...`` result; each
    caller's future gets its own row. A batch that fails with an out-of-memory
    error is retried item by item before the error is handed back.
    """

    def __init__(self, fn: Callable[[Any], Any], *, max_batch: int = 8, max_wait_s: float = 0.005,
                 name: str = "upscale-batcher"):
        self.fn = fn
        self.max_batch = max(1, int(max_batch))
        self.max_wait_s = max(0.0, float(max_wait_s))
        self.name = name
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0
        self.items = 0

    def submit(self, item: Any) -> Future:
        future: Future = Future()
        self._ensure_thread()
        self._queue.put((item, future))
        return future

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=5)
            self._thread = None

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()

    def _collect(self) -> tuple[list[tuple[Any, Future]], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        pending = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(pending) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                entry = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is _STOP:
                return pending, True
            pending.append(entry)
        return pending, False

    def _loop(self) -> None:
        while True:
            pending, stop = self._collect()
            groups: dict[tuple, list[tuple[Any, Future]]] = defaultdict(list)
            for item, future in pending:
                if future.set_running_or_notify_cancel():
                    groups[(tuple(item.shape), item.dtype)].append((item, future))
            for group in groups.values():
                self._run_group(group)
            if stop:
                return

    def _run_group(self, group: list[tuple[Any, Future]]) -> None:
        import torch

        try:
            results = self.fn(torch.stack([item for item, _ in group]))
            self.batches += 1
            self.items += len(group)
            for row, (_, future) in enumerate(group):
                future.set_result(results[row])
        except torch.cuda.OutOfMemoryError as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            logger.warning("%s: out of memory on a batch of %d, retrying one by one", self.name, len(group))
            torch.cuda.empty_cache()
            for entry in group:
                self._run_group([entry])
        except BaseException as exc:  # noqa: BLE001 - every waiting caller must be released
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
