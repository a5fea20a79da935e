"""Sartiq Compute's routes at the seed's own paths (tasks, storage, LoRA files).

``tasks/generation…`` comes before ``tasks/{task_id}`` (it would be taken for a task id). The seed writes
``/api/v1/tasks/`` with a slash and ``/api/v1/tasks/generation`` without; both spellings of each are routed
to the same view, so no request is redirected (Django's APPEND_SLASH would turn a POST into a GET). Any other
path under ``/api/v1/tasks`` is FastAPI's ``{"detail": "Not Found"}``.
"""

from __future__ import annotations

from django.urls import path, re_path

from runs.api.common import unmatched_view
from runs.api.sartiq import lora, monitoring, storage, views
from runs.api.sartiq import training as tr
from runs.api.sartiq import workflow_views as wv

Unmatched = unmatched_view(views.SartiqView, "Not Found")
# The other spelling of a path: the same operation, documented once.
TaskListAlias = type("TaskListAlias", (views.TaskListView,), {"schema": None})
GenerationListAlias = type("GenerationListAlias", (views.GenerationTaskListView,), {"schema": None})
EvaluationAlias = type("EvaluationAlias", (views.EvaluationView,), {"schema": None})
TrainingListAlias = type("TrainingListAlias", (tr.TrainingListView,), {"schema": None})
WorkflowListAlias = type("WorkflowListAlias", (wv.WorkflowListView,), {"schema": None})
EvaluationHealthAlias = type("EvaluationHealthAlias", (views.EvaluationHealthView,), {"schema": None})

urlpatterns = [
    path("api/v1/tasks/", views.TaskListView.as_view(), name="sartiq-tasks"),
    path("api/v1/tasks", TaskListAlias.as_view(), name="sartiq-tasks-noslash"),
    path("api/v1/tasks/generation", views.GenerationTaskListView.as_view(), name="sartiq-generation-tasks"),
    path("api/v1/tasks/generation/", GenerationListAlias.as_view(), name="sartiq-generation-tasks-slash"),
    path(
        "api/v1/tasks/generation/<str:task_id>",
        views.GenerationTaskDetailView.as_view(),
        name="sartiq-generation-task",
    ),
    path(
        "api/v1/tasks/generation/<str:task_id>/cancel",
        views.GenerationTaskCancelView.as_view(),
        name="sartiq-generation-task-cancel",
    ),
    path("api/v1/tasks/<str:task_id>", views.TaskDetailView.as_view(), name="sartiq-task"),
    path("api/v1/tasks/<str:task_id>/cleanup", views.TaskCleanupView.as_view(), name="sartiq-task-cleanup"),
    path("api/v1/tasks/<str:task_id>/cancel", views.TaskCancelView.as_view(), name="sartiq-task-cancel"),
    re_path(r"^api/v1/tasks/", Unmatched.as_view(), name="sartiq-unmatched"),
    path("api/v1/storage/images", storage.ImageListView.as_view(), name="sartiq-storage-images"),
    re_path(
        r"^api/v1/storage/images/(?P<path>.+)$", storage.ImageView.as_view(), name="sartiq-storage-image"
    ),
    re_path(r"^api/v1/storage/", Unmatched.as_view(), name="sartiq-storage-unmatched"),
    path("api/v1/evaluation/", views.EvaluationView.as_view(), name="sartiq-evaluation"),
    path("api/v1/evaluation", EvaluationAlias.as_view(), name="sartiq-evaluation-noslash"),
    path("api/v1/evaluation/health", views.EvaluationHealthView.as_view(), name="sartiq-evaluation-health"),
    path("api/v1/evaluation/health/", EvaluationHealthAlias.as_view(), name="sartiq-evaluation-health-slash"),
    re_path(r"^api/v1/evaluation/", Unmatched.as_view(), name="sartiq-evaluation-unmatched"),
    path("api/v1/training/", tr.TrainingListView.as_view(), name="sartiq-training"),
    path("api/v1/training", TrainingListAlias.as_view(), name="sartiq-training-noslash"),
    path("api/v1/training/<str:task_id>", tr.TrainingDetailView.as_view(), name="sartiq-training-task"),
    path("api/v1/training/<str:task_id>/cancel", tr.TrainingCancelView.as_view(), name="sartiq-training-cancel"),
    re_path(r"^api/v1/training/", Unmatched.as_view(), name="sartiq-training-unmatched"),
    path("api/v1/workflows/", wv.WorkflowListView.as_view(), name="sartiq-workflows"),
    path("api/v1/workflows", WorkflowListAlias.as_view(), name="sartiq-workflows-noslash"),
    path("api/v1/workflows/<str:workflow_id>", wv.WorkflowDetailView.as_view(), name="sartiq-workflow"),
    path("api/v1/workflows/<str:workflow_id>/start", wv.WorkflowStartView.as_view(), name="sartiq-workflow-start"),
    path(
        "api/v1/workflows/<str:workflow_id>/resume", wv.WorkflowResumeView.as_view(), name="sartiq-workflow-resume"
    ),
    path(
        "api/v1/workflows/<str:workflow_id>/cleanup",
        wv.WorkflowCleanupView.as_view(),
        name="sartiq-workflow-cleanup",
    ),
    re_path(r"^api/v1/workflows/", Unmatched.as_view(), name="sartiq-workflows-unmatched"),
    path(
        "api/v1/monitoring/workflows", wv.MonitoringWorkflowListView.as_view(), name="sartiq-monitoring-workflows"
    ),
    path(
        "api/v1/monitoring/workflows/stats",
        wv.MonitoringWorkflowStatsView.as_view(),
        name="sartiq-monitoring-workflow-stats",
    ),
    path(
        "api/v1/monitoring/workflows/<str:workflow_id>",
        wv.MonitoringWorkflowDetailView.as_view(),
        name="sartiq-monitoring-workflow",
    ),
    # monitoring: no trailing slash; workers/health is a route of its own
    path("api/v1/monitoring/tasks", monitoring.TaskListView.as_view(), name="sartiq-monitoring-tasks"),
    path(
        "api/v1/monitoring/tasks/<str:task_id>",
        monitoring.TaskDetailView.as_view(),
        name="sartiq-monitoring-task",
    ),
    path(
        "api/v1/monitoring/tasks/<str:task_id>/media",
        monitoring.TaskMediaView.as_view(),
        name="sartiq-monitoring-task-media",
    ),
    path("api/v1/monitoring/stats", monitoring.StatsView.as_view(), name="sartiq-monitoring-stats"),
    path("api/v1/monitoring/queues", monitoring.QueuesView.as_view(), name="sartiq-monitoring-queues"),
    path(
        "api/v1/monitoring/workers/health",
        monitoring.WorkersHealthView.as_view(),
        name="sartiq-monitoring-workers-health",
    ),
    path("api/v1/monitoring/workers", monitoring.WorkersView.as_view(), name="sartiq-monitoring-workers"),
    path("api/v1/lora/upload", lora.UserUploadView.as_view(), name="sartiq-lora-upload"),
    path("api/v1/admin/lora/upload", lora.AdminUploadView.as_view(), name="sartiq-admin-lora-upload"),
    path("api/v1/admin/lora", lora.AdminDeleteView.as_view(), name="sartiq-admin-lora"),
]
