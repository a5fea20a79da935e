"""Django admin for every shader model, and the idempotent demo seeder."""

from __future__ import annotations

import io

import pytest

from shaders import demo, glsl
from shaders.models import Desire, Shader, ShaderVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


MODELS = ["shader", "shaderversion", "vote", "engagementevent", "desire", "desirecluster"]


@pytest.mark.parametrize("model", MODELS)
def test_changelists_with_search_and_filters(admin_client, model, make_shader, pro_user):
    shader = make_shader(owner=pro_user)
    Desire.objects.create(author=pro_user, prompt_text="a wish")
    assert admin_client.get(f"/admin/shaders/{model}/").status_code == 200
    assert admin_client.get(f"/admin/shaders/{model}/?q=a").status_code == 200
    assert shader


def test_shader_change_page_and_filters(admin_client, make_shader):
    shader = make_shader()
    assert admin_client.get(f"/admin/shaders/shader/{shader.pk}/change/").status_code == 200
    assert (
        admin_client.get("/admin/shaders/shader/?status__exact=published&is_system__exact=0").status_code
        == 200
    )


def test_admin_edits_are_validated_and_versioned(
    admin_client, make_shader, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: None)
    shader = make_shader(title="Admin edit")
    url = f"/admin/shaders/shader/{shader.pk}/change/"
    form = {
        "owner": shader.owner_id,
        "title": "Admin edited",
        "description": "",
        "tags": '["Curated"]',
        "shader_type": "2d",
        "glsl_code": shader.glsl_code,
        "status": "published",
        "is_system": "on",
        "thumbnail": "",
        "preview": "",
        "versions-TOTAL_FORMS": "1",
        "versions-INITIAL_FORMS": "1",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
        "versions-0-id": shader.versions.get().pk,
        "versions-0-shader": shader.pk,
    }
    bad = admin_client.post(url, {**form, "glsl_code": "void mainImage(out vec4 c, in vec2 f) { c = nope; }"})
    assert bad.status_code == 200 and "undeclared identifier" in bad.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        resp = admin_client.post(url, form)
    assert resp.status_code == 302, resp.content.decode()[:2000]
    shader.refresh_from_db()
    assert shader.title == "Admin edited" and shader.is_system and shader.tags == ["curated"]
    assert shader.tags_index == ",curated," and shader.current_version == 2
    assert ShaderVersion.objects.get(shader=shader, number=2).change_note == "Edited in admin"


def test_demo_seed_is_idempotent(make_user):
    user = make_user(tier="pro")
    out = io.StringIO()
    demo.seed(user, out)
    demo.seed(user, out)
    shaders = Shader.objects.filter(owner=user)
    assert shaders.count() == len(demo.DEMO_SHADERS)
    assert all(s.status == "published" and s.is_system and s.current_version == 1 for s in shaders)
    assert "0 created" in out.getvalue()
    assert all(glsl.validate(spec["glsl_code"]).ok for spec in demo.DEMO_SHADERS)
