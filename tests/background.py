"""Work in the background while a test acts on it: a run executed on a thread of its own, as a worker would,
and the environment of a real worker process."""

from __future__ import annotations

import os
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


def worker_env(**extra: str) -> dict:
    """The environment of a qcluster process against this test's database (its SQLite file or PostgreSQL
    database) and broker; ``extra`` overrides settings for it."""
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["SQLITE_PATH"] = str(db["NAME"])
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER'] or ''}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}"
            f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    env.update(
        FETCH_ALLOW_LOOPBACK="1",
        Q_WORKERS="1",
        Q_POLL="0.05",
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env
