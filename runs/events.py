"""Run events: appended to the database (the source of truth) and pushed through the channel layer.

:func:`follow` is the one way to follow a run, for every follower (the Fizzly SSE stream, the WebSocket
consumer, the synchronous execute wait through :func:`wait`): it replays what the database holds after the
follower's last event id, then waits. With a channel layer that spans processes (channels-redis) it sleeps
until an event is pushed, the push being only a wake-up: the events are read from the database, by id, so they
arrive in order and a duplicate push costs one read; a slow safety read makes a lost push harmless. With the
in-memory layer a worker's pushes never reach the web process, so the follower polls the database, backing off
while nothing happens. A follower that sees the run's heartbeat go stale asks for the run's recovery
(:func:`on_stale_run`), so a dead worker is noticed within seconds even when no other worker is running.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import DEFAULT_CHANNEL_LAYER, InMemoryChannelLayer, channel_layers, get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from runs.models import TERMINAL, Run, RunEvent, RunStatus

logger = logging.getLogger(__name__)

# The events that end a run: a follower stops after one of them (runs.models.TERMINAL names the statuses).
TERMINAL_EVENTS = frozenset({"run.completed", "run.failed", "run.cancelled", "run.blocked"})


def group_name(run_id: str) -> str:
    return f"run.{run_id}"


def _push(run_id: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        try:
            async_to_sync(layer.group_send)(group_name(run_id), {"type": "run.event", "event": message})
        except Exception:  # noqa: BLE001 - followers also read the database; never fail a run over a push
            logger.warning("could not push event %s", message["id"], exc_info=True)


def emit(run_id: str, type: str, node_id: str = "", data: dict[str, Any] | None = None) -> RunEvent:
    event = RunEvent.objects.create(run_id=run_id, type=type, node_id=node_id, data=data or {})
    # Pushed once committed: a follower woken by it must find the event in the database.
    transaction.on_commit(partial(_push, run_id, event.as_message()))
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
        # No push: such a run is over before anyone could subscribe; a follower reads the database first.


def events_after(run_id: str, after: int = 0, limit: int = 500) -> list[RunEvent]:
    return list(RunEvent.objects.filter(run_id=run_id, pk__gt=after).order_by("pk")[:limit])


# -- following a run ---------------------------------------------------------------------------------

# What a follower calls, with the run id, when the run's heartbeat went stale (runs.recovery registers it
# when the app loads: this module cannot import the recovery, which emits events).
_stale_handlers: list[Callable[[str], Any]] = []


def on_stale_run(handler: Callable[[str], Any]) -> None:
    if handler not in _stale_handlers:
        _stale_handlers.append(handler)


def _recover(run_id: str) -> None:
    for handler in _stale_handlers:
        try:
            handler(run_id)
        except Exception:  # noqa: BLE001 - the sweeps will try again; a follower keeps following
            logger.warning("recovery of stale run %s failed", run_id, exc_info=True)


# One layer instance per event loop: channels-redis receives on one loop per instance.
_loop_layers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def push_spans_processes() -> bool:
    """Whether a worker's pushes reach this process (channels-redis), so that followers may wait for them."""
    if not settings.RUN_FOLLOW_PUSH:
        return False
    layer = get_channel_layer()
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def _push_layer() -> Any:
    if not push_spans_processes():
        return None
    loop = asyncio.get_running_loop()
    layer = _loop_layers.get(loop)
    if layer is None:
        layer = _loop_layers[loop] = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    return layer


def _state(run_id: str) -> dict | None:
    """The run's status, heartbeat and last event id, in one indexed query."""
    last = RunEvent.objects.filter(run=OuterRef("pk")).order_by("-pk").values("pk")[:1]
    return (
        Run.objects.filter(pk=run_id)
        .annotate(last_event=Subquery(last))
        .values("status", "heartbeat_at", "last_event")
        .first()
    )


