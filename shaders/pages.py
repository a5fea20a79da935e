"""Web pages of the shader community: gallery/feed, shader page, editor.

The pages are shells: their scripts call the same /api/v1 endpoints as everyone else, authenticated by the
session cookie (with CSRF). The GLSL wrapper comes from shaders.glsl so the browser runs exactly the
shader that glslangValidator checked.
"""

from __future__ import annotations

from functools import wraps
from typing import Any
from urllib.parse import quote

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import ensure_csrf_cookie

from config.errors import CanvasflowError
from shaders import glsl, services


def login_url() -> str:
    """The project's /login/ page once it exists; Django admin's login until then."""
    try:
        resolve("/login/")
        return "/login/"
    except Resolver404:
        return "/admin/login/"


def login_required_page(view: Any) -> Any:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return HttpResponseRedirect(f"{login_url()}?next={quote(request.get_full_path())}")
        return view(request, *args, **kwargs)

    return wrapper


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "glsl_wrapper": {"prelude": glsl.PRELUDE, "epilogue": glsl.EPILOGUE, "vertex": glsl.VERTEX_SHADER},
        "login_url": f"{login_url()}?next={quote(request.get_full_path())}",
        **extra,
    }


def _shader_or_404(request: HttpRequest, shader_id: Any, owned: bool = False) -> Any:
    try:
        if owned:
            return services.get_owned(request.user, shader_id)
        return services.get_visible(request.user, shader_id)
    except CanvasflowError as exc:
        raise Http404(exc.message) from exc


@ensure_csrf_cookie
def gallery(request: HttpRequest) -> HttpResponse:
    return render(request, "shaders/gallery.html", _context(request))


@ensure_csrf_cookie
def shader_page(request: HttpRequest, shader_id: Any) -> HttpResponse:
    shader = _shader_or_404(request, shader_id)
    is_owner = request.user.is_authenticated and shader.owner_id == request.user.pk
    return render(request, "shaders/shader.html", _context(request, shader=shader, is_owner=is_owner))


@ensure_csrf_cookie
@login_required_page
def editor(request: HttpRequest, shader_id: Any = None) -> HttpResponse:
    shader = _shader_or_404(request, shader_id, owned=True) if shader_id else None
    return render(request, "shaders/editor.html", _context(request, shader=shader))
