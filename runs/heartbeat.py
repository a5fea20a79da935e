"""The heartbeat of a running run: how a dead worker is told from a slow one."""

from __future__ import annotations

import threading

from django.conf import settings
from django.db import connection
from django.utils import timezone

from runs.models import Run, RunStatus


class Heartbeat:
    """Touches ``Run.heartbeat_at`` from a side thread while the run executes."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{run_id}", daemon=True)

    def _loop(self) -> None:
        try:
            while not self._stop.wait(settings.RUN_HEARTBEAT_SECONDS):
                Run.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
