"""Following a run (runs.events.follow); a dead worker noticed within seconds (runs.heartbeat, runs.recovery).

One follower serves the Fizzly SSE stream, the WebSocket and the synchronous execute wait: it replays the
database after the subscriber's last event id, then waits for pushes when the channel layer spans processes
and polls the database (backing off) when it does not. A run whose heartbeat stopped is requeued by any
running worker's heartbeat sweep or by a follower, and the requeue is an event every stream shows.
"""

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from config.asgi import application
from pipelines import services as pipeline_services
from runs import events, recovery, services
from runs.engine import execute_run
from runs.heartbeat import Heartbeat
from runs.models import TERMINAL, Run, RunEvent, RunStatus, WebhookDelivery
from tests.runs.test_engine import balance, chain, submit
from tests.runs.test_fizzly import base, parse_sse, stream_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def fiz(queue_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Key {queue_key}")
    return client


def collect(run_id, after=0, **kwargs):
    async def run():
        return [e async for e in events.follow(run_id, after, **kwargs)]

    return async_to_sync(run)()


def count_reads(monkeypatch) -> list:
    """Every database read of a follower's loop (one query each: status, heartbeat and last event id)."""
    reads = []
    real = events._state

    def counted(run_id):
        reads.append(time.monotonic())
        return real(run_id)

    monkeypatch.setattr(events, "_state", counted)
    return reads


def make_stale(run, attempts=1, seconds=60, **fields):
    """``run`` as a worker that died ``seconds`` ago leaves it: running, its heartbeat stopped."""
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now() - timedelta(seconds=seconds),
        attempts=attempts,
        **fields,
    )


class FakeLayer:
    """A channel layer that spans processes, as far as a follower can tell (channels-redis in production)."""

    def __init__(self):
        self.groups: dict[str, set] = {}
        self.queues: dict[str, asyncio.Queue] = {}

    async def new_channel(self):
        name = f"fake!{len(self.queues)}"
        self.queues[name] = asyncio.Queue()
        return name

    async def group_add(self, group, channel):
        self.groups.setdefault(group, set()).add(channel)

    async def group_discard(self, group, channel):
        self.groups.get(group, set()).discard(channel)

    async def receive(self, channel):
        return await self.queues[channel].get()

    async def group_send(self, group, message):
        for channel in self.groups.get(group, ()):
            self.queues[channel].put_nowait(message)


def test_terminal_events_match_the_terminal_statuses():
    assert events.TERMINAL_EVENTS == {f"run.{status}" for status in TERMINAL}


def test_a_late_subscriber_gets_the_backlog_and_stops_at_the_end(make_user):
    user = make_user(credits_amount=50)
    run = submit(user, chain("TEST__GATE"), text="fine")
    execute_run(run.pk)
    stored = list(RunEvent.objects.filter(run=run).order_by("id"))
    got = collect(run.pk, stored[2].pk, timeout=5)
    assert [e.pk for e in got] == [e.pk for e in stored[3:]]
    assert got[-1].type == "run.completed"
    # after the last event of a finished run: nothing, at once
    started = time.monotonic()
    assert collect(run.pk, stored[-1].pk, timeout=5) == []
    assert time.monotonic() - started < 1


def test_a_follower_goes_on_past_the_ending_a_resume_followed(make_user):
    user = make_user(credits_amount=50)
    run = submit(user, chain("TEST__FLAKY"), text="x")  # fails twice, then works: no retries left
    from tests.runs.test_engine import FLAKY_CALLS

    FLAKY_CALLS["n"] = -5
    assert execute_run(run.pk) == "failed"
    services.resume_run(Run.objects.get(pk=run.pk))
    FLAKY_CALLS["n"] = 10
    assert execute_run(run.pk) == "completed"
    types = [e.type for e in collect(run.pk, 0, timeout=5)]
    assert types.index("run.failed") < types.index("run.resumed") and types[-1] == "run.completed"


