"""WebSocket /ws/runs/<run id>/ — the run's events, live, with replay.

Authenticated by the session, ``?token=<JWT access token>`` or ``?key=<api key>``.
``?after=<event id>`` replays every event after that id first, so a late or
reconnecting subscriber misses nothing; then each event as it comes, in order,
until the run's end (:func:`runs.events.follow`: woken by the channel layer's
pushes when it spans processes, reading the database otherwise). A requeue after
a worker was lost is an event like the others (``run.requeued``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from runs.events import follow

logger = logging.getLogger(__name__)


@database_sync_to_async
def _user_from_query(params: dict[str, list[str]]) -> Any:
    """``?token=`` (an access token) or ``?key=`` (an API key with ``runs:read``); None when neither holds."""
    from rest_framework.exceptions import APIException

    from accounts.authentication import authenticate_key, user_from_access_token
    from accounts.scopes import Scope

    try:
        if params.get("token"):
            return user_from_access_token(params["token"][0])[0]
        if params.get("key"):
            return authenticate_key(params["key"][0], scopes=(Scope.RUNS_READ,))[0]
    except APIException:  # any bad token or key is just "no user"
        return None
    return None


@database_sync_to_async
def _can_see(user: Any, run_id: str) -> bool:
    from runs.access import runs_visible_to

    return runs_visible_to(user).filter(pk=run_id).exists()


class RunEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        params = parse_qs(self.scope.get("query_string", b"").decode())
        user = await _user_from_query(params)
        if user is None:
            scope_user = self.scope.get("user")
            user = scope_user if scope_user is not None and scope_user.is_authenticated else None
        if user is None or not await _can_see(user, self.run_id):
            await self.close(code=4403)
            return
        after = params.get("after", ["0"])[0]
        await self.accept()
        self.follower = asyncio.ensure_future(self._follow(int(after) if after.isdigit() else 0))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "follower"):
            self.follower.cancel()

    async def _follow(self, after: int) -> None:
        """Every event after ``after`` in order, until the run's end (runs.events.follow)."""
        try:
            async for event in follow(self.run_id, after):
                await self.send_json(event.as_message())
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - say so, rather than leave the subscriber waiting on a silent socket
            logger.exception("following run %s failed", self.run_id)
            await self.close(code=1011)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