class _Watch:
    """Watches one run for all its followers in this process and event loop: 50 subscribers of a run cost one
    database read per interval, one subscription to its pushes and one recovery when its heartbeat stops.

    Each read is published as a new version of ``state`` (status, heartbeat, last event id); the followers
    read the events themselves, after their own last id."""

    def __init__(self, run_id: str, loop: asyncio.AbstractEventLoop):
        self.run_id = run_id
        self.loop = loop
        self.poll_caps: list[float] = []  # one per follower: the longest wait it accepts without a push layer
        self.state: dict | None = None
        self.version = 0
        self._next = loop.create_future()
        self.woke = asyncio.Event()
        self.task: asyncio.Task | None = None

    def publish(self, state: dict | None) -> None:
        self.state = state
        self.version += 1
        done, self._next = self._next, self.loop.create_future()
        done.set_result(None)

    async def newer_than(self, seen: int, timeout: float | None) -> bool:
        """Whether a state newer than version ``seen`` came within ``timeout`` seconds."""
        if self.version > seen:
            return True
        done, _ = await asyncio.wait({self._next}, timeout=timeout)
        return bool(done)

    async def run(self) -> None:
        read_state = _database(_state)
        recover = _database(_recover)
        poll_min = settings.RUN_FOLLOW_POLL_MIN
        stale_after = timedelta(seconds=settings.STALE_RUN_SECONDS)
        layer = _push_layer()
        receiver = channel = None
        if layer is not None:
            try:
                channel = await layer.new_channel()
                await layer.group_add(group_name(self.run_id), channel)
                receiver = asyncio.ensure_future(_wake_on_push(layer, channel, self.woke))
            except Exception:  # noqa: BLE001 - no push: poll as with the in-memory layer
                logger.warning("cannot subscribe to run %s pushes; polling", self.run_id, exc_info=True)
                layer = channel = None
        delay = poll_min
        recovery_asked = float("-inf")
        try:
            while True:
                self.woke.clear()
                try:
                    state = await read_state(self.run_id)
                except Exception:  # noqa: BLE001 - a database hiccup: the followers wait, the watch reads again
                    logger.warning("reading run %s failed", self.run_id, exc_info=True)
                    await asyncio.sleep(max(delay, 1.0))
                    continue
                before = self.state
                self.publish(state)
                if state is None:
                    return  # the run is gone: its followers end
                if before is None or (before["status"], before["last_event"]) != (
                    state["status"],
                    state["last_event"],
                ):
                    delay = poll_min
                heartbeat, now = state["heartbeat_at"], self.loop.time()
                if (
                    state["status"] == RunStatus.RUNNING
                    and (heartbeat is None or timezone.now() - heartbeat > stale_after)
                    and now - recovery_asked > stale_after.total_seconds()
                ):
                    recovery_asked = now
                    await recover(self.run_id)
                    continue  # read what the recovery wrote
                if layer is not None:
                    wait = settings.RUN_FOLLOW_SAFETY_SECONDS
                else:
                    wait = min([delay, *self.poll_caps])
                    delay = min(settings.RUN_FOLLOW_POLL_MAX, delay * 1.5)  # back to poll_min on a change
                await _woken(self.woke, wait)
        finally:
            if receiver is not None:
                receiver.cancel()
            if channel is not None:
                try:
                    await layer.group_discard(group_name(self.run_id), channel)
                except Exception:  # noqa: BLE001 - the group entry expires by itself
                    logger.debug("group_discard failed", exc_info=True)


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Watch]] = (
    weakref.WeakKeyDictionary()
)


def _join(run_id: str, poll_cap: float) -> _Watch:
    loop = asyncio.get_running_loop()
    watches = _watches.setdefault(loop, {})
    watch = watches.get(run_id)
    if watch is None or watch.task is None or watch.task.done():
        watch = watches[run_id] = _Watch(run_id, loop)
        watch.task = asyncio.ensure_future(watch.run())
    watch.poll_caps.append(poll_cap)
    watch.woke.set()  # a fresh read for the newcomer
    return watch


def _leave(watch: _Watch, poll_cap: float) -> None:
    watch.poll_caps.remove(poll_cap)
    if not watch.poll_caps:
        watches = _watches.get(watch.loop, {})
        if watches.get(watch.run_id) is watch:
            del watches[watch.run_id]
        if watch.task is not None:
            watch.task.cancel()


