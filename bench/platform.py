"""Platform benchmark (not a test). Prints figures measured side by side in one run on this machine.

(a) A trivial published pipeline (INPUT__TEXT -> OUTPUT__) executed synchronously through FractalQ vs a
    bare DRF view returning the same JSON, both under daphne, same client concurrency: requests/s, p50, p95.
(b) Submit -> worker-start latency (Run.created_at -> Run.started_at) with django-q2's ORM broker and with
    Redis (when REDIS_URL or 127.0.0.1:6379 answers).

Usage:  .venv/bin/python bench/platform.py [--requests 1500] [--concurrency 8] [--runs 40]
"""

# ruff: noqa: E402  (the stdlib-shadowing guard below must run before the other imports)
from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the stdlib module `platform`: keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import threading
import time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import fresh_site, percentile, setup_django


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(port: int, path: str, body: bytes, total: int, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    errors[0] += 1
            except (OSError, http.client.HTTPException):
                errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "errors": errors[0],
        "n": len(latencies),
    }


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def redis_available() -> str:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    try:
        import redis

        redis.Redis.from_url(url).ping()
        return url
    except Exception:  # noqa: BLE001
        return ""


def bench_http(args, env, key: str) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/daphne"),
            *("--verbosity", "0", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_port(port)
        body = json.dumps({"inputs": {"command": "hello"}}).encode()
        load(port, "/bench/bare", body, 100, args.concurrency)  # warm both paths
        load(port, f"/api/node/api/{key}/execute", body, 100, args.concurrency)
        for concurrency in (args.concurrency, 1):
            results = {}
            # interleave the two so that machine noise hits both alike
            for _ in range(2):
                for name, path in (
                    ("bare DRF view", "/bench/bare"),
                    ("FractalQ execute", f"/api/node/api/{key}/execute"),
                ):
                    r = load(port, path, body, args.requests // 2, concurrency)
                    agg = results.setdefault(name, {"rps": [], "p50_ms": [], "p95_ms": [], "errors": 0})
                    for k in ("rps", "p50_ms", "p95_ms"):
                        agg[k].append(r[k])
                    agg["errors"] += r["errors"]
            report(results, args.requests, concurrency)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)


def report(results: dict, requests: int, concurrency: int) -> None:
    print(f"\n(a) sync execute under daphne, {requests} requests each, client concurrency {concurrency}")
    print(f"{'':20} {'req/s':>9} {'p50 ms':>9} {'p95 ms':>9} {'errors':>7}")
    for name, r in results.items():
        print(
            f"{name:20} {statistics.mean(r['rps']):9.1f} {statistics.mean(r['p50_ms']):9.2f} "
            f"{statistics.mean(r['p95_ms']):9.2f} {r['errors']:7d}"
        )
    bare, fq = results["bare DRF view"], results["FractalQ execute"]
    ratio = statistics.mean(fq["rps"]) / statistics.mean(bare["rps"])
    print(
        f"throughput ratio FractalQ / bare = {ratio:.2f}x  (goal >= 0.5x); FractalQ p50 = "
        f"{statistics.mean(fq['p50_ms']):.2f} ms (goal <= 15 ms)"
    )


def bench_worker(args, env: dict, label: str) -> list[float]:
    from pipelines.models import Pipeline
    from runs import services
    from runs.models import Run

    log = open(Path(env["CANVASFLOW_DATA_DIR"]) / f"qcluster-{label}.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        pipeline = Pipeline.objects.get(slug="bench-echo")
        version = pipeline.latest_version
        # let the cluster come up: the first run is a warm-up
        run = services.submit_run(
            pipeline=pipeline,
            version=version,
            billed_to=pipeline.owner,
            surface="studio",
            inputs={"command": "warm"},
        ).run
        deadline = time.time() + 90
        while Run.objects.get(pk=run.pk).status != "completed" and time.time() < deadline:
            time.sleep(0.05)
        if Run.objects.get(pk=run.pk).status != "completed":
            raise RuntimeError(f"the {label} worker did not run the warm-up job; see {log.name}")
        delays = []
        for i in range(args.runs):
            run = services.submit_run(
                pipeline=pipeline,
                version=version,
                billed_to=pipeline.owner,
                surface="studio",
                inputs={"command": f"r{i}"},
            ).run
            deadline = time.time() + 30
            while time.time() < deadline:
                r = Run.objects.get(pk=run.pk)
                if r.started_at:
                    delays.append((r.started_at - r.created_at).total_seconds() * 1000)
                    break
                time.sleep(0.005)
            while Run.objects.get(pk=run.pk).status != "completed" and time.time() < deadline:
                time.sleep(0.005)
            time.sleep(0.05)  # arrivals spaced out, as independent clients would be
        return delays
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        log.close()


def latency_in_child(args, env: dict, label: str) -> list[float]:
    """Measure in a fresh process, so that the submitting side uses the same broker as the worker."""
    out = subprocess.run(
        [sys.executable, __file__, "--latency-only", label, "--runs", str(args.runs)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--latency-only", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.latency_only:
        setup_django(dict(os.environ))
        print(json.dumps(bench_worker(args, dict(os.environ), args.latency_only)))
        return

    with fresh_site(
        "platform", ROOT_URLCONF="bench.urls", FRACTALQ_RATE_LIMIT_PER_MINUTE="100000000", Q_WORKERS="1"
    ) as env:
        setup_django(env)
        from accounts.models import Tier, User
        from pipelines import services as pipeline_services

        user = User.objects.create_user("bench", "bench@example.com", "x" * 12, tier=Tier.PRO)
        graph = {
            "nodes": [
                {"id": "t", "type": "INPUT__TEXT", "params": {"name": "command"}},
                {"id": "out", "type": "OUTPUT__", "params": {}},
            ],
            "edges": [{"from": {"node": "t", "port": "text"}, "to": {"node": "out", "port": "echo"}}],
        }
        pipeline = pipeline_services.create_pipeline(user, "bench echo", graph=graph)
        key = pipeline_services.publish(pipeline).session_key
        print(f"machine: {os.cpu_count()} CPU cores; Python {sys.version.split()[0]}")
        bench_http(args, env, key)

        print(f"\n(b) submit -> worker start latency, {args.runs} runs each")
        rows = [("ORM broker (SQLite)", latency_in_child(args, env, "orm"))]
        redis_url = redis_available()
        if redis_url:
            import redis

            redis.Redis.from_url(redis_url).flushdb()
            rows.append(("Redis broker", latency_in_child(args, {**env, "REDIS_URL": redis_url}, "redis")))
        else:
            print("Redis not reachable: Redis row skipped")
        for name, delays in rows:
            print(f"{name:22} p50 {percentile(delays, 0.5):7.1f} ms   p95 {percentile(delays, 0.95):7.1f} ms")
        print("goals: p50 <= 250 ms (ORM), <= 50 ms (Redis)")


if __name__ == "__main__":
    main()
