"""WebSocket /ws/runs/<run id>/ — the run's events, live, with replay.

Authenticated by the session, ``?token=<JWT access token>`` or ``?key=<api key>``.
``?after=<event id>`` replays every event after that id first, so a late or
reconnecting subscriber misses nothing. Events arrive through the channel layer
and, because the database is the source of truth (a worker on another host may
use an in-memory layer), the consumer also reads new RunEvents itself;
duplicates are dropped by event id.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from runs.events import events_after, group_name

TERMINAL_EVENTS = {"run.completed", "run.failed", "run.cancelled", "run.blocked"}
POLL_SECONDS = 0.2


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


@database_sync_to_async
def _backlog(run_id: str, after: int) -> list[dict]:
    return [e.as_message() for e in events_after(run_id, after)]


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
        self.last_id = int(after) if after.isdigit() else 0
        self.finished = False
        self.lock = asyncio.Lock()
        await self.accept()
        await self.channel_layer.group_add(group_name(self.run_id), self.channel_name)
        await self._catch_up()
        self.poller = asyncio.ensure_future(self._poll())

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "poller"):
            self.poller.cancel()
        if hasattr(self, "last_id"):
            await self.channel_layer.group_discard(group_name(self.run_id), self.channel_name)

    async def _send_event(self, message: dict) -> None:
        if message["id"] <= self.last_id:
            return
        self.last_id = message["id"]
        await self.send_json(message)
        if message["type"] in TERMINAL_EVENTS:
            self.finished = True

    async def _catch_up(self) -> None:
        async with self.lock:
            for message in await _backlog(self.run_id, self.last_id):
                await self._send_event(message)

    async def _poll(self) -> None:
        while not self.finished:
            await asyncio.sleep(POLL_SECONDS)
            await self._catch_up()

    async def run_event(self, event: dict) -> None:
        # The push is a wake-up; events are read from the database so they always arrive in order.
        await self._catch_up()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
