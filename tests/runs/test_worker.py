"""The engine for real through django-q2: a worker process against the test database, killed mid-run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines import services as pipeline_services
from runs import recovery, services
from runs.models import Run
from tests.background import worker_env
from tests.runs.conftest import resize_graph

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def start_worker(settings):
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=worker_env(RUN_HEARTBEAT_SECONDS="0.3"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(proc, sig=signal.SIGTERM):
    for signum in (sig, signal.SIGKILL):
        try:
            os.killpg(proc.pid, signum)
            proc.wait(timeout=5)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for(predicate, timeout=45.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_worker_runs_job_and_recovers_after_being_killed(settings, pro_user, image_server):
    settings.RUNS_EAGER = False
    settings.FETCH_ALLOW_LOOPBACK = True
    pipeline = pipeline_services.create_pipeline(pro_user, "W", graph=resize_graph(6, 6))
    version = pipeline_services.publish(pipeline).version
    fast = image_server.add_image("/fast.png")
    slow = image_server.add_image("/slow.png", delay=30)

    worker = start_worker(settings)
    try:
        ok = services.submit_run(
            pipeline=pipeline,
            version=version,
            billed_to=pro_user,
            surface="studio",
            inputs={"image_url": fast},
        ).run
        assert wait_for(lambda: Run.objects.get(pk=ok.pk).status == "completed"), Run.objects.get(
            pk=ok.pk
        ).status

        doomed = services.submit_run(
            pipeline=pipeline,
            version=version,
            billed_to=pro_user,
            surface="studio",
            inputs={"image_url": slow},
        ).run
        assert wait_for(lambda: "/slow.png" in image_server.hits)
        assert Run.objects.get(pk=doomed.pk).status == "running"
    finally:
        stop(worker, signal.SIGKILL)

    # the worker is gone mid-run: the run still says running until its heartbeat goes stale
    assert Run.objects.get(pk=doomed.pk).status == "running"
    settings.STALE_RUN_SECONDS = 1
    time.sleep(1.5)
    image_server.add_image("/slow.png")  # the source answers promptly this time
    assert recovery.recover_stale_runs() == {"requeued": 1, "failed": 0}
    worker = start_worker(settings)
    try:
        assert wait_for(lambda: Run.objects.get(pk=doomed.pk).status == "completed")
    finally:
        stop(worker)
    run = Run.objects.get(pk=doomed.pk)
    assert run.attempts == 2 and run.outputs["result_url"]["width"] == 6
    pro_user.refresh_from_db()
    assert pro_user.credit_balance == 500 - 4