def _database(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``sync_to_async(fn)`` that honours a cancellation which arrives while ``fn`` runs in its thread: asgiref
    waits for the thread and may hand back its result with the task's cancellation swallowed, and a watch
    that goes on after that keeps its event loop from ever closing (asyncio.run cancels every task and waits
    for them)."""
    call = sync_to_async(fn)

    async def run(*args: Any) -> Any:
        result = await call(*args)
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        return result

    return run


async def _woken(event: asyncio.Event, timeout: float) -> None:
    """Wait until ``event`` is set or ``timeout`` seconds pass. Not ``asyncio.wait_for``: on Python 3.11, a
    task cancelled while in ``wait_for`` at the moment its event loop shuts down (``asyncio.run`` cancelling
    every task at once) can wait forever for its inner task, and the loop never closes."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


async def _wake_on_push(layer: Any, channel: str, woke: asyncio.Event) -> None:
    while True:
        try:
            await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the safety read keeps the followers going meanwhile
            logger.warning("receiving run pushes failed", exc_info=True)
            await asyncio.sleep(settings.RUN_FOLLOW_SAFETY_SECONDS)
            continue
        woke.set()


async def follow(
    run_id: str,
    after: int | None = 0,
    *,
    timeout: float | None = None,
    until: Callable[[str], bool] | None = None,
    idle: float | None = None,
    poll_max: float | None = None,
) -> AsyncIterator[RunEvent | None]:
    """Yield the run's events with an id above ``after`` in id order, then each new one as it comes.

    Ends after the terminal event (:data:`TERMINAL_EVENTS`) that ended the run (not one a resume followed),
    when the run is over and every event is out, when ``until(status)`` holds, after ``timeout`` seconds, or
    when the run is gone. ``after=None``: only the events to come. ``idle``: yields None after each ``idle``
    seconds without an event (an SSE ping). ``poll_max``: the longest wait between two database reads without
    a push layer (RUN_FOLLOW_POLL_MAX). The run's state is read by one watch per run shared by its followers
    in this process (:class:`_Watch`)."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    poll_cap = settings.RUN_FOLLOW_POLL_MAX if poll_max is None else poll_max
    read_events = _database(events_after)
    watch = _join(run_id, poll_cap)
    seen = watch.version
    last_out = loop.time()
    try:
        while True:
            now = loop.time()
            waits = [t for t in (deadline, last_out + idle if idle is not None else None) if t is not None]
            if await watch.newer_than(seen, max(0.0, min(waits) - now) if waits else None):
                seen = watch.version
                state = watch.state
                if state is None:
                    return
                last_event, status = state["last_event"] or 0, state["status"]
                if after is None:
                    after = last_event
                while after < last_event:
                    batch = await read_events(run_id, after)
                    if not batch:
                        break
                    for event in batch:
                        after = event.pk
                        yield event
                        # The end, unless the run went on after it (resumed, or requeued by a late sweep): a
                        # later event follows, or the run is no longer over.
                        if event.type in TERMINAL_EVENTS and event.pk >= last_event and status in TERMINAL:
                            return
                    last_out = loop.time()
                if until is not None and until(status):
                    return
                if status in TERMINAL and after >= last_event:
                    return
            now = loop.time()
            if deadline is not None and now >= deadline:
                return
            if idle is not None and now - last_out >= idle:
                last_out = now
                yield None
    finally:
        _leave(watch, poll_cap)


async def _follow_to_end(
    run_id: str, timeout: float, until: Callable[[str], bool] | None, poll_max: float | None
) -> None:
    async for _ in follow(run_id, None, timeout=timeout, until=until, poll_max=poll_max):
        pass


def wait(
    run_id: str,
    timeout: float,
    until: Callable[[str], bool] | None = None,
    *,
    poll_max: float | None = 0.25,
) -> Run:
    """For synchronous callers: the run once it is over (or ``until(run.status)`` holds), or as it is after
    ``timeout`` seconds. A run already there costs one query. Without a push layer the database is read at
    least every ``poll_max`` seconds: a caller holds a thread while it waits, and an answer late by a second
    would cost more than the reads."""
    run = Run.objects.get(pk=run_id)
    if run.is_terminal or (until is not None and until(run.status)) or timeout <= 0:
        return run
    started = time.monotonic()
    async_to_sync(_follow_to_end)(run_id, timeout, until, poll_max)
    run = Run.objects.get(pk=run_id)
    logger.debug("waited %.2f s for run %s (%s)", time.monotonic() - started, run_id, run.status)
    return run
