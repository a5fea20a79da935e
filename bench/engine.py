"""Engine benchmark (not a test). Prints figures measured side by side in one run on this machine.

Idle subscribers (bench_idle_subscribers): N Fizzly SSE streams open on one queued run that no worker takes,
under daphne with a fresh SQLite database; daphne's CPU time over a few seconds, as a fraction of one core:
- "before": daphne serving the code of git revision ``--before`` (default BEFORE_FOLLOW, the last commit
  before runs.events.follow, where each subscriber read the database every 0.1 s);
- "in-memory layer": the default without Redis: the run's one watch (shared by its followers) polls the
  database, backing off from 0.05 s to 1 s while nothing happens;
- "Redis layer": channels-redis (when REDIS_URL or 127.0.0.1:6379 answers): the watch sleeps until a push,
  with a database read every RUN_FOLLOW_SAFETY_SECONDS.

(b) Parallel branches: a graph of two independent nodes feeding OUTPUT__ (two 1 s waits; two big Lanczos
    resizes), the run's wall time against the sum of its branches' own times, with the engine's pool and with
    one node at a time (RUN_NODE_WORKERS=1), in the same run.
(c) The node-output cache: the same Real-ESRGAN run again, with the cache and without (NODE_CACHE_MAX_BYTES=0).
(d) The platform figures of bench/platform.py (FractalQ sync execute vs a bare DRF view; submit -> start).

Usage:  .venv/bin/python bench/engine.py [--only abcd] [--subscribers 50] [--seconds 10] [--before REV]
                                        [--requests 1500] [--runs 40]
"""

# ruff: noqa: E402  (the path guard below must run before the other imports)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on the import path, where bench/platform.py would shadow the
# standard library's `platform`: keep the folder off the path, the repository root on it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
ROOT = _HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from bench.platform import free_port, redis_available, wait_port

# The last commit whose SSE stream, WebSocket and sync wait each polled the database (0.1 s, 0.2 s, 0.1 s).
BEFORE_FOLLOW = "40d43cc"

# -- idle subscribers --------------------------------------------------------------------------------


def _idle_fixture() -> None:
    """In a child process (its own Django settings): a Pro user, a queue key, a published pipeline and one
    queued run nobody will take. Prints what the streams need as JSON."""
    import django

    django.setup()
    from accounts import credits, keys
    from accounts.models import ApiKeyKind, Tier, User
    from pipelines import services as pipeline_services
    from runs import services

    user = User.objects.create_user("bench", "bench@example.com", "x" * 12, tier=Tier.PRO)
    credits.grant(user, 1000, note="bench")
    graph = {
        "nodes": [
            {"id": "t", "type": "INPUT__TEXT", "params": {"name": "command"}},
            {"id": "out", "type": "OUTPUT__", "params": {}},
        ],
        "edges": [{"from": {"node": "t", "port": "text"}, "to": {"node": "out", "port": "echo"}}],
    }
    pipeline = pipeline_services.create_pipeline(user, "bench echo", graph=graph)
    version = pipeline_services.publish(pipeline).version
    run = services.submit_run(
        pipeline=pipeline,
        version=version,
        billed_to=user,
        requested_by=user,
        surface="fizzly",
        inputs={"command": "wait"},
        enqueue=False,
    ).run
    key = keys.create_api_key(user, "bench", ApiKeyKind.QUEUE).raw
    path = f"/workflows/{user.username}/{pipeline.slug}/requests/{run.pk}/status/stream"
    print(json.dumps({"path": path, "key": key}))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_streams(port: int, path: str, key: str, n: int) -> list[socket.socket]:
    streams = []
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Key {key}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(request)
        streams.append(sock)
    for sock in streams:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError(f"stream closed: {head[:200]!r}")
            head += chunk
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"stream refused: {head[:300]!r}")
    return streams


