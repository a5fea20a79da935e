"""The heartbeat of a running run: how a dead worker is told from a slow one.

Each running run's worker touches ``Run.heartbeat_at`` every RUN_HEARTBEAT_SECONDS from a side thread; a run
whose heartbeat is older than STALE_RUN_SECONDS lost its worker. The same thread sweeps for such runs every
RUN_STALE_SWEEP_SECONDS (:func:`runs.recovery.recover_stale_runs`, one indexed query when there are none), so
that while any worker is busy a dead one's run is requeued within seconds; followers of a run do the same for
the run they follow (runs.events.follow) and django-q2's schedule once a minute for the rest.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from runs.models import Run, RunStatus
from runs.recovery import recover_stale_runs

logger = logging.getLogger(__name__)


class Heartbeat:
    """Touches ``Run.heartbeat_at`` from a side thread while the run executes, and sweeps for stale runs."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{run_id}", daemon=True)

    def _beat(self) -> None:
        Run.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())

    def _loop(self) -> None:
        next_sweep = time.monotonic()  # a worker that starts a run looks for dead ones at once
        try:
            while True:
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + settings.RUN_STALE_SWEEP_SECONDS
                    self._guarded(recover_stale_runs)
                if self._stop.wait(settings.RUN_HEARTBEAT_SECONDS):
                    return
                # A beat that fails (a locked SQLite file, a dropped connection) must not end the heartbeat:
                # the run would look dead seconds later and be run twice.
                self._guarded(self._beat)
        finally:
            connection.close()

    def _guarded(self, action) -> None:
        try:
            action()
        except Exception:  # noqa: BLE001
            logger.warning("heartbeat of run %s: %s failed", self.run_id, action.__name__, exc_info=True)
            connection.close()  # a broken connection is opened again on the next query

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        # Not longer: a beat waiting for a database lock must not hold up the end of the run. Such a late beat
        # only touches a run that is still running, so it is harmless once the run is over.
        self._thread.join(timeout=1)
