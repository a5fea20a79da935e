"""GPU and CPU queues (issue 13, point 6): a run whose graph has a GPU node goes to the GPU cluster's list,
every other run to the default one; a cluster started under the GPU name takes the GPU list only. Checked
against django-q2's real broker (ORM here, Redis in CI's second column) and real qcluster processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as project_settings
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Task
from django_q.tasks import async_task

from pipelines import services as pipeline_services
from runs import tasks
from tests.background import worker_env
from tests.runs.conftest import resize_graph

ROOT = Path(__file__).resolve().parents[2]


def gpu_graph() -> dict:
    return {
        "nodes": [
            {
                "id": "in",
                "type": "INPUT__IMAGE",
                "params": {"name": "image_url"},
                "position": {"x": 0, "y": 0},
            },
            {"id": "gate", "type": "IMAGE__NSFW_GATE", "params": {}, "position": {"x": 200, "y": 0}},
            {"id": "out", "type": "OUTPUT__", "params": {}, "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "from": {"node": "in", "port": "image"}, "to": {"node": "gate", "port": "image"}},
            {
                "id": "e2",
                "from": {"node": "gate", "port": "nsfw_score"},
                "to": {"node": "out", "port": "score"},
            },
        ],
    }


@pytest.fixture
def own_queues(settings):
    """Cluster names of this test only, so that the Redis column never shares a list with another test run."""
    tag = uuid.uuid4().hex[:8]
    settings.Q_CLUSTER = {**project_settings.Q_CLUSTER, "name": f"test-cpu-{tag}"}
    settings.Q_GPU_CLUSTER = f"test-gpu-{tag}"
    cpu, gpu = get_broker(settings.Q_CLUSTER["name"]), get_broker(settings.Q_GPU_CLUSTER)
    yield cpu, gpu
    cpu.delete_queue()
    gpu.delete_queue()


def test_the_project_has_a_gpu_cluster_of_its_own():
    conf = project_settings.Q_CLUSTER
    assert project_settings.Q_GPU_CLUSTER and project_settings.Q_GPU_CLUSTER != conf["name"]
    # django-q2 pops ALT_CLUSTERS (no default) when Q_CLUSTER_NAME names another cluster: it must be there.
    assert project_settings.Q_GPU_CLUSTER in conf["ALT_CLUSTERS"]
    assert conf["ALT_CLUSTERS"][project_settings.Q_GPU_CLUSTER]["workers"] >= 1


def test_routing_by_resource_class(settings):
    assert tasks.cluster_for(resize_graph()) == settings.Q_CLUSTER["name"]
    assert tasks.cluster_for(gpu_graph()) == settings.Q_GPU_CLUSTER
    # a type this process does not know goes where the whole stack is
    assert tasks.cluster_for({"nodes": [{"id": "x", "type": "IMAGE__NOT_HERE"}]}) == settings.Q_GPU_CLUSTER
    settings.Q_GPU_CLUSTER = ""  # one queue for everything
    assert tasks.cluster_for(gpu_graph()) == settings.Q_CLUSTER["name"]


@pytest.mark.django_db
def test_submitted_runs_land_on_their_cluster_list(
    settings, own_queues, pro_user, image_server, django_capture_on_commit_callbacks
):
    settings.RUNS_EAGER = False
    settings.FETCH_ALLOW_LOOPBACK = True
    cpu, gpu = own_queues
    from runs import services

    def submit(graph: dict, name: str) -> str:
        pipeline = pipeline_services.create_pipeline(pro_user, name, graph=graph)
        version = pipeline_services.publish(pipeline).version
        with django_capture_on_commit_callbacks(execute=True):
            submission = services.submit_run(
                pipeline=pipeline,
                version=version,
                billed_to=pro_user,
                surface="fizzly",
                inputs={"image_url": image_server.add_image(f"/{name}.png")},
            )
        return submission.runs[0].pk

    cpu_run = submit(resize_graph(8, 8), "cpu")
    assert (cpu.queue_size(), gpu.queue_size()) == (1, 0)
    gpu_run = submit(gpu_graph(), "gpu")
    assert (cpu.queue_size(), gpu.queue_size()) == (1, 1)
    # each list holds the run it should: django-q2's signed package names the task and its run
    from django_q.signing import SignedPackage

    def queued(broker) -> list:
        tasks_ = broker.dequeue() or []
        return [SignedPackage.loads(payload) for _, payload in tasks_]

    [cpu_task], [gpu_task] = queued(cpu), queued(gpu)
    assert cpu_task["func"] == gpu_task["func"] == "runs.engine.execute_run"
    assert (cpu_task["args"], gpu_task["args"]) == ((cpu_run,), (gpu_run,))


def start_cluster(name: str, log: Path, **env: str) -> subprocess.Popen:
    environment = worker_env(Q_CLUSTER_NAME=name, **env)
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=environment,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, signum)
            proc.wait(timeout=5)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.django_db(transaction=True)
def test_each_cluster_takes_its_own_list_only(settings, own_queues, tmp_path):
    """Two qcluster processes as `make run` starts them (the GPU one under Q_CLUSTER_NAME): each task is done
    by the cluster of its list; with the default cluster stopped, a GPU-cluster task is still done and a
    default-list task waits for the default cluster."""
    cpu_name, gpu_name = settings.Q_CLUSTER["name"], settings.Q_GPU_CLUSTER
    cpu, gpu = own_queues
    # the GPU cluster process reads its name and ALT_CLUSTERS entry from the same settings as production
    gpu_proc = start_cluster(gpu_name, tmp_path / "gpu.log", Q_GPU_CLUSTER=gpu_name)
    cpu_proc = None
    try:
        on_gpu = async_task("os.getpid", cluster=gpu_name)
        on_cpu = async_task("os.getpid", cluster=cpu_name)
        deadline = time.monotonic() + 15
        while not Task.objects.filter(id=on_gpu).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        done = Task.objects.get(id=on_gpu)
        assert done.success and done.cluster == gpu_name, (tmp_path / "gpu.log").read_text()[-2000:]
        time.sleep(1.0)  # the GPU cluster has had time to take the other list too, had it served it
        assert not Task.objects.filter(id=on_cpu).exists() and cpu.queue_size() == 1
        cpu_proc = start_cluster(cpu_name, tmp_path / "cpu.log")
        deadline = time.monotonic() + 15
        while not Task.objects.filter(id=on_cpu).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        done = Task.objects.get(id=on_cpu)
        assert done.success and done.cluster == cpu_name and done.result != Task.objects.get(id=on_gpu).result
    finally:
        stop(gpu_proc)
        if cpu_proc:
            stop(cpu_proc)
    assert (cpu.queue_size(), gpu.queue_size()) == (0, 0)


def test_gpu_cluster_config_applies_alt_clusters(settings):
    """What a GPU host's qcluster sees: Q_CLUSTER_NAME=<gpu cluster> makes django-q2 read the GPU list with
    the ALT_CLUSTERS settings (one worker by default)."""
    code = (
        "import django; django.setup();"
        "from django_q.conf import Conf; from django_q.brokers import get_broker;"
        "print(Conf.CLUSTER_NAME, Conf.WORKERS, get_broker().list_key, Conf.PREFIX)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "Q_CLUSTER_NAME": "canvasflow-gpu"}
    env.pop("Q_GPU_CLUSTER", None)
    env.pop("Q_GPU_WORKERS", None)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    name, workers, list_key, prefix = out.stdout.split()[-4:]
    assert (name, workers, prefix) == ("canvasflow-gpu", "1", Conf.PREFIX)
    assert list_key.endswith("canvasflow-gpu") or list_key == "django_q:canvasflow-gpu:q"
