"""Sartiq IMAGE_ADJUSTER benchmark (not a test). Prints figures measured side by side in one run.

The same operation (a 1024x768 PNG cropped to 1:1 around its centre, encoded as PNG) three ways:

(a) a direct Pillow call: decode, crop, encode;
(b) a Sartiq task through the API with the run executed in the request (RUNS_EAGER, as in the tests): POST
    /api/v1/tasks/ answers COMPLETED; the figure is the whole request (validation, input stored, run created,
    engine, result stored, response);
(c) a Sartiq task through the API and a django-q2 worker (ORM broker, one worker process): POST, then GET
    every 10 ms until COMPLETED; the figure is create -> completed as the client sees it.

Then a workflow: a 5-step chain of IMAGE_ADJUSTER steps (each crops the previous step's result, wired by an
input mapping), in the request (d) and on the worker (e). Its total (create -> COMPLETED) is set beside the sum
of its steps' own times (each step's started -> completed, as the workflow reports them): the difference per
step is what the engine adds around a step (scheduling, storing each step's image, the records).

Usage:  .venv/bin/python bench/sartiq.py [--tasks 20] [--workflows 5]
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/platform.py would shadow the stdlib module of that name: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from bench.support import fresh_site, percentile, setup_django  # noqa: E402


def sample_png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (1024, 768), (200, 210, 220))
    ImageDraw.Draw(image).ellipse((300, 150, 700, 700), fill=(40, 60, 90))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def direct(data: bytes) -> float:
    from PIL import Image

    started = time.perf_counter()
    image = Image.open(io.BytesIO(data))
    image.load()
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    out = image.crop((left, top, left + side, top + side))
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return (time.perf_counter() - started) * 1000


def body(data: bytes, n: int) -> dict:
    return {
        "task_type": "IMAGE_ADJUSTER",
        "origin_instance": f"bench-{n}",  # each request its own record; the image is stored once
        "input_image": "data:image/png;base64," + base64.b64encode(data).decode(),
        "mode": "crop",
        "aspect_ratio": 1.0,
    }


def through_api(client, data: bytes, tasks: int, poll: bool) -> list[float]:
    times = []
    for n in range(tasks):
        started = time.perf_counter()
        resp = client.post("/api/v1/tasks/", body(data, n), format="json")
        assert resp.status_code == 200, resp.content
        task = resp.json()
        deadline = time.time() + 60
        while poll and task["status"] in ("PENDING", "EXECUTING") and time.time() < deadline:
            time.sleep(0.01)
            task = client.get(f"/api/v1/tasks/{task['id']}").json()
        assert task["status"] == "COMPLETED", task
        times.append((time.perf_counter() - started) * 1000)
    return times


def chain(data: bytes, steps: int = 5) -> dict:
    image = "data:image/png;base64," + base64.b64encode(data).decode()
    body = [{"id": "s0", "task_type": "IMAGE_ADJUSTER",
             "config": {"input_image": image, "mode": "crop", "aspect_ratio": 1.2}}]
    for i in range(1, steps):
        body.append({
            "id": f"s{i}", "task_type": "IMAGE_ADJUSTER", "depends_on": [f"s{i - 1}"],
            "config": {"mode": "crop", "aspect_ratio": 1.2 if i % 2 == 0 else 1 / 1.2},
            "input_mappings": [{"from_step": f"s{i - 1}", "from_field": "result_image_path",
                                "to_field": "input_image"}],
        })
    return {"name": "bench chain", "origin_instance": "bench", "steps": body}


def workflows(client, data: bytes, count: int, poll: bool) -> tuple[list[float], list[float]]:
    """(totals, sums of the steps' own times) in ms."""
    from datetime import datetime

    def ms(a: str, b: str) -> float:
        return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() * 1000

    totals, sums = [], []
    for _ in range(count):
        started = time.perf_counter()
        resp = client.post("/api/v1/workflows/", chain(data), format="json")
        assert resp.status_code == 200, resp.content
        wf = resp.json()
        deadline = time.time() + 120
        while poll and wf["status"] in ("PENDING", "RUNNING") and time.time() < deadline:
            time.sleep(0.01)
            wf = client.get(f"/api/v1/workflows/{wf['id']}").json()
        assert wf["status"] == "COMPLETED", wf
        totals.append((time.perf_counter() - started) * 1000)
        sums.append(sum(ms(s["started_at"], s["completed_at"]) for s in wf["steps"]))
    return totals, sums


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--workflows", type=int, default=5)
    args = parser.parse_args()
    worker = None
    with fresh_site("sartiq", RATE_LIMIT_USER_PER_HOUR="100000000", Q_WORKERS="1") as env:
        try:
            setup_django(env)
            from django.conf import settings
            from rest_framework.test import APIClient

            from accounts import credits, services
            from accounts.models import Tier, User

            settings.ALLOWED_HOSTS = ["*"]
            user = User.objects.create_user("bench", "bench@example.com", "x" * 12, tier=Tier.PRO)
            credits.grant(user, 1_000_000, note="bench")
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {services.issue_tokens(user)[0]}")
            data = sample_png()
            python = sys.version.split()[0]
            print(f"machine: {os.cpu_count()} CPU cores; Python {python}; {args.tasks} tasks each")

            direct(data)  # warm-up
            rows = [("(a) direct Pillow call", [direct(data) for _ in range(args.tasks)])]
            settings.RUNS_EAGER = True
            through_api(client, data, 2, poll=False)  # warm-up
            rows.append(("(b) task, run in the request", through_api(client, data, args.tasks, poll=False)))
            workflows(client, data, 1, poll=False)  # warm-up
            in_request = workflows(client, data, args.workflows, poll=False)
            flows = [("(d) 5-step workflow, in the request", in_request)]

            settings.RUNS_EAGER = False
            log = open(Path(env["CANVASFLOW_DATA_DIR"]) / "qcluster.log", "w")
            worker = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            through_api(client, data, 2, poll=True)  # warm-up: the cluster comes up
            rows.append(("(c) task, django-q2 worker", through_api(client, data, args.tasks, poll=True)))
            on_worker = workflows(client, data, args.workflows, poll=True)
            flows.append(("(e) 5-step workflow, django-q2 worker", on_worker))

            base = percentile(rows[0][1], 0.5)
            for name, times in rows:
                p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
                print(f"{name:32} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms   x{p50 / base:6.1f} the direct call")
            for name, (totals, sums) in flows:
                total, own = percentile(totals, 0.5), percentile(sums, 0.5)
                print(f"{name:38} total p50 {total:8.1f} ms   steps' own {own:8.1f} ms   "
                      f"x{total / own:5.2f}   engine {(total - own) / 5:6.1f} ms per step")
        finally:
            if worker is not None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)


if __name__ == "__main__":
    main()
