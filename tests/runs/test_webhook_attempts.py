"""Webhooks off the worker's clock (issue 13, point 9): each attempt is a task of its own, and a retry is a
task the broker holds until it is due (config.queues), never a sleep. The seed's policy (Fizzly: up to 3
retries after 1, 2 and 4 s; a 4xx other than 429 is final) and the per-attempt record on WebhookDelivery are
kept."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as project_settings
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ
from django_q.signing import SignedPackage
from rest_framework.test import APIClient

from config.queues import OrmBroker, async_task_later
from runs import webhooks
from runs.models import Run
from tests.background import worker_env

ROOT = Path(__file__).resolve().parents[2]
DELAYS = (1.0, 2.0, 4.0)  # the Fizzly seed's backoff


def test_no_sleep_in_webhook_delivery():
    for rel in ("runs/webhooks.py", "runs/tasks.py", "config/queues.py"):
        tree = ast.parse((ROOT / rel).read_text())
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.ImportFrom):
                names.update(alias.name for alias in node.names)
        assert "sleep" not in names, rel


def test_project_policy_is_the_seeds():
    assert tuple(project_settings.WEBHOOK_RETRY_DELAYS) == DELAYS


class TimedPosts(list):
    """The receiver's list of POSTs, with the time each arrived."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def append(self, item):
        self.times.append(time.monotonic())
        super().append(item)


@pytest.fixture
def own_queue(settings):
    """A default-cluster name of this test only (the Redis column shares one server between test runs)."""
    settings.Q_CLUSTER = {**project_settings.Q_CLUSTER, "name": f"test-hooks-{uuid.uuid4().hex[:8]}"}
    broker = get_broker(settings.Q_CLUSTER["name"])
    yield broker
    broker.delete_queue()


def held(broker) -> list[tuple[float, dict]]:
    """(due time as a Unix time, task) of every task on the broker's list, delayed or not."""
    if isinstance(broker, OrmBroker):
        rows = OrmQ.objects.filter(key=broker.list_key)
        return [(row.lock.timestamp(), SignedPackage.loads(row.payload)) for row in rows]
    conn = broker.connection
    out = [
        (score, SignedPackage.loads(p))
        for p, score in conn.zrange(broker.delayed_key, 0, -1, withscores=True)
    ]
    return out + [(time.time(), SignedPackage.loads(p)) for p in conn.lrange(broker.list_key, 0, -1)]


@pytest.fixture
def finished_run(settings, queue_key, published_text, image_server):
    """A finished Fizzly run whose ?webhook= points at the local receiver; no delivery made yet."""
    settings.RUNS_EAGER = True
    settings.FETCH_ALLOW_LOOPBACK = True
    pipeline, _ = published_text
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Key {queue_key}")
    resp = client.post(
        f"/workflows/{pipeline.owner.username}/{pipeline.slug}", {"inputs": {"command": "x"}}, format="json"
    )
    run = Run.objects.get(pk=resp.json()["request_id"])
    assert run.is_terminal
    Run.objects.filter(pk=run.pk).update(webhook_url=image_server.url("/hook"))
    run.refresh_from_db()
    settings.RUNS_EAGER = False
    image_server.posts = TimedPosts()
    return run


def drive(broker) -> list[float]:
    """Run the delivery's tasks one by one as a worker would, without waiting for them: answers, for each task
    after the first, how long after the previous attempt ended it was due."""
    gaps = []
    ended = None
    while True:
        queued = held(broker)
        if not queued:
            return gaps
        assert len(queued) == 1, queued  # one attempt at a time
        ((due, task),) = queued
        assert task["func"] == "runs.webhooks.attempt_delivery" and task["group"] == "webhooks"
        broker.purge_queue()
        if ended is not None:
            gaps.append(due - ended)
        webhooks.attempt_delivery(*task["args"])
        ended = time.time()


@pytest.mark.django_db
def test_failing_receiver_gets_the_seeds_attempts_spread_over_the_delays(
    own_queue, finished_run, image_server
):
    image_server.post_status = [500] * 10
    started = time.monotonic()
    delivery = webhooks.schedule_for(finished_run)
    gaps = drive(own_queue)
    assert time.monotonic() - started < 5  # driven, not waited for
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_codes) == ("failed", 4, [500] * 4)
    assert len(image_server.posts) == 4
    # each retry was due its delay after the attempt before it had ended (scheduled at its end)
    assert [round(g, 1) for g in gaps] == list(DELAYS), gaps
    assert all(d - 0.05 <= g <= d + 0.01 for g, d in zip(gaps, DELAYS)), gaps


