"""Thumbnails and previews rendered on the CPU through Mesa (moderngl, EGL, llvmpipe) into default storage."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from django_q.conf import Conf
from PIL import Image, ImageStat
from rest_framework.test import APIClient

from shaders import render, tasks
from shaders.models import RenderStatus, Shader
from tests.shaders.conftest import GOOD_CODE, OTHER_CODE

pytestmark = pytest.mark.django_db


def opened(name: str) -> Image.Image:
    with default_storage.open(name) as fh:
        return Image.open(io.BytesIO(fh.read()))


def assert_not_blank(image: Image.Image) -> None:
    stat = ImageStat.Stat(image.convert("RGB"))
    assert max(stat.stddev) > 10, f"flat image: {stat.mean}"


def test_render_task_stores_a_thumbnail_and_an_animated_preview(make_shader):
    shader = make_shader(code=GOOD_CODE)
    assert tasks.render_shader(shader.pk) == "done"
    shader.refresh_from_db()
    assert shader.render_status == RenderStatus.DONE and shader.rendered_version == 1
    thumb = opened(shader.thumbnail.name)
    assert thumb.format == "PNG" and thumb.size == render.THUMBNAIL_SIZE
    assert_not_blank(thumb)
    preview = opened(shader.preview.name)
    assert preview.n_frames == render.PREVIEW_FRAMES and preview.size == render.PREVIEW_SIZE
    preview.seek(0)
    first = preview.convert("RGB").copy()
    preview.seek(render.PREVIEW_FRAMES - 1)
    last = preview.convert("RGB")
    assert ImageStat.Stat(first).mean != ImageStat.Stat(last).mean  # it moves
    # the rendered image is the shader's picture: red grows left to right in GOOD_CODE's palette at t=1.5
    left, right = thumb.convert("RGB").getpixel((5, 135)), thumb.convert("RGB").getpixel((474, 135))
    assert left != right


def test_a_new_version_replaces_the_old_files(make_shader, pro_user):
    from shaders import services

    shader = make_shader(owner=pro_user)
    tasks.render_shader(shader.pk)
    shader.refresh_from_db()
    old_thumb = shader.thumbnail.name
    services.update_shader(pro_user, shader.pk, {"glsl_code": OTHER_CODE})
    assert tasks.render_shader(shader.pk) == "done"
    shader.refresh_from_db()
    assert shader.rendered_version == 2 and shader.thumbnail.name != old_thumb
    assert not default_storage.exists(old_thumb)
    assert_not_blank(opened(shader.thumbnail.name))


def test_a_shader_that_never_finishes_is_killed_and_marked_failed(make_shader, monkeypatch):
    hang = (
        "void mainImage(out vec4 c, in vec2 f) {\n"
        "    float x = 0.0;\n"
        "    while (x >= 0.0) { x += 1.0; }\n"
        "    c = vec4(x);\n"
        "}\n"
    )
    shader = make_shader(code=hang)
    monkeypatch.setattr(render, "RENDER_TIMEOUT_S", 3)
    assert tasks.render_shader(shader.pk) == "failed"
    shader.refresh_from_db()
    assert shader.render_status == RenderStatus.FAILED and "timed out" in shader.render_error


def test_render_of_a_deleted_shader_is_a_no_op(make_shader):
    shader = make_shader()
    shader_id = shader.pk
    shader.delete()
    assert tasks.render_shader(shader_id) == "gone"


def test_publishing_renders_through_django_q_in_sync_mode(
    pro_client, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        resp = pro_client.post(
            "/api/v1/shaders",
            {"title": "Synced", "glsl_code": OTHER_CODE, "status": "published"},
            format="json",
        )
    assert resp.status_code == 201
    shader = Shader.objects.get(pk=resp.json()["id"])
    assert shader.render_status == RenderStatus.DONE
    assert_not_blank(opened(shader.thumbnail.name))
    body = pro_client.get(f"/api/v1/shaders/{shader.pk}").json()
    # signed, expiring URLs (config.media): the bytes for the signed URL, 403 for the bare path
    for field, url in ((shader.thumbnail, body["thumbnail_url"]), (shader.preview, body["preview_url"])):
        assert url.startswith(f"http://testserver{default_storage.base_url}{field.name}?")
        path_and_query = url.removeprefix("http://testserver")
        assert APIClient().get(path_and_query).status_code == 200
        assert APIClient().get(path_and_query.split("?")[0]).status_code == 403
