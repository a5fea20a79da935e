"""Pieces the surface adapters share: output rendering and per-surface error rendering."""

from __future__ import annotations

from typing import Any

from rest_framework.views import APIView

from accounts.errors import render_with
from accounts.ratelimit import RateLimitHeadersMixin
from runs import artifacts
from runs.models import Artifact, Run


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


def surface_view(shape: Any, status_of: Any = None) -> type[APIView]:
    """A DRF base view class whose errors render in ``shape`` (one handler per surface), with the HTTP status
    mapped by ``status_of`` where the surface's seed knows fewer statuses than we use."""

    class SurfaceView(RateLimitHeadersMixin, APIView):
        def get_exception_handler(self):
            return lambda exc, context: render_with(shape, exc, context, status_of)

    return SurfaceView
