"""The seed's training webhook events: TrainingStatusEvent and PreprocessingStatusEvent (BaseEvent + their own)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from training.models import TrainingTask


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _base(task: TrainingTask, event_type: str, status: str) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "task_id": str(task.pk),
        "status": status,
        "timestamp": timezone.now().isoformat(),
        "entity_id": str(task.entity_id) if task.entity_id else None,
        "origin_instance": task.origin_instance,
        "origin_zone": task.origin_zone,
        "origin_version": task.origin_version,
        "metadata": {"trigger_word": task.trigger_word, "origin_tenant_id": task.origin_tenant_id,
                     "base_model": task.base_model},
    }


def training_event(task: TrainingTask) -> dict[str, Any]:
    return {
        **_base(task, "TRAINING_STATUS", task.status),
        "progress": task.progress,
        "current_step": task.current_step,
        "total_steps": task.total_steps,
        "eta_seconds": task.eta_seconds,
        "local_model_path": task.local_model_path,
        "completed_at": _iso(task.completed_at),
        "error_message": task.error_message,
    }


def preprocessing_event(task: TrainingTask) -> dict[str, Any]:
    done = task.processed_files_count or 0
    total = task.total_files_count or 0
    return {
        **_base(task, "PREPROCESSING_STATUS", task.status),
        "progress": round(100.0 * done / total, 2) if total else 0.0,
        "current_stage": task.preprocessing_stage,
        "processed_files_count": done,
        "total_files_count": total,
        "processed_dataset_path": task.processed_dataset_path,
        "completed_at": _iso(task.preprocessing_completed_at),
        "error_message": task.error_message,
    }
