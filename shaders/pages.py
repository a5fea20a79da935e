"""Web pages of the shader community: gallery/feed, shader page, editor.

The pages are shells: their scripts call the same /api/v1 endpoints as everyone else, authenticated by the
Django session cookie (with CSRF) or by the access token the site's /login/ page keeps in the tab.
The GLSL wrapper comes from shaders.glsl, so the browser runs exactly the shader glslangValidator checked.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import ensure_csrf_cookie

from config.errors import CanvasflowError
from shaders import glsl, services
from shaders.models import Shader


def login_url() -> str:
    """The project's /login/ page once it exists; Django admin's login until then."""
    try:
        resolve("/login/")
        return "/login/"
    except Resolver404:
        return "/admin/login/"


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
    """Rendered with the shader when the server can see it; a signed-in session that cannot gets 404.

    A visitor without a session may be signed in with an access token (the site's /login/), so an
    existing shader they might own gets the bare shell and shader.js asks the API, which decides.
    """
    try:
        shader = services.get_visible(request.user, shader_id)
    except CanvasflowError:
        if request.user.is_authenticated or not Shader.objects.filter(pk=shader_id).exists():
            raise Http404("Shader not found") from None
        shader = None
    is_owner = shader is not None and request.user.is_authenticated and shader.owner_id == request.user.pk
    context = _context(request, shader=shader, shader_id=shader_id, is_owner=is_owner)
    return render(request, "shaders/shader.html", context)


@ensure_csrf_cookie
def editor(request: HttpRequest, shader_id: Any = None) -> HttpResponse:
    """For signed-in users only, checked where the sign-in is visible.

    A Django session is checked here (and ownership with it). The site's /login/ page signs in with an
    access token that lives in the browser tab, which the server never sees; for those visitors editor.js
    asks /api/v1/me and sends anyone not signed in to the login page. A server-side redirect would loop
    for them. The API enforces authentication and ownership on every save either way.
    """
    shader = (
        _shader_or_404(request, shader_id, owned=True)
        if shader_id and request.user.is_authenticated
        else None
    )
    return render(request, "shaders/editor.html", _context(request, shader=shader, shader_id=shader_id or ""))
