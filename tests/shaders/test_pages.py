"""Gallery, shader page and editor: server-rendered shells whose scripts use the same API."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from shaders import glsl

pytestmark = pytest.mark.django_db


def wrapper_of(html: str) -> dict:
    match = re.search(r'<script id="ff-glsl-wrapper" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


def test_gallery_page(client):
    resp = client.get("/shaders/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'id="ff-grid"' in html and "shaders/gallery.js" in html
    assert "csrftoken" in resp.cookies  # the scripts send it back on POST/PUT/DELETE
    assert wrapper_of(html) == {
        "prelude": glsl.PRELUDE,
        "epilogue": glsl.EPILOGUE,
        "vertex": glsl.VERTEX_SHADER,
    }


def test_shader_page_has_live_preview_and_history(client, make_shader):
    shader = make_shader(title="Page shader")
    resp = client.get(f"/shaders/{shader.pk}/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'id="ff-canvas"' in html and 'id="ff-versions"' in html and "shaders/player.js" in html
    assert "Page shader" in html


def test_someone_elses_draft_page_is_404(client, make_shader, make_user):
    draft = make_shader(status="draft", title="Hidden title")
    # without a session the page is a bare shell (the API, called with the tab's token, decides)
    shell = client.get(f"/shaders/{draft.pk}/")
    assert shell.status_code == 200 and "Hidden title" not in shell.content.decode()
    assert draft.glsl_code not in shell.content.decode()
    assert client.get("/shaders/00000000-0000-4000-8000-000000000000/").status_code == 404
    client.force_login(make_user())
    assert client.get(f"/shaders/{draft.pk}/").status_code == 404
    assert client.get(f"/shaders/{draft.pk}/edit/").status_code == 404


def test_editor_for_a_session_user(make_shader, pro_user):
    client = Client()
    client.force_login(pro_user)
    assert client.get("/shaders/new/").status_code == 200
    shader = make_shader(owner=pro_user, status="draft", title="Mine")
    resp = client.get(f"/shaders/{shader.pk}/edit/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "mainImage" in html and 'data-server-loaded="1"' in html and "shaders/editor.js" in html


def test_editor_shell_for_token_sign_ins_sends_strangers_to_login(client):
    """The site's /login/ keeps an access token in the tab: editor.js checks /api/v1/me and redirects."""
    resp = client.get("/shaders/new/")
    assert resp.status_code == 200
    assert 'data-login-url="/login/?next=/shaders/new/"' in resp.content.decode()


def test_session_pages_can_write_through_the_api_with_csrf(make_shader, pro_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(pro_user)
    shader = make_shader()
    url = f"/api/v1/shaders/{shader.pk}/vote"
    assert client.post(url, {"value": 1}, content_type="application/json").status_code == 403  # no token
    token = client.get("/shaders/").cookies["csrftoken"].value
    resp = client.post(url, {"value": 1}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert resp.status_code == 200


def test_static_files_are_served(client):
    for name in ("player.js", "api.js", "gallery.js", "shader.js", "editor.js", "header.js", "shaders.css"):
        resp = client.get(f"/static/shaders/{name}")
        assert resp.status_code == 200, name