def idle_cpu(env: dict, cwd: Path, path: str, key: str, subscribers: int, seconds: float) -> float:
    """Fraction of one core daphne spends while ``subscribers`` SSE streams wait on the queued run."""
    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/daphne"), "--verbosity", "0", "-b", "127.0.0.1", "-p", str(port)]
        + ["config.asgi:application"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    streams: list[socket.socket] = []
    try:
        wait_port(port)
        streams = open_streams(port, path, key, subscribers)
        time.sleep(3.0)  # past the start: a backing-off poll reaches its longest interval
        cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = cpu_seconds(server.pid), time.monotonic()
        if server.poll() is not None:
            raise RuntimeError("daphne stopped")
        return (cpu1 - cpu0) / (t1 - t0)
    finally:
        for sock in streams:
            sock.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)


def bench_idle_subscribers(subscribers: int = 50, seconds: float = 10.0, before: str = BEFORE_FOLLOW) -> None:
    print(f"\nidle subscribers: {subscribers} SSE streams on one queued run, daphne CPU over {seconds:.0f} s")
    data_dir = Path(tempfile.mkdtemp(prefix="canvasflow-bench-idle-"))
    env = {
        **os.environ,
        "CANVASFLOW_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "FIZZLY_RATE_LIMIT_PER_MINUTE": "100000000",
        "SSE_PING_SECONDS": "15",
    }
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "RUN_FOLLOW_PUSH",
        "RUN_FOLLOW_POLL_MIN",
        "RUN_FOLLOW_POLL_MAX",
    ):
        env.pop(name, None)
    old_tree = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        out = subprocess.run(
            [sys.executable, __file__, "--idle-fixture"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        fixture = json.loads(out.stdout.strip().splitlines()[-1])
        rows = [("in-memory layer: DB poll, back-off", env, ROOT)]
        redis_url = redis_available()
        if redis_url:
            rows.append(("Redis layer: pushes", {**env, "REDIS_URL": redis_url}, ROOT))
        else:
            print("Redis not reachable: Redis row skipped")
        if before:
            archive = subprocess.run(["git", "archive", before], cwd=ROOT, capture_output=True)
            if archive.returncode == 0:
                old_tree = Path(tempfile.mkdtemp(prefix="canvasflow-bench-before-"))
                subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive.stdout, check=True)
                rows.insert(0, (f"before: code of {before} (0.1 s poll)", env, old_tree))
            else:
                print(f"git revision {before} not available: 'before' row skipped")
        print(f"{'':38} {'core':>7} {'ms/s per subscriber':>20}")
        for label, row_env, cwd in rows:
            fraction = idle_cpu(row_env, cwd, fixture["path"], fixture["key"], subscribers, seconds)
            print(f"{label:38} {fraction:7.3f} {fraction * 1000 / subscribers:20.3f}")
        print("goal: idle subscribers cost daphne next to nothing")
    finally:
        if old_tree is not None:
            shutil.rmtree(old_tree, ignore_errors=True)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(data_dir, ignore_errors=True)


# -- parallel branches and the node-output cache ------------------------------------------------------


def _engine_child(section: str) -> None:
    """In a child process (its own Django settings and database): run graphs in this process with the engine
    and print their timings as JSON."""
    import base64
    import io

    import django

    django.setup()
    from django.conf import settings
    from PIL import Image

    from accounts import credits
    from accounts.models import Tier, User
    from pipelines import services as pipeline_services
    from pipelines.nodes.base import NodeType, Port, register
    from runs import services
    from runs.engine import execute_run
    from runs.models import NodeRun, Run

    @register
    class BenchSleep(NodeType):
        """One second of waiting (a provider call, a remote GPU): the case parallel branches are for."""

        type = "BENCH__SLEEP"
        family = "bench"
        inputs = (Port("text", "text"),)
        outputs = (Port("text", "text"),)
        cacheable = False

        def run(self, ctx, inputs, params):
            time.sleep(1.0)
            return {"text": inputs["text"]}

    user = User.objects.create_user(f"bench{section}", f"{section}@example.com", "x" * 12, tier=Tier.ULTIMATE)
    credits.grant(user, 100000, note="bench")

    def data_uri(size: int) -> str:
        buf = io.BytesIO()
        Image.radial_gradient("L").resize((size, size)).convert("RGB").save(buf, "PNG")
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()

    def run_once(graph: dict, inputs: dict) -> dict:
        pipeline = pipeline_services.create_pipeline(user, f"bench {time.monotonic_ns()}", graph=graph)
        version = pipeline_services.publish(pipeline).version
        run = services.submit_run(
            pipeline=pipeline, version=version, billed_to=user, surface="studio", inputs=inputs, enqueue=False
        ).run
        assert execute_run(run.pk) == "completed", Run.objects.get(pk=run.pk).error
        run = Run.objects.get(pk=run.pk)
        # each node's own time: its attempts (a node waiting for a free thread is not working)
        nodes = {
            nr.node_id: sum(a.get("duration_ms", 0) for a in nr.attempt_log) / 1000
            for nr in NodeRun.objects.filter(run=run)
        }
        return {"wall": (run.finished_at - run.started_at).total_seconds(), "nodes": nodes, "run": run}

    def node(nid: str, type_: str, **params) -> dict:
        return {"id": nid, "type": type_, "params": params}

    def edge(a: str, ap: str, b: str, bp: str) -> dict:
        return {"from": {"node": a, "port": ap}, "to": {"node": b, "port": bp}}

    out: dict = {}
    if section == "parallel":
        sleepers = {
            "nodes": [node("t", "INPUT__TEXT", name="text"), node("a", "BENCH__SLEEP"), node("b", "BENCH__SLEEP"),
                      node("out", "OUTPUT__")],
            "edges": [edge("t", "text", "a", "text"), edge("t", "text", "b", "text"),
                      edge("a", "text", "out", "a"), edge("b", "text", "out", "b")],
        }
        # each branch: up to 4096² and back down to 64² (Pillow's resize releases the GIL), so that storing
        # the outputs costs next to nothing
        resizes = {
            "nodes": [node("in", "INPUT__IMAGE", name="image_url"),
                      node("a", "IMAGE__RESIZE", width=4096, height=4096, mode="stretch", resample="lanczos"),
                      node("a2", "IMAGE__RESIZE", width=64, height=64, mode="stretch", resample="lanczos"),
                      node("b", "IMAGE__RESIZE", width=4000, height=4000, mode="stretch", resample="lanczos"),
                      node("b2", "IMAGE__RESIZE", width=64, height=64, mode="stretch", resample="lanczos"),
                      node("out", "OUTPUT__")],
            "edges": [edge("in", "image", "a", "image"), edge("a", "image", "a2", "image"),
                      edge("in", "image", "b", "image"), edge("b", "image", "b2", "image"),
                      edge("a2", "image", "out", "a"), edge("b2", "image", "out", "b")],
        }
        image = data_uri(1024)
        for label, graph, inputs in (("two 1 s waits", sleepers, {"text": "x"}),
                                     ("two Lanczos 4096² round trips", resizes, {"image_url": image})):
            rows = {}
            for workers in (settings.RUN_NODE_WORKERS, 1):
                settings.RUN_NODE_WORKERS = workers
                import runs.engine as engine_module

                engine_module._POOL = None  # a pool of this size
                result = run_once(graph, inputs)
                branches = sum(t for n, t in result["nodes"].items() if n[0] in "ab")
                rows[workers] = {"wall": result["wall"], "branches": branches}
            settings.RUN_NODE_WORKERS = max(rows)
            out[label] = rows
    elif section == "cache":
        graph = {
            "nodes": [node("in", "INPUT__IMAGE", name="image_url"),
                      node("up", "IMAGE__UPSCALE", model="RealESRGAN_x4plus", scale=4), node("out", "OUTPUT__")],
            "edges": [edge("in", "image", "up", "image"), edge("up", "image", "out", "image")],
        }
        image = data_uri(64)
        pipeline = pipeline_services.create_pipeline(user, "bench cache", graph=graph)
        version = pipeline_services.publish(pipeline).version

        def repeat() -> dict:
            run = services.submit_run(pipeline=pipeline, version=version, billed_to=user, surface="studio",
                                      inputs={"image_url": image}, enqueue=False).run
            started = time.perf_counter()
            assert execute_run(run.pk) == "completed"
            run = Run.objects.get(pk=run.pk)
            up = NodeRun.objects.get(run=run, node_id="up")
            return {"seconds": time.perf_counter() - started, "cached": up.cached, "credits": run.credits_used}

        out["first (computes, stores)"] = repeat()
        out["again, with the cache"] = repeat()
        settings.NODE_CACHE_MAX_BYTES = 0
        out["again, without the cache"] = repeat()
    print(json.dumps(out))


def _child(section: str, data_dir: Path) -> dict:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CANVASFLOW_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    done = subprocess.run([sys.executable, __file__, "--child", section], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_parallel_and_cache() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="canvasflow-bench-engine-"))
    try:
        parallel = _child("parallel", data_dir / "parallel")
        print("\n(b) parallel branches: two independent branches feeding OUTPUT__; the run's wall time vs the sum")
        print("    of the branches' own times (their attempts), with the engine's pool and one node at a time")
        print(f"{'graph':30} {'pool':>5} {'wall s':>8} {'branches s':>11} {'wall/sum':>9}")
        for label, rows in parallel.items():
            for workers, r in sorted(rows.items(), key=lambda kv: -int(kv[0])):
                print(f"{label:30} {workers:>5} {r['wall']:8.2f} {r['branches']:11.2f} "
                      f"{r['wall'] / r['branches']:9.2f}")
            pool, one = (rows[k] for k in sorted(rows, key=lambda k: -int(k)))
            print(f"{'':30} wall with the pool / one at a time = {pool['wall'] / one['wall']:.2f}x")
        cache = _child("cache", data_dir / "cache")
        print("\n(c) node-output cache: the same Real-ESRGAN x4plus run (64x64 image, CPU) again")
        print(f"{'run':28} {'seconds':>8} {'cached':>7} {'credits':>8}")
        for label, r in cache.items():
            print(f"{label:28} {r['seconds']:8.2f} {str(r['cached']):>7} {r['credits']:>8}")
        hit, miss = cache["again, with the cache"], cache["again, without the cache"]
        print(f"repeated run with the cache / without = {hit['seconds'] / miss['seconds']:.3f}x "
              f"({miss['seconds'] / hit['seconds']:.0f}x faster)")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def bench_platform(requests: int, runs: int) -> None:
    """bench/platform.py's figures (FractalQ sync execute vs a bare DRF view; submit -> worker start)."""
    print("\n(d) platform (bench/platform.py)", flush=True)
    subprocess.run([sys.executable, str(_HERE / "platform.py"), "--requests", str(requests), "--runs", str(runs)],
                   cwd=ROOT, check=True)


# -- main --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--before", default=BEFORE_FOLLOW, help="also measure daphne serving this git revision"
    )
    parser.add_argument("--requests", type=int, default=1500, help="(d): requests per path and concurrency")
    parser.add_argument("--runs", type=int, default=40, help="(d): runs per broker")
    parser.add_argument("--only", default="abcd", help="the sections to run, e.g. 'bc'")
    parser.add_argument("--idle-fixture", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.idle_fixture:
        _idle_fixture()
        return
    if args.child:
        _engine_child(args.child)
        return
    print(f"machine: {os.cpu_count()} CPU cores; Python {sys.version.split()[0]}")
    if "a" in args.only:
        print("\n(a)", end="")
        bench_idle_subscribers(args.subscribers, args.seconds, args.before)
    if "b" in args.only or "c" in args.only:
        bench_parallel_and_cache()
    if "d" in args.only:
        bench_platform(args.requests, args.runs)


if __name__ == "__main__":
    main()
