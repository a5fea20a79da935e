"""Executing a run on a thread of its own, as a worker would, while the test acts on it (cancels it)."""

from __future__ import annotations

import threading

from django.db import connection


def execute_in_background(run_id: str) -> tuple[threading.Thread, dict]:
    """Start ``runs.engine.execute_run(run_id)`` on a thread; the dict gets its result under "status"."""
    from runs.engine import execute_run

    result: dict = {}

    def work() -> None:
        try:
            result["status"] = execute_run(run_id)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    return worker, result