def test_without_a_push_layer_the_database_poll_backs_off(make_user, settings, monkeypatch):
    """The in-memory layer never carries a worker's pushes: the follower polls, less and less while idle."""
    settings.RUN_FOLLOW_POLL_MIN, settings.RUN_FOLLOW_POLL_MAX = 0.05, 1.0
    monkeypatch.setattr(events, "_push_layer", lambda: None)
    user = make_user(credits_amount=50)
    run = submit(user, chain("TEST__GATE"))  # queued, and nobody runs it
    reads = count_reads(monkeypatch)
    assert collect(run.pk, 0, timeout=2.5)[0].type == "run.queued"
    # 0.05 s growing by half each read up to 1 s: about 9 reads in 2.5 s (a fixed 0.1 s poll: 25)
    assert 4 <= len(reads) <= 12, len(reads)
    gaps = [b - a for a, b in zip(reads, reads[1:])]
    assert max(gaps) > 0.4 and gaps[0] < 0.2


def test_with_a_push_layer_an_idle_follower_reads_only_when_pushed(make_user, settings, monkeypatch):
    settings.RUN_FOLLOW_SAFETY_SECONDS = 30
    layer = FakeLayer()
    monkeypatch.setattr(events, "_push_layer", lambda: layer)
    user = make_user(credits_amount=50)
    run = submit(user, chain("TEST__GATE"))
    first = RunEvent.objects.get(run=run)
    reads = count_reads(monkeypatch)

    async def scenario():
        got = []

        async def consume():
            async for event in events.follow(run.pk, 0):
                got.append(event)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(1.0)
        idle_reads, idle_got = len(reads), list(got)
        create = sync_to_async(RunEvent.objects.create)
        started = await create(run_id=run.pk, type="node.started", node_id="t")
        await layer.group_send(events.group_name(run.pk), {"type": "run.event", "event": {"id": started.pk}})
        await asyncio.sleep(0.3)
        woken = list(got)
        await sync_to_async(Run.objects.filter(pk=run.pk).update)(status=RunStatus.CANCELLED)
        await create(run_id=run.pk, type="run.cancelled")
        await layer.group_send(events.group_name(run.pk), {"type": "run.event"})
        await asyncio.wait_for(task, 5)
        await asyncio.sleep(0.1)  # the watch of the run stops with its last follower
        return idle_reads, idle_got, woken, got

    idle_reads, idle_got, woken, got = async_to_sync(scenario)()
    assert idle_reads == 1 and [e.pk for e in idle_got] == [first.pk]  # the replay, then nothing for 1 s
    assert [e.type for e in woken] == ["run.queued", "node.started"]
    assert [e.type for e in got] == ["run.queued", "node.started", "run.cancelled"]
    assert len(reads) <= 4
    assert layer.groups[events.group_name(run.pk)] == set()  # left the group at the end


@pytest.mark.django_db(transaction=True)
def test_redis_pushes_wake_a_follower_that_never_polls(make_user, settings, monkeypatch):
    """With channels-redis (the CI run on PostgreSQL + Redis), what a worker emits wakes the follower."""
    if not settings.REDIS_URL:
        pytest.skip("no REDIS_URL: the channel layer is in-memory")
    settings.RUN_FOLLOW_SAFETY_SECONDS = 30
    settings.STALE_RUN_SECONDS = 60
    user = make_user(credits_amount=50)
    run = submit(user, chain("TEST__GATE"))
    reads = count_reads(monkeypatch)

    def worker_emits(type_, status):
        # another thread, autocommit: the push leaves after the commit, through Redis
        def work():
            from django.db import connection

            Run.objects.filter(pk=run.pk).update(status=status, heartbeat_at=timezone.now())
            events.emit(run.pk, type_)
            connection.close()

        threading.Thread(target=work).start()

    async def scenario():
        got = []

        async def consume():
            async for event in events.follow(run.pk, 0):
                got.append((event.type, time.monotonic()))

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(6.0)  # longer than a blocking receive from Redis (5 s)
        idle = len(reads)
        sent = time.monotonic()
        worker_emits("run.started", RunStatus.RUNNING)
        await asyncio.sleep(1.0)
        worker_emits("run.cancelled", RunStatus.CANCELLED)
        await asyncio.wait_for(task, 10)
        return idle, sent, got

    idle, sent, got = async_to_sync(scenario)()
    assert idle == 1
    assert [t for t, _ in got] == ["run.queued", "run.started", "run.cancelled"]
    assert got[1][1] - sent < 0.5  # woken by the push, not by the 30 s safety read
    assert len(reads) <= 4


