"""Sartiq's storage routes on local files: save, get, head, list, delete; paths with slashes; traversal
refused; one user's space unreachable to another; a task's result readable by its path."""

from __future__ import annotations

import io

import pytest
from rest_framework.test import APIClient

from tests.sartiq.conftest import adjuster, png

pytestmark = pytest.mark.django_db
BASE = "/api/v1/storage/images"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def save(client, path, data=None, name="x.png"):
    upload = io.BytesIO(data if data is not None else png())
    upload.name = name
    return client.post(f"{BASE}/{path}", {"file": upload}, format="multipart")


def test_save_get_head_list_delete(sartiq):
    resp = save(sartiq, "generations/abc/result.png")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["path"] == "generations/abc/result.png" and body["content_type"] == "image/png"
    assert body["size"] == len(png()) and body["url"].startswith("http")

    got = sartiq.get(f"{BASE}/generations/abc/result.png")
    assert got.status_code == 200 and got["Content-Type"] == "image/png"
    assert b"".join(got.streaming_content) == png()

    head = sartiq.head(f"{BASE}/generations/abc/result.png")
    assert head.status_code == 200 and head["Content-Length"] == str(len(png())) and not head.content
    assert sartiq.head(f"{BASE}/generations/abc/none.png").status_code == 404

    save(sartiq, "generations/def/result.png")
    save(sartiq, "refines/r1.png")
    listed = sartiq.get(BASE).json()
    assert [i["path"] for i in listed["images"]] == [
        "generations/abc/result.png",
        "generations/def/result.png",
        "refines/r1.png",
    ]
    assert listed["count"] == 3
    assert [i["path"] for i in sartiq.get(f"{BASE}?prefix=generations/d").json()["images"]] == [
        "generations/def/result.png"
    ]
    assert sartiq.get(f"{BASE}?limit=1").json()["count"] == 1

    resp = sartiq.delete(f"{BASE}/generations/abc/result.png")
    assert resp.status_code == 200 and resp.json() == {"path": "generations/abc/result.png", "deleted": True}
    assert sartiq.get(f"{BASE}/generations/abc/result.png").status_code == 404
    assert sartiq.delete(f"{BASE}/generations/abc/result.png").status_code == 404


def test_saving_again_replaces(sartiq):
    save(sartiq, "a.png")
    other = png(color=(1, 2, 3))
    assert save(sartiq, "a.png", other).json()["path"] == "a.png"
    assert b"".join(sartiq.get(f"{BASE}/a.png").streaming_content) == other


@pytest.mark.parametrize(
    "path",
    ["../x.png", "a/../../x.png", "a/%2E%2E/x.png", "a/%252e%252e/x.png", "a//b.png", ".hidden", "a\\b.png"],
)
def test_traversal_and_odd_paths_are_refused(sartiq, path, tmp_path):
    for method in ("get", "delete"):
        resp = getattr(sartiq, method)(f"{BASE}/{path}")
        assert resp.status_code in (404, 422), (method, path, resp.status_code)
        assert "detail" in resp.json()
    resp = save(sartiq, path)
    assert resp.status_code in (404, 422), (path, resp.status_code)
    assert not list(tmp_path.rglob("x.png"))


def test_an_absolute_path_is_refused(sartiq):
    resp = sartiq.get(f"{BASE}//etc/passwd")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["path", "path"]


def test_a_save_needs_an_image(sartiq):
    resp = save(sartiq, "a.png", b"not an image")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "file"]
    resp = sartiq.post(f"{BASE}/a.png", {}, format="multipart")
    assert resp.json() == {"detail": [{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}]}
    resp = sartiq.post(f"{BASE}/a.png", {"file": "x"}, format="json")
    assert resp.status_code == 422


def test_a_save_is_bounded(sartiq, settings):
    settings.INPUT_MAX_BYTES_PER_REQUEST = 100
    resp = save(sartiq, "a.png")
    assert resp.status_code == 413 and set(resp.json()) == {"detail"}


def test_one_users_space_is_unreachable_to_another(sartiq, other):
    save(sartiq, "mine/secret.png")
    assert other.get(f"{BASE}/mine/secret.png").status_code == 404
    assert other.head(f"{BASE}/mine/secret.png").status_code == 404
    assert other.delete(f"{BASE}/mine/secret.png").status_code == 404
    assert other.get(BASE).json() == {"images": [], "count": 0}
    assert sartiq.get(f"{BASE}/mine/secret.png").status_code == 200


def test_a_tasks_result_is_readable_by_its_path_to_its_owner_only(sartiq, other):
    task = sartiq.post("/api/v1/tasks/", adjuster(), format="json").json()
    path = task["result_image_path"]
    got = sartiq.get(f"{BASE}/{path}")
    assert got.status_code == 200 and got["Content-Type"] == "image/png"
    assert sartiq.head(f"{BASE}/{path}").status_code == 200
    assert other.get(f"{BASE}/{path}").status_code == 404
    assert sartiq.delete(f"{BASE}/{path}").status_code == 404  # not in the user's space: not changed here


def test_storage_needs_a_token():
    for method in ("get", "post", "delete"):
        resp = getattr(APIClient(), method)(f"{BASE}/a.png")
        assert resp.status_code == 401 and resp.json() == {"detail": "Not authenticated"}
    assert APIClient().get(BASE).status_code == 401


def test_query_errors(sartiq):
    resp = sartiq.get(f"{BASE}?limit=x")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["query", "limit"]
    assert sartiq.get(f"{BASE}?prefix=../").status_code == 422


def test_with_a_bucket_get_redirects_to_the_storages_url(sartiq, settings):
    """On S3 (STORAGE_BUCKET set) the bytes are not proxied: a redirect to the storage's presigned URL (here
    the local storage's signed URL stands in for it; S3 itself is not exercised by this test)."""
    save(sartiq, "r.png")
    settings.STORAGE_BUCKET = "bucket"
    resp = sartiq.get(f"{BASE}/r.png")
    assert resp.status_code == 302 and "signature=" in resp["Location"]
