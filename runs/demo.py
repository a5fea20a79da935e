"""Demo content of the runs app for `manage.py seed_demo`: the demo user is in Fluxara's closed beta, so the
demo pipelines can be called on every surface."""

from __future__ import annotations

from typing import Any

from runs.beta import approve


def seed(user: Any, stdout: Any) -> None:
    approve(user)
