"""Pieces the surface adapters share: output rendering and per-surface error rendering."""

from __future__ import annotations

from typing import Any

from rest_framework.views import APIView

from accounts.errors import render_with
from accounts.ratelimit import RateLimitHeadersMixin
from config.errors import BadRequest, NotFound
from config.timefmt import iso_z
from pipelines.nodes.base import NodeError
from runs import artifacts
from runs.models import Artifact, Run
from runs.webhooks import check_webhook_url


class BaseURL:
    """Builds absolute URLs outside a request (webhooks, callbacks) from the base the run was submitted on."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")

    def build_absolute_uri(self, location: str) -> str:
        return self.base + location


def base_url_option(request: Any) -> dict[str, str]:
    """The run option that remembers the base URL a run was submitted on (read back by :func:`base_url_of`)."""
    return {"_base_url": request.build_absolute_uri("/")}


def base_url_of(run: Run) -> BaseURL:
    return BaseURL(run.options.get("_base_url", ""))


def image_outputs(run: Run, request: Any) -> dict[str, dict[str, Any]]:
    """Artifact descriptions (with absolute URLs) for the image outputs of ``run``, by output key."""
    ids = [v["artifact_id"] for v in run.outputs.values() if v.get("type") == "image"]
    if not ids:
        return {}
    by_id = {a.id: a for a in Artifact.objects.filter(pk__in=ids)}
    return {
        key: artifacts.describe(by_id[v["artifact_id"]], request)
        for key, v in run.outputs.items()
        if v.get("type") == "image" and v["artifact_id"] in by_id
    }


def flat_outputs(run: Run, request: Any, image_style: str = "url") -> dict[str, Any]:
    """``{key: value}``: images as an absolute URL ("url") or as {url, width, height} ("object")."""
    images = image_outputs(run, request)
    result: dict[str, Any] = {}
    for key, value in run.outputs.items():
        if value.get("type") == "image":
            img = images.get(key)
            if img is None:
                continue
            result[key] = (
                img["url"]
                if image_style == "url"
                else {
                    "url": img["url"],
                    "width": img["width"],
                    "height": img["height"],
                    "content_type": img["content_type"],
                }
            )
        else:
            result[key] = value.get("value")
    return result


def node_log_lines(run: Run) -> list[tuple[Any, str, str]]:
    """Each node's start and end as ``(time, level, message)``, in the order they happened: the log the queue
    clients read (fal's log objects, Replicate's text)."""
    lines: list[tuple[Any, str, str]] = []
    for nr in run.node_runs.all().order_by("started_at", "id"):
        if nr.started_at is None:
            continue
        lines.append((nr.started_at, "INFO", f"{nr.node_id} ({nr.node_type}) started"))
        if nr.finished_at is None:
            continue
        if nr.error:
            lines.append((nr.finished_at, "ERROR", f"{nr.node_id} failed: {nr.error.get('message')}"))
        else:
            took = int((nr.finished_at - nr.started_at).total_seconds() * 1000)
            lines.append((nr.finished_at, "INFO", f"{nr.node_id} {nr.status} in {took} ms"))
    return lines


def checked_webhook(url: Any, name: str = "webhook") -> str:
    """A caller's webhook URL (``name``: its parameter), or BadRequest unless it is HTTPS to a public address;
    empty stays empty (no webhook)."""
    if not url:
        return ""
    if not isinstance(url, str):
        raise BadRequest(f"{name} must be a URL", code="BAD_REQUEST", details={name: "not a URL"})
    try:
        check_webhook_url(url)
    except NodeError as exc:
        raise BadRequest(
            f"Invalid {name} URL: {exc.message}", code="BAD_REQUEST", details={name: exc.message}
        ) from exc
    return url


def unmatched_view(base: type[APIView], message: str, **attrs: Any) -> type[APIView]:
    """The catch-all view under a surface's prefix: the surface's own 404 (its shape, its rate-limit headers)
    for a path none of its routes matches, instead of the site's generic one. ``attrs`` override ``base``'s
    (a throttle, a key scope) where its own would not fit a route without parameters."""

    def unmatched(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotFound(message, code="NOT_FOUND")

    methods = dict.fromkeys(("get", "post", "put", "patch", "delete"), unmatched)
    return type(f"Unmatched{base.__name__}", (base,), {"schema": None, **attrs, **methods})


def surface_view(shape: Any, status_of: Any = None) -> type[APIView]:
    """A DRF base view class whose errors render in ``shape`` (one handler per surface), with the HTTP status
    mapped by ``status_of`` where the surface's seed knows fewer statuses than we use."""

    class SurfaceView(RateLimitHeadersMixin, APIView):
        def get_exception_handler(self):
            return lambda exc, context: render_with(shape, exc, context, status_of)

    return SurfaceView


# -- callback / webhook delivery, as the caller of an async run sees it ----------------------------------

DELIVERY_STATES = {"pending": "pending", "delivered": "delivered", "failed": "given_up"}


def webhook_delivery(run: Run, camel: bool = False) -> dict[str, Any] | None:
    """Whether the callback (FractalQ) or webhook (Fizzly) of ``run`` reached the caller, or None when the
    run was submitted without one. The status responses of both surfaces show it under ``delivery``.

    ``status``: ``pending`` (the run is still going, or an attempt is under way or scheduled), ``delivered``
    (a 2xx answer) or ``given_up`` (every attempt failed, or a 4xx other than 429 ended them); ``attempts``
    made so far and the HTTP status of the last one (null: no answer, see ``last_error``). ``camel``: the
    keys as FractalQ writes them (``lastStatusCode``), else as Fizzly does (``last_status_code``)."""
    if not run.webhook_url:
        return None
    delivery = max(run.webhook_deliveries.all(), key=lambda d: d.created_at, default=None)
    body: dict[str, Any] = {
        "status": DELIVERY_STATES.get(delivery.status, delivery.status) if delivery else "pending",
        "attempts": delivery.attempts if delivery else 0,
        "last_status_code": (delivery.response_codes or [None])[-1] if delivery else None,
        "last_error": (delivery.last_error or None) if delivery else None,
        "delivered_at": iso_z(delivery.delivered_at) if delivery else None,
    }
    if camel:
        return {_camel(key): value for key, value in body.items()}
    return body


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)
