"""A worker killed -9 mid-run, for real: the Fizzly stream notices within seconds and shows the requeue."""

import asyncio
import signal
import time

import pytest
from asgiref.sync import async_to_sync
from rest_framework.test import APIClient

from pipelines import services as pipeline_services
from runs.models import Run
from tests.runs.conftest import resize_graph
from tests.runs.test_fizzly import parse_sse
from tests.runs.test_worker import start_worker, stop, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_killed_workers_run_is_requeued_within_seconds_and_the_stream_says_so(
    settings, pro_user, queue_key, image_server
):
    settings.RUNS_EAGER = False
    settings.FETCH_ALLOW_LOOPBACK = True
    settings.STALE_RUN_SECONDS = 1.5  # the worker beats every 0.3 s (tests.runs.test_worker.worker_env)
    pipeline = pipeline_services.create_pipeline(pro_user, "K", graph=resize_graph(6, 6))
    pipeline_services.publish(pipeline)
    base = f"/workflows/{pro_user.username}/{pipeline.slug}"
    fiz = APIClient()
    fiz.credentials(HTTP_AUTHORIZATION=f"Key {queue_key}")
    slow = image_server.add_image("/slow.png", delay=30)

    worker = start_worker(settings)
    try:
        rid = fiz.post(base, {"inputs": {"image_url": slow}}, format="json").json()["request_id"]
        assert wait_for(lambda: "/slow.png" in image_server.hits)
    finally:
        stop(worker, signal.SIGKILL)
    killed = time.monotonic()
    image_server.add_image("/slow.png")  # the source answers promptly next time
    assert Run.objects.get(pk=rid).status == "running"

    worker = start_worker(settings)  # idle until the run is requeued: no heartbeat of its own sweeps
    try:
        resp = fiz.get(f"{base}/requests/{rid}/status/stream")

        async def read_all():
            body, noticed, deadline = b"", None, time.monotonic() + 60
            iterator = resp.streaming_content.__aiter__()
            while True:
                try:
                    body += await asyncio.wait_for(
                        iterator.__anext__(), max(0.1, deadline - time.monotonic())
                    )
                except StopAsyncIteration:
                    return body, noticed
                except asyncio.TimeoutError:
                    await iterator.aclose()
                    return body, noticed
                if noticed is None and b"event: status" in body:
                    noticed = time.monotonic()

        body, noticed = async_to_sync(read_all)()
    finally:
        stop(worker)
    names = [name for name, _ in parse_sse(body) if name != "ping"]
    assert names[:3] == ["submit", "status", "submit"], names
    assert names[-1] == "output", names
    status = dict(parse_sse(body))["status"]
    assert status["status"] == "IN_QUEUE" and status["reason"] == "WORKER_LOST" and status["node"] == "in"
    assert noticed - killed < 8, noticed - killed  # stale after 1.5 s, seen by the stream's follower
    run = Run.objects.get(pk=rid)
    assert run.status == "completed" and run.attempts == 2