@pytest.mark.django_db
@pytest.mark.parametrize(
    "codes,attempts,final",
    [([404], 1, "failed"), ([400, 200], 1, "failed"), ([429, 200], 2, "delivered"), ([200], 1, "delivered")],
)
def test_4xx_other_than_429_is_final_and_2xx_delivers(
    own_queue, finished_run, image_server, codes, attempts, final
):
    image_server.post_status = list(codes)
    delivery = webhooks.schedule_for(finished_run)
    drive(own_queue)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_codes) == (
        final,
        attempts,
        codes[:attempts],
    )
    assert (delivery.delivered_at is not None) == (final == "delivered")
    assert len(image_server.posts) == attempts


@pytest.mark.django_db
def test_an_attempt_runs_once_and_rechecks_the_url(settings, own_queue, finished_run, image_server):
    image_server.post_status = [503, 200]
    delivery = webhooks.schedule_for(finished_run)
    ((_, first),) = held(own_queue)
    own_queue.purge_queue()
    assert webhooks.attempt_delivery(*first["args"]) == "pending"
    assert webhooks.attempt_delivery(*first["args"]) == "pending"  # a duplicate of attempt 1 does nothing
    assert len(image_server.posts) == 1
    ((_, second),) = held(own_queue)
    own_queue.purge_queue()
    settings.FETCH_ALLOW_LOOPBACK = False  # the address is no longer one we may call
    assert webhooks.attempt_delivery(*second["args"]) == "failed"
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.response_codes == [503, None]
    assert delivery.last_error.startswith("UnsafeURL")  # runs.fetch: code URL_NOT_ALLOWED, never retried
    assert len(image_server.posts) == 1 and held(own_queue) == []


@pytest.mark.django_db
def test_eager_chain_runs_inline_without_waiting(settings, finished_run, image_server):
    settings.RUNS_EAGER = True
    settings.WEBHOOK_RETRY_DELAYS = DELAYS
    image_server.post_status = [500, 500, 500, 200]
    started = time.monotonic()
    delivery = webhooks.schedule_for(finished_run)
    assert time.monotonic() - started < 0.9  # would be 7 s had anything waited out the backoff
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_codes) == (
        "delivered",
        4,
        [500, 500, 500, 200],
    )


@pytest.mark.django_db
def test_async_task_later_holds_the_task_until_due(own_queue, settings):
    before = timezone.now()
    async_task_later("os.getpid", delay=2.5, cluster=settings.Q_CLUSTER["name"])
    ((due, task),) = held(own_queue)
    assert task["func"] == "os.getpid"
    assert before.timestamp() + 2.5 <= due <= timezone.now().timestamp() + 2.5 + 0.001
    assert own_queue.queue_size() == 0  # not takeable yet
    assert own_queue.dequeue() in (None, [])


@pytest.mark.django_db(transaction=True)
def test_a_worker_retries_after_1_2_4_seconds(settings, finished_run, image_server, tmp_path):
    """A real qcluster (the default cluster, the project's settings) against a receiver that always answers
    500: four POSTs, each retry its delay after the attempt before (plus the broker's pick-up)."""
    image_server.post_status = [500] * 10
    log = tmp_path / "qcluster.log"
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=worker_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        delivery = webhooks.schedule_for(finished_run)
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            delivery.refresh_from_db()
            if delivery.status != "pending":
                break
            time.sleep(0.1)
    finally:
        for signum in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(worker.pid, signum)
                worker.wait(timeout=5)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
    assert (delivery.status, delivery.attempts) == ("failed", 4), log.read_text()[-3000:]
    times = image_server.posts.times
    gaps = [b - a for a, b in zip(times, times[1:])]
    print(f"webhook retry gaps measured at the receiver: {', '.join(f'{g:.3f}' for g in gaps)} s")
    assert len(gaps) == 3 and all(d <= g < d + 1.0 for g, d in zip(gaps, DELAYS)), gaps
