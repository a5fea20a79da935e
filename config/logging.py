"""Logs never carry a whole secret.

FractalQ session keys travel in the URL path (the seed designs it so) and API keys may sit in a WebSocket
query string, so any log line that repeats a path could leak a credential. Every line that goes through
the console handler is passed through :class:`RedactSecretsFilter`, and the access log (written by
:class:`AccessLogMiddleware` instead of daphne's raw one) logs redacted paths only.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

# fq_ (session keys), fiz_ and ff_key_ (API keys): keep the prefix and six characters, as the UI shows them.
SECRET_RE = re.compile(r"\b(fq_|fiz_|ff_key_)([A-Za-z0-9_-]{6})[A-Za-z0-9_-]+")

access_logger = logging.getLogger("canvasflow.access")


def redact(text: str) -> str:
    return SECRET_RE.sub(r"\1\2…", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken log call must not break the request
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class AccessLogMiddleware:
    """ASGI access log (NCSA-like) through the logging system, with secrets redacted."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status: dict[str, int] = {"code": 0, "size": 0}

        async def logging_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            elif message["type"] == "http.response.body":
                status["size"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logging_send)
        finally:
            client = (scope.get("client") or ("-", 0))[0]
            access_logger.info(
                '%s "%s %s" %s %s %.1fms',
                client,
                scope.get("method", "-"),
                redact(scope.get("path", "")),
                status["code"] or "-",
                status["size"],
                (time.monotonic() - started) * 1000,
            )