@pytest.mark.django_db(transaction=True)
def test_a_running_workers_heartbeat_requeues_a_dead_workers_run_within_seconds(make_user, settings):
    settings.RUNS_EAGER = False
    settings.RUN_HEARTBEAT_SECONDS = 0.1
    settings.RUN_STALE_SWEEP_SECONDS = 0.2
    settings.STALE_RUN_SECONDS = 1
    user = make_user(credits_amount=100)
    dead = submit(user, chain("TEST__GATE"))
    alive = submit(user, chain("TEST__GATE"))
    make_stale(dead, seconds=0)  # its worker was killed just now: its heartbeat stops here
    make_stale(alive, seconds=0)
    started = time.monotonic()
    with Heartbeat(alive.pk):
        while time.monotonic() - started < 5 and Run.objects.get(pk=dead.pk).status != RunStatus.QUEUED:
            time.sleep(0.05)
        took = time.monotonic() - started
    assert Run.objects.get(pk=dead.pk).status == RunStatus.QUEUED
    assert 0.9 < took < 3, took  # stale after 1 s, found by the next sweep
    assert Run.objects.get(pk=alive.pk).status == RunStatus.RUNNING  # its own heartbeat kept it alive
    requeued = RunEvent.objects.get(run=dead, type="run.requeued")
    assert requeued.data["reason"] == "worker lost" and requeued.data["attempt"] == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_recover_a_run_once(make_user, settings):
    settings.RUNS_EAGER = False
    user = make_user(credits_amount=100)
    run = submit(user, chain("TEST__GATE"))
    make_stale(run)
    results, barrier = [], threading.Barrier(4)

    def sweep():
        from django.db import connection

        barrier.wait()
        try:
            results.append(recovery.recover_stale_runs())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r["requeued"] for r in results) == 1 and len(results) == 4
    assert RunEvent.objects.filter(run=run, type="run.requeued").count() == 1
    assert Run.objects.get(pk=run.pk).status == RunStatus.QUEUED


def test_a_follower_recovers_the_run_it_follows(make_user, settings):
    """No worker is running to sweep: the subscriber that sees the heartbeat stop asks for the recovery."""
    settings.RUNS_EAGER = False
    settings.STALE_RUN_SECONDS = 1
    user = make_user(credits_amount=100)
    run = submit(user, chain("TEST__GATE"))
    make_stale(run)
    got = collect(run.pk, 0, until=lambda status: status == RunStatus.QUEUED, timeout=5)
    assert [e.type for e in got] == ["run.queued", "run.requeued"]
    assert Run.objects.get(pk=run.pk).status == RunStatus.QUEUED
    # a fresh heartbeat is left alone
    make_stale(run, attempts=1, seconds=0)
    assert collect(run.pk, None, timeout=0.3) == []
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING


def test_the_fizzly_stream_shows_the_requeue(settings, fiz, published_text):
    settings.RUNS_EAGER = False
    settings.RUN_INLINE_FAST_PIPELINES = False
    settings.STALE_RUN_SECONDS = 1
    pipeline, _ = published_text
    rid = fiz.post(base(pipeline), {"inputs": {"command": "x"}}, format="json").json()["request_id"]
    # a first worker started the run, then died while node "t" was running
    make_stale(Run.objects.get(pk=rid), current_node="t")
    events.emit(rid, "run.started", "", {"attempt": 1})
    events.emit(rid, "node.started", "t", {"type": "INPUT__TEXT"})
    resp = fiz.get(f"{base(pipeline)}/requests/{rid}/status/stream")

    async def until_status():
        seen = b""
        iterator = resp.streaming_content.__aiter__()
        while b"event: status" not in seen:
            seen += await asyncio.wait_for(iterator.__anext__(), 10)
        await iterator.aclose()
        return seen

    live = parse_sse(async_to_sync(until_status)())
    assert [n for n, _ in live] == ["submit", "status"]
    status = live[1][1]
    assert status["status"] == "IN_QUEUE" and status["reason"] == "WORKER_LOST"
    assert status["node"] == "t" and status["attempt"] == 2 and "queued again" in status["message"]
    assert execute_run(rid) == "completed"  # the next worker
    names = [n for n, _ in parse_sse(stream_body(fiz.get(f"{base(pipeline)}/requests/{rid}/status/stream")))]
    assert names[:3] == ["submit", "status", "submit"] and names[-1] == "output"


