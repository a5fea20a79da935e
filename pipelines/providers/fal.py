"""fal through its official client (``fal-client``), on the fal key of the account billed for the run.

A request goes through fal's queue: ``submit`` (one HTTP call), then the status is polled every
``FAL_POLL_SECONDS`` until it is completed, failed, cancelled by the run (the fal request is cancelled too), or
past ``FAL_MAX_WAIT_SECONDS``; the result is fetched once. A client is made per call with the payer's key, so
fal-client's environment fallback (``FAL_KEY``) is never reached and a run can only spend its payer's fal
account. ``FAL_BASE_URL`` (a setting) sends every request fal-client makes to fal's hosts to another server
instead (a fal-compatible gateway, or the tests' fake fal on 127.0.0.1): it is done with an httpx transport
handed to the client, which rewrites the scheme, host and port of requests to fal's own hosts and leaves the
path alone. Image inputs travel as ``data:`` URIs in the arguments (fal accepts them wherever it takes a file
URL), so no upload step is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import fal_client
import httpx
from django.conf import settings

from pipelines.providers.base import KEYS_ENDPOINT, KeyLookup, ProviderError, require_key

NAME = "fal"
TITLE = "fal"
# The hosts fal-client talks to (queue, synchronous run, REST, CDN); FAL_BASE_URL replaces them all.
FAL_HOSTS = ("fal.run", "fal.ai", "fal.media")


class _Rebased(httpx.HTTPTransport):
    """An httpx transport that sends requests for fal's hosts to ``base`` (scheme, host and port)."""

    def __init__(self, base: str, **kwargs: Any):
        super().__init__(**kwargs)
        parts = urlsplit(base)
        self.scheme, self.host, self.port = parts.scheme, parts.hostname or "", parts.port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if any(host == h or host.endswith("." + h) for h in FAL_HOSTS):
            request.url = request.url.copy_with(scheme=self.scheme, host=self.host, port=self.port)
            request.headers["Host"] = f"{self.host}:{self.port}" if self.port else self.host
        return super().handle_request(request)


def _client(key: str) -> fal_client.SyncClient:
    timeout = settings.PROVIDER_TIMEOUT_SECONDS
    client = fal_client.SyncClient(key=key, default_timeout=timeout)
    base = getattr(settings, "FAL_BASE_URL", "")
    transport = _Rebased(base) if base else httpx.HTTPTransport()
    # fal-client builds its httpx client lazily (a cached property); ours is that client with our transport.
    client.__dict__["_client"] = httpx.Client(
        headers={"Authorization": f"Key {key}", "User-Agent": fal_client.client.USER_AGENT},
        timeout=timeout,
        follow_redirects=True,
        transport=transport,
    )
    return client


def run(
    provider_key: KeyLookup,
    app_id: str,
    arguments: dict[str, Any],
    *,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] = lambda fraction: None,
    log: Callable[[str], None] = lambda message: None,
) -> tuple[str, dict[str, Any]]:
    """Run fal app ``app_id`` on ``arguments`` through fal's queue: ``(request id, result)``.

    ``cancelled()`` is checked between polls: when it says so, the fal request is cancelled and
    :class:`Cancelled` is raised."""
    key = require_key(provider_key, NAME, TITLE)
    client = _client(key)
    deadline = time.monotonic() + float(getattr(settings, "FAL_MAX_WAIT_SECONDS", 600))
    poll = float(getattr(settings, "FAL_POLL_SECONDS", 1.0))
    handle = None
    try:
        handle = client.submit(app_id, arguments)
        log(f"fal request {handle.request_id} submitted to {app_id}")
        progress(0.05)
        while True:
            if cancelled():
                _cancel(handle)
                raise Cancelled(handle.request_id)
            status = handle.status()
            if isinstance(status, fal_client.Completed):
                if status.error:
                    raise ProviderError(
                        f"{TITLE} app {app_id} failed: {str(status.error)[:500]}",
                        "PROVIDER_FAILED",
                        server_fault=True,
                    )
                break
            progress(0.5 if isinstance(status, fal_client.InProgress) else 0.1)
            if time.monotonic() > deadline:
                _cancel(handle)
                raise ProviderError(
                    f"{TITLE} app {app_id} did not finish within "
                    f"{getattr(settings, 'FAL_MAX_WAIT_SECONDS', 600):g} seconds",
                    "PROVIDER_TIMEOUT",
                    server_fault=True,
                )
            time.sleep(poll)
        result = handle.get(interval=poll)
    except fal_client.client.FalClientHTTPError as exc:
        raise _classified(exc, app_id, key) from None
    except (httpx.TimeoutException, fal_client.client.FalClientTimeoutError):
        raise ProviderError(
            f"{TITLE} did not answer within {settings.PROVIDER_TIMEOUT_SECONDS:g} seconds",
            "PROVIDER_UNAVAILABLE",
            server_fault=True,
        ) from None
    except (httpx.HTTPError, ValueError, KeyError):
        raise ProviderError(
            f"{TITLE} could not be reached or answered something unreadable",
            "PROVIDER_UNAVAILABLE",
            server_fault=True,
        ) from None
    finally:
        client._client.close()
    if not isinstance(result, dict):
        raise ProviderError(
            f"{TITLE} app {app_id} answered without a result", "PROVIDER_FAILED", server_fault=True
        )
    return handle.request_id, result


class Cancelled(Exception):
    """The run was cancelled while fal worked on its request (which was cancelled too)."""


def _cancel(handle: Any) -> None:
    try:
        handle.cancel()
    except (fal_client.client.FalClientError, httpx.HTTPError):
        pass  # already finished, or fal is unreachable: nothing more to do


def _classified(exc: fal_client.client.FalClientHTTPError, app_id: str, key: str) -> ProviderError:
    """Our error for a fal HTTP error; fal's own words only where they help the caller, never the key."""
    status = exc.status_code
    said = str(exc.message or "").replace(key, "…")[:500]
    if status >= 500:
        return ProviderError(
            f"{TITLE} is failing (HTTP {status}){': ' + said if said else ''}",
            "PROVIDER_UNAVAILABLE",
            server_fault=True,
        )
    if status in (401, 403):
        return ProviderError(
            f"{TITLE} rejected the API key of the account billed for this run (HTTP {status}): store a valid "
            f'one with {KEYS_ENDPOINT} {{"provider": "{NAME}", "key": "…"}}.',
            "PROVIDER_KEY_REJECTED",
        )
    if status == 429:
        return ProviderError(
            f"{TITLE} refused the call for the key's rate limit or quota (HTTP 429)", "PROVIDER_RATE_LIMITED"
        )
    if status == 404:
        return ProviderError(f"{TITLE} has no app {app_id!r} (HTTP 404)", "PROVIDER_REQUEST_REJECTED")
    return ProviderError(
        f"{TITLE} app {app_id} refused the request (HTTP {status}){': ' + said if said else ''}",
        "PROVIDER_REQUEST_REJECTED",
    )


def media_urls(result: Any) -> list[tuple[str, str]]:
    """The ``(kind, url)`` of every file in a fal result, in order: ``images``/``image`` (kind ``image``),
    ``video``/``videos`` (``video``), any other ``{"url": …}`` object (``file``)."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, kind: str) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("url"), str):
                content_type = str(value.get("content_type") or "")
                found.append((content_type.split("/")[0] if "/" in content_type else kind, value["url"]))
                return
            for name, item in value.items():
                walk(
                    item,
                    "image" if name.startswith("image") else "video" if name.startswith("video") else kind,
                )
        elif isinstance(value, list):
            for item in value:
                walk(item, kind)

    walk(result, "file")
    return found
