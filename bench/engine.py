"""Engine benchmark (not a test). Prints figures measured side by side in one run on this machine.

Idle subscribers (bench_idle_subscribers): N Fizzly SSE streams open on one queued run that no worker takes,
under daphne with a fresh SQLite database; daphne's CPU time over a few seconds, as a fraction of one core:
- "before": daphne serving the code of git revision ``--before`` (default BEFORE_FOLLOW, the last commit
  before runs.events.follow, where each subscriber read the database every 0.1 s);
- "in-memory layer": the default without Redis: the run's one watch (shared by its followers) polls the
  database, backing off from 0.05 s to 1 s while nothing happens;
- "Redis layer": channels-redis (when REDIS_URL or 127.0.0.1:6379 answers): the watch sleeps until a push,
  with a database read every RUN_FOLLOW_SAFETY_SECONDS.

Usage:  .venv/bin/python bench/engine.py [--subscribers 50] [--seconds 10] [--before REV | --before ""]
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


# -- main --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--before", default=BEFORE_FOLLOW, help="also measure daphne serving this git revision"
    )
    parser.add_argument("--idle-fixture", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.idle_fixture:
        _idle_fixture()
        return
    print(f"machine: {os.cpu_count()} CPU cores; Python {sys.version.split()[0]}")
    bench_idle_subscribers(args.subscribers, args.seconds, args.before)


if __name__ == "__main__":
    main()
