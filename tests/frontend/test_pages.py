"""The page shells: every route answers, names its page for the bundle, and loads only local assets."""

from __future__ import annotations

import re

import pytest

PAGES = [
    ("/login/", "login"),
    ("/signup/", "signup"),
    ("/logout/", "logout"),
    ("/account/", "account"),
    ("/studio/", "dashboard"),
    ("/studio/12/", "studio"),
    ("/studio/12/runs/", "runs"),
]


@pytest.mark.parametrize("url,page", PAGES)
def test_page_shell_names_its_page(client, url, page):
    resp = client.get(url)
    assert resp.status_code == 200
    html = resp.content.decode()
    assert f'data-page="{page}"' in html
    assert '<div id="app"' in html
    assert resp["Cache-Control"] == "no-store"


def test_canvas_passes_the_pipeline_id_to_the_bundle(client):
    html = client.get("/studio/12/").content.decode()
    assert 'data-pipeline-id="12"' in html
    assert 'class="fullbleed"' in html


def test_home_shows_the_quick_start(client):
    html = client.get("/").content.decode()
    for step in ("Sign in", "Build", "Publish", "Call"):
        assert f"<h2>{step}</h2>" in html
    assert 'href="/signup/"' in html


@pytest.mark.parametrize("url", ["/", "/login/", "/studio/12/"])
def test_pages_fetch_nothing_from_other_hosts(client, url):
    html = client.get(url).content.decode()
    external = re.findall(r'(?:src|href)="(https?:)?//', html)
    assert external == []
    assert "/static/canvas/app.js" in html and "/static/canvas/app.css" in html


def test_pages_only_answer_get(client):
    assert client.post("/studio/").status_code == 405


def test_missing_bundle_is_explained(client, monkeypatch):
    from pipelines import pages

    monkeypatch.setattr(pages, "_bundle_built", lambda: False)
    html = client.get("/studio/").content.decode()
    assert "npm ci &amp;&amp; npm run build" in html
