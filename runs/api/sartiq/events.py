"""Sartiq's webhook events: a run that ended sends its workflow's event when it is a workflow's run, else its
task's; a workflow that does not suppress its subtask events also sends each step's TaskStatusEvent as the step
ends (its final node completed, or one of its nodes failed or was blocked)."""

from __future__ import annotations

from typing import Any

from runs.api.sartiq import tasks, workflows
from runs.api.sartiq.models import SartiqTask
from runs.models import NodeStatus, Run


def payload(run: Run) -> dict[str, Any]:
    if hasattr(run, "sartiq_workflow"):
        return workflows.webhook_payload(run.sartiq_workflow)
    return tasks.webhook_payload(run)


def step_payload(run: Run, node_run: Any) -> dict[str, Any] | None:
    workflow = getattr(run, "sartiq_workflow", None)
    if workflow is None or workflow.suppress_subtask_events:
        return None
    ended = node_run.status in (NodeStatus.COMPLETED, NodeStatus.FAILED, NodeStatus.BLOCKED)
    if not ended:
        return None
    steps = SartiqTask.objects.filter(run_id=run.pk).exclude(prefix="").select_related("run", "step")
    task = next((t for t in steps if node_run.node_id.startswith(t.prefix)), None)
    if task is None or (node_run.status == NodeStatus.COMPLETED and node_run.node_id != task.final_node):
        return None
    return tasks.status_event(task)
