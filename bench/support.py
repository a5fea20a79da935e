"""What the benchmarks share: a fresh site in a temporary data folder (embedded defaults, migrated), Django
set up on it, and percentiles. The folder is kept when BENCH_KEEP is set."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


@contextlib.contextmanager
def fresh_site(name: str, **env_vars: str) -> Iterator[dict[str, str]]:
    """A migrated SQLite site in a new data folder; yields its environment (``env_vars`` on top), for this
    process (:func:`setup_django`) and for the servers and workers a benchmark starts."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"canvasflow-bench-{name}-"))
    env = {
        **os.environ,
        "CANVASFLOW_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **env_vars,
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        yield env
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(data_dir, ignore_errors=True)


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()
