"""Django's ASGI handler with a pool of request threads.

Django runs each request's synchronous code (the middleware, a sync view, the ORM) on a thread of its own:
``ASGIHandler`` enters a ``ThreadSensitiveContext``, which makes a new thread for the request and drops it at
the end. Django keeps database connections per thread, so under ASGI no connection outlives its request
and ``CONN_MAX_AGE`` does nothing (Django ticket #33497): every request that touches the database opens a
connection (SQLite: the file and its pragmas; PostgreSQL: a TCP and authentication round trip), and starts
a thread. Here a request takes a one-thread executor from a pool for its duration instead (asgiref's
``ThreadSensitiveContext(executor=…)``), so threads, and the connections Django keeps on them, serve one
request after another. A request still has its thread to itself while it runs.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler

# Idle request threads kept for the next requests; more run while more requests are in flight.
MAX_IDLE_THREADS = 32


class PooledThreadASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()

    def _take(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def _give_back(self, executor: ThreadPoolExecutor) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE_THREADS:
                self._idle.append(executor)
                return
        executor.shutdown(wait=False)

    async def __call__(self, scope, receive, send):  # noqa: ANN001 - the ASGI signature
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self._take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self._give_back(executor)


def get_asgi_application() -> PooledThreadASGIHandler:
    """django.core.asgi.get_asgi_application, with the pooled handler."""
    import django

    django.setup(set_prefix=False)
    return PooledThreadASGIHandler()
