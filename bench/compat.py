"""What the compatibility modes cost (not a test). Prints figures measured side by side in one run.

One published pipeline (a text input echoed to the output: the engine's work is nothing, so the figures are
the surfaces' own), called end to end by each client against one live server behind TLS (uvicorn in this
process, tests.live; runs executed in the request, RUNS_EAGER, as in the tests):

(a) Fizzly's own shapes with httpx: submit, status, result (three requests) — the reference;
(b) fal's official client (fal-client): ``submit`` then ``handle.get()`` (status, result: three requests);
(c) Replicate's official client: ``replicate.run`` (one request with ``Prefer: wait``);
(d) the pipeline as an MCP tool with the official ``mcp`` client: ``call_tool`` in an open session.

Usage:  .venv/bin/python bench/compat.py [--calls 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/platform.py would shadow the stdlib module of that name: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from bench.support import fresh_site, percentile, setup_django  # noqa: E402

GRAPH = {
    "nodes": [
        {"id": "t", "type": "INPUT__TEXT", "params": {"name": "command"}, "position": {"x": 0, "y": 0}},
        {"id": "out", "type": "OUTPUT__", "params": {}, "position": {"x": 200, "y": 0}},
    ],
    "edges": [{"id": "e", "from": {"node": "t", "port": "text"}, "to": {"node": "out", "port": "echo"}}],
}


def timed(calls: int, once) -> list[float]:
    once(-1)  # warm-up
    times = []
    for n in range(calls):
        started = time.perf_counter()
        once(n)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    unlimited = {"FIZZLY_RATE_LIMIT_PER_MINUTE": "100000000", "RATE_LIMIT_USER_PER_HOUR": "100000000"}
    with fresh_site("compat", **unlimited) as env:
        setup_django(env)
        data_dir = Path(env["CANVASFLOW_DATA_DIR"])
        from django.conf import settings

        from accounts import credits, keys
        from accounts.models import ApiKeyKind, Tier, User
        from accounts.scopes import Scope
        from pipelines import services as pipeline_services
        from tests import live

        settings.RUNS_EAGER = True
        user = User.objects.create_user("bench", "bench@example.com", "x" * 12, tier=Tier.PRO)
        credits.grant(user, 1_000_000, note="bench")
        pipeline_services.publish(pipeline_services.create_pipeline(user, "Echo", graph=GRAPH))
        fiz = keys.create_api_key(user, "bench", ApiKeyKind.QUEUE, rate_limit_per_hour=10**8).raw
        agent = keys.create_api_key(
            user, "agent", scopes=[Scope.MCP, Scope.PIPELINES_RUN], rate_limit_per_hour=10**8
        ).raw

        with live.serve(tls_dir=data_dir / "tls") as url:
            os.environ["SSL_CERT_FILE"] = str(data_dir / "tls" / "cert.pem")
            os.environ["REPLICATE_BASE_URL"] = f"{url}/replicate"
            import fal_client
            import httpx
            import replicate

            fal_client.client.QUEUE_URL_FORMAT = f"{url}/fal/"
            rows = []

            http = httpx.Client(headers={"Authorization": f"Key {fiz}"}, timeout=30)

            def fizzly(n: int) -> None:
                submitted = http.post(f"{url}/workflows/bench/echo", json={"inputs": {"command": f"hi {n}"}})
                status = http.get(submitted.json()["status_url"]).json()
                assert status["status"] == "COMPLETED", status
                result = http.get(submitted.json()["response_url"]).json()
                assert result["outputs"] == {"echo": f"hi {n}"}, result

            rows.append(("(a) Fizzly, httpx (reference)", timed(args.calls, fizzly)))

            fal = fal_client.SyncClient(key=fiz)

            def fal_call(n: int) -> None:
                assert fal.submit("bench/echo", {"command": f"hi {n}"}).get() == {"echo": f"hi {n}"}

            rows.append(("(b) fal-client submit + get", timed(args.calls, fal_call)))

            rep = replicate.Client(api_token=fiz)

            def rep_call(n: int) -> None:
                assert rep.run("bench/echo", input={"command": f"hi {n}"}) == f"hi {n}"

            rows.append(("(c) replicate.run", timed(args.calls, rep_call)))
            rows.append(("(d) MCP call_tool", asyncio.run(mcp_times(f"{url}/mcp", agent, args.calls))))
            for client in (http, fal._client, rep._client):  # so the server stops without waiting on them
                client.close()

        base = percentile(rows[0][1], 0.5)
        python = sys.version.split()[0]
        print(f"machine: {os.cpu_count()} CPU cores; Python {python}; {args.calls} calls each")
        for name, times in rows:
            p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
            print(f"{name:32} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   x{p50 / base:5.2f} the reference")


async def mcp_times(url: str, key: str, calls: int) -> list[float]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    times = []
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            for n in range(-1, calls):
                started = time.perf_counter()
                result = await client.call_tool("bench__echo", {"command": f"hi {n}"})
                assert not result.is_error and result.content[0].text == f"hi {n}", result
                if n >= 0:
                    times.append((time.perf_counter() - started) * 1000)
    return times


if __name__ == "__main__":
    main()
