"""The browser pages: server-rendered shells that the page bundle (pipelines/canvas/, built into
static/canvas/ by Vite) fills in.

The pages hold no business logic and need no session: the bundle signs in with the fractafrag auth API,
keeps the access token in the tab and refreshes it with the HttpOnly cookie, and speaks only the public
creator API and the run WebSocket. Signed-in pages therefore render for anyone; the bundle sends a visitor
without a valid token to /login/.
"""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

BUNDLE = "canvas/app.js"


def _bundle_built() -> bool:
    return finders.find(BUNDLE) is not None


def _app(request: HttpRequest, page: str, title: str, *, fullbleed: bool = False,
         app_data: dict[str, Any] | None = None) -> HttpResponse:
    """``app_data`` becomes ``data-*`` attributes of ``#app``: the page component's props (camelCased)."""
    context = {
        "page": page,
        "title": title,
        "fullbleed": fullbleed,
        "app_data": app_data or {},
        "canvas_built": _bundle_built(),
    }
    response = render(request, "pages/app.html", context)
    # The access token lives in the page's memory; keep these pages out of shared caches.
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/home.html", {"canvas_built": _bundle_built()})


@require_GET
def login(request: HttpRequest) -> HttpResponse:
    return _app(request, "login", "Log in")


@require_GET
def signup(request: HttpRequest) -> HttpResponse:
    return _app(request, "signup", "Sign up")


@require_GET
def logout(request: HttpRequest) -> HttpResponse:
    return _app(request, "logout", "Log out")


@require_GET
def account(request: HttpRequest) -> HttpResponse:
    return _app(request, "account", "Account")


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return _app(request, "dashboard", "Studio")


@require_GET
def canvas(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    return _app(request, "studio", "Canvas", fullbleed=True, app_data={"pipeline-id": pipeline_id})


@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """Every run of the signed-in user across pipelines, queued, running and finished."""
    return _app(request, "queue", "Queue")


@require_GET
def runs(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    return _app(request, "runs", "Run history", app_data={"pipeline-id": pipeline_id})


@require_GET
def workflow(request: HttpRequest, workflow_id: str) -> HttpResponse:
    """A Sartiq workflow as a read-only graph with each step's live status."""
    return _app(request, "workflow", "Workflow", app_data={"workflow-id": str(workflow_id)})
