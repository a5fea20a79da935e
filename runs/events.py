"""Run events: appended to the database (the source of truth) and pushed through the channel layer."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from runs.models import RunEvent

logger = logging.getLogger(__name__)


def group_name(run_id: str) -> str:
    return f"run.{run_id}"


def _push(run_id: str, event: RunEvent) -> None:
    layer = get_channel_layer()
    if layer is not None:
        try:
            async_to_sync(layer.group_send)(
                group_name(run_id), {"type": "run.event", "event": event.as_message()}
            )
        except Exception:  # noqa: BLE001 - subscribers also poll the database; never fail a run over a push
            logger.warning("could not push event %s", event.pk, exc_info=True)


def emit(run_id: str, type: str, node_id: str = "", data: dict[str, Any] | None = None) -> RunEvent:
    event = RunEvent.objects.create(run_id=run_id, type=type, node_id=node_id, data=data or {})
    _push(run_id, event)
    return event


class EventBuffer:
    """Collects a run's events and writes them in one statement (for runs that finish within a request)."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.pending: list[RunEvent] = []

    def emit(self, type: str, node_id: str = "", data: dict[str, Any] | None = None) -> None:
        self.pending.append(RunEvent(run_id=self.run_id, type=type, node_id=node_id, data=data or {}))

    def flush(self) -> None:
        if not self.pending:
            return
        RunEvent.objects.bulk_create(self.pending)
        self.pending = []
        # No push: such a run is over before anyone could subscribe; subscribers poll the database anyway.


def events_after(run_id: str, after: int = 0, limit: int = 500) -> list[RunEvent]:
    return list(RunEvent.objects.filter(run_id=run_id, pk__gt=after).order_by("pk")[:limit])
