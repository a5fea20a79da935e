"""The webhook event of a Sartiq run that ended: its workflow's when it is a workflow's run, else its task's."""

from __future__ import annotations

from typing import Any

from runs.api.sartiq import tasks, workflows
from runs.models import Run


def payload(run: Run) -> dict[str, Any]:
    if hasattr(run, "sartiq_workflow"):
        return workflows.webhook_payload(run.sartiq_workflow)
    return tasks.webhook_payload(run)