@pytest.mark.django_db(transaction=True)
def test_the_websocket_shows_the_requeue(make_user, settings):
    settings.RUNS_EAGER = False
    settings.STALE_RUN_SECONDS = 1
    user = make_user(credits_amount=50)
    run = submit(user, chain("TEST__GATE"))
    make_stale(run)
    token = account_services.issue_tokens(user)[0]

    async def scenario():
        comm = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/?token={token}")
        connected, _ = await comm.connect()
        assert connected
        messages = []
        while not messages or messages[-1]["type"] != "run.requeued":
            messages.append(await comm.receive_json_from(timeout=10))
        await comm.disconnect()
        return messages

    messages = async_to_sync(scenario)()
    assert [m["type"] for m in messages] == ["run.queued", "run.requeued"]
    assert messages[1]["data"]["reason"] == "worker lost"


def test_the_sweep_delivers_the_webhook_of_every_run_it_ends(
    make_user, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.RUNS_EAGER = False
    settings.MAX_RUN_ATTEMPTS = 2
    settings.STALE_RUN_SECONDS = 1
    user = make_user(credits_amount=100)
    pipeline = pipeline_services.create_pipeline(user, "Hooked", graph=chain("TEST__GATE"))
    version = pipeline_services.publish(pipeline).version

    def fizzly_run(**kwargs):
        return services.submit_run(
            pipeline=pipeline,
            version=version,
            billed_to=user,
            surface="fizzly",
            inputs={"text": "x"},
            webhook_url="https://hooks.example.com/done",
            enqueue=False,
            **kwargs,
        ).run

    lost, cancelled, retried = fizzly_run(job_id="job_lost"), fizzly_run(), fizzly_run()
    make_stale(lost, attempts=2)  # out of attempts: fails with WORKER_LOST
    make_stale(cancelled, cancel_requested=True)  # cancelled while its worker died: ends cancelled
    make_stale(retried, attempts=1)  # requeued: not over, no webhook yet
    settled = []
    monkeypatch.setattr(recovery.jobs, "settle", settled.append)
    with django_capture_on_commit_callbacks(execute=True):
        assert recovery.recover_stale_runs() == {"requeued": 1, "failed": 1}
    assert Run.objects.get(pk=lost.pk).status == RunStatus.FAILED
    assert Run.objects.get(pk=cancelled.pk).status == RunStatus.CANCELLED
    deliveries = {d.run_id: d for d in WebhookDelivery.objects.all()}
    assert set(deliveries) == {lost.pk, cancelled.pk}
    assert deliveries[lost.pk].payload["status"] == "ERROR"
    assert "worker" in deliveries[lost.pk].payload["error"]
    assert deliveries[cancelled.pk].payload["status"] == "ERROR"
    assert settled == ["job_lost"]
    # and nothing was charged for either
    assert balance(user) == 100 - Run.objects.get(pk=retried.pk).credits_reserved


def test_sync_wait_returns_at_once_for_a_finished_run_and_waits_for_a_queued_one(make_user, settings):
    user = make_user(credits_amount=50)
    run = submit(user, chain("TEST__GATE"), text="fine")
    execute_run(run.pk)
    started = time.monotonic()
    assert events.wait(run.pk, 5).status == RunStatus.COMPLETED
    assert time.monotonic() - started < 0.5
    queued = submit(user, chain("TEST__GATE"))
    started = time.monotonic()
    assert events.wait(queued.pk, 0.5, until=lambda status: status != RunStatus.QUEUED).status == "queued"
    assert 0.45 < time.monotonic() - started < 2
