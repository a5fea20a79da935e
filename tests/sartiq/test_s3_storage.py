"""Sartiq's storage and LoRA routes on S3: django-storages' S3Storage against moto's S3 server on 127.0.0.1.

The same routes as tests/sartiq/test_storage.py and test_lora.py, with the default storage switched to
``storages.backends.s3.S3Storage`` (as config/settings.py does when STORAGE_BUCKET is set) pointed at a local
moto server: save (multipart), head, get (a redirect to a presigned URL whose bytes are fetched from the
server), list with prefix and limit, delete, nested paths, traversal refused, one user's files invisible to
another, a task's result read back by its path, and the LoRA uploads and the admin delete to the bin.
"""

from __future__ import annotations

import io
import uuid
from urllib.parse import urlparse

import pytest
import requests
from django.core.files.storage import default_storage

from accounts.models import Tier
from tests.sartiq.conftest import adjuster, client_for, png
from tests.sartiq.test_lora import safetensors
from tests.sartiq.test_lora import upload as lora_upload

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

pytestmark = pytest.mark.django_db
BASE = "/api/v1/storage/images"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint():
    """A moto S3 server on 127.0.0.1 (a free port), stopped after the module."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def s3(s3_endpoint, settings, monkeypatch):
    """A fresh bucket per test and the default storage on it (Django's setting_changed signal resets the
    storages handler and ``default_storage`` when STORAGES changes)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    bucket = f"sartiq-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
    )
    client.create_bucket(Bucket=bucket)
    settings.STORAGE_BUCKET = bucket
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_endpoint,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": REGION,
                "addressing_style": "path",
                "querystring_auth": True,
                "querystring_expire": settings.MEDIA_URL_MAX_AGE,
            },
        },
    }
    client.bucket = bucket
    yield client


def keys(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket=s3.bucket)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def body_of(s3, key: str) -> bytes:
    return s3.get_object(Bucket=s3.bucket, Key=key)["Body"].read()


def save(client, path, data=None, name="x.png"):
    upload = io.BytesIO(data if data is not None else png())
    upload.name = name
    return client.post(f"{BASE}/{path}", {"file": upload}, format="multipart")


def follow(resp) -> requests.Response:
    """The presigned URL a GET redirected to, fetched from the S3 server itself."""
    assert resp.status_code == 302, resp.content
    location = resp["Location"]
    query = urlparse(location).query
    assert "X-Amz-Signature=" in query or "Signature=" in query, location
    return requests.get(location, timeout=10)


def test_the_default_storage_is_s3(s3):
    from storages.backends.s3 import S3Storage

    default_storage.save("probe/x.txt", io.BytesIO(b"abc"))
    assert isinstance(default_storage._wrapped, S3Storage)
    assert keys(s3) == ["probe/x.txt"]


def test_save_head_get_list_delete_on_s3(sartiq, s3):
    root = f"sartiq/{sartiq.user.pk}/"
    resp = save(sartiq, "generations/abc/result.png")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["path"] == "generations/abc/result.png" and body["content_type"] == "image/png"
    assert body["size"] == len(png())
    assert body["url"].startswith(f"{s3.meta.endpoint_url}/{s3.bucket}/") and "Signature=" in body["url"]
    assert keys(s3) == [root + "generations/abc/result.png"]
    assert body_of(s3, root + "generations/abc/result.png") == png()
    assert requests.get(body["url"], timeout=10).content == png()

    head = sartiq.head(f"{BASE}/generations/abc/result.png")
    assert head.status_code == 200 and head["Content-Length"] == str(len(png())) and not head.content
    assert head["Content-Type"] == "image/png"
    assert sartiq.head(f"{BASE}/generations/abc/none.png").status_code == 404
    assert sartiq.head(f"{BASE}/generations/abc").status_code == 404  # a folder is not a file
    assert sartiq.head(f"{BASE}/../x.png").status_code == 404

    got = follow(sartiq.get(f"{BASE}/generations/abc/result.png"))
    assert got.status_code == 200 and got.content == png()
    assert got.headers["Content-Type"] == "image/png"
    missing = sartiq.get(f"{BASE}/generations/abc/none.png")
    assert missing.status_code == 404 and missing.json() == {"detail": "Image not found"}

    save(sartiq, "generations/def/result.png")
    save(sartiq, "refines/r1.png")
    save(sartiq, "top.png")
    listed = sartiq.get(BASE).json()
    assert [i["path"] for i in listed["images"]] == [
        "generations/abc/result.png",
        "generations/def/result.png",
        "refines/r1.png",
        "top.png",
    ]
    assert listed["count"] == 4
    assert all(i["size"] == len(png()) and i["content_type"] == "image/png" for i in listed["images"])
    prefixed = sartiq.get(f"{BASE}?prefix=generations/d").json()
    assert [i["path"] for i in prefixed["images"]] == ["generations/def/result.png"]
    assert [i["path"] for i in sartiq.get(f"{BASE}?prefix=generations/").json()["images"]] == [
        "generations/abc/result.png",
        "generations/def/result.png",
    ]
    assert [i["path"] for i in sartiq.get(f"{BASE}?prefix=refines").json()["images"]] == ["refines/r1.png"]
    assert sartiq.get(f"{BASE}?prefix=nothing/").json() == {"images": [], "count": 0}
    limited = sartiq.get(f"{BASE}?limit=2").json()
    assert [i["path"] for i in limited["images"]] == [
        "generations/abc/result.png",
        "generations/def/result.png",
    ]
    assert sartiq.get(f"{BASE}?limit=0").json() == {"images": [], "count": 0}

    resp = sartiq.delete(f"{BASE}/generations/abc/result.png")
    assert resp.status_code == 200 and resp.json() == {"path": "generations/abc/result.png", "deleted": True}
    assert root + "generations/abc/result.png" not in keys(s3)
    assert sartiq.get(f"{BASE}/generations/abc/result.png").status_code == 404
    assert sartiq.head(f"{BASE}/generations/abc/result.png").status_code == 404
    assert sartiq.delete(f"{BASE}/generations/abc/result.png").status_code == 404
    assert [i["path"] for i in sartiq.get(BASE).json()["images"]] == [
        "generations/def/result.png",
        "refines/r1.png",
        "top.png",
    ]


def test_saving_again_replaces_on_s3(sartiq, s3):
    save(sartiq, "a.png")
    other = png(color=(1, 2, 3))
    assert save(sartiq, "a.png", other).json()["path"] == "a.png"
    assert keys(s3) == [f"sartiq/{sartiq.user.pk}/a.png"]
    assert follow(sartiq.get(f"{BASE}/a.png")).content == other


def test_deep_nested_paths_with_spaces_and_dots(sartiq, s3):
    path = "a/b c/d-e/f_g/h.i/j.png"
    assert save(sartiq, path).status_code == 200
    assert keys(s3) == [f"sartiq/{sartiq.user.pk}/{path}"]
    assert follow(sartiq.get(f"{BASE}/{path}")).content == png()
    assert [i["path"] for i in sartiq.get(f"{BASE}?prefix=a/b c/").json()["images"]] == [path]
    assert sartiq.delete(f"{BASE}/{path}").status_code == 200 and keys(s3) == []


@pytest.mark.parametrize(
    "path",
    [
        "../x.png",
        "a/../../x.png",
        "a/%2E%2E/x.png",
        "a/%252e%252e/x.png",
        "a/%2F../x.png",
        "%2F..%2Fx.png",
        "a//b.png",
        ".hidden",
        "a\\b.png",
        "/etc/passwd",
    ],
)
def test_traversal_and_odd_paths_are_refused_on_s3(sartiq, other, s3, path):
    # something of another user's that a traversal could aim at
    save(other, "x.png")
    before = keys(s3)
    for method in ("get", "delete"):
        resp = getattr(sartiq, method)(f"{BASE}/{path}")
        assert resp.status_code in (404, 422), (method, path, resp.status_code)
        assert "detail" in resp.json()
    assert sartiq.head(f"{BASE}/{path}").status_code == 404
    resp = save(sartiq, path)
    assert resp.status_code in (404, 422), (path, resp.status_code)
    assert keys(s3) == before


def test_an_absolute_path_and_a_bad_prefix_are_422(sartiq):
    resp = sartiq.get(f"{BASE}//etc/passwd")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["path", "path"]
    assert sartiq.get(f"{BASE}?prefix=../").status_code == 422
    assert sartiq.get(f"{BASE}?prefix=/sartiq").status_code == 422


def test_another_users_files_are_invisible_on_s3(sartiq, other, s3):
    save(sartiq, "mine/secret.png")
    save(other, "mine/own.png", png(color=(9, 9, 9)))
    assert other.get(f"{BASE}/mine/secret.png").status_code == 404
    assert other.head(f"{BASE}/mine/secret.png").status_code == 404
    assert other.delete(f"{BASE}/mine/secret.png").status_code == 404
    assert [i["path"] for i in other.get(BASE).json()["images"]] == ["mine/own.png"]
    assert [i["path"] for i in sartiq.get(BASE).json()["images"]] == ["mine/secret.png"]
    # the other user's ids are no way in either
    theirs = f"sartiq/{other.user.pk}/mine/own.png"
    assert sartiq.get(f"{BASE}/{theirs}").status_code == 404
    assert sartiq.get(f"{BASE}/../{other.user.pk}/mine/own.png").status_code in (404, 422)
    assert follow(sartiq.get(f"{BASE}/mine/secret.png")).content == png()
    assert len(keys(s3)) == 2


def test_a_non_image_is_refused_and_nothing_is_stored(sartiq, s3):
    resp = save(sartiq, "a.png", b"not an image")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "file"]
    assert keys(s3) == []


def test_a_tasks_result_is_stored_on_s3_and_readable_by_its_path(sartiq, other, s3):
    resp = sartiq.post("/api/v1/tasks/", adjuster(), format="json")
    assert resp.status_code == 200, resp.content
    task = resp.json()
    assert task["status"] == "COMPLETED", task
    path = task["result_image_path"]
    assert path.startswith("artifacts/") and path in keys(s3)
    got = follow(sartiq.get(f"{BASE}/{path}"))
    assert got.status_code == 200 and got.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert sartiq.head(f"{BASE}/{path}").status_code == 200
    assert other.get(f"{BASE}/{path}").status_code == 404
    assert sartiq.delete(f"{BASE}/{path}").status_code == 404 and path in keys(s3)


# -- LoRA files on S3 --------------------------------------------------------------------------------------


@pytest.fixture
def admin(make_user):
    return client_for(make_user(tier=Tier.PRO, is_staff=True))


def test_lora_user_upload_on_s3(sartiq, other, s3):
    resp = lora_upload(sartiq, entity_type="identities")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["file_path"] == f"models/loras/users/{sartiq.user.pk}/identities/My_Lora.safetensors"
    assert keys(s3) == [body["file_path"]] and body_of(s3, body["file_path"]) == safetensors()
    again = lora_upload(sartiq, entity_type="identities").json()
    assert again["partial_path"] == "identities/My_Lora_v2.safetensors"
    assert body_of(s3, again["file_path"]) == safetensors()
    resp = lora_upload(sartiq, entity_type="identities", use_safe_filename="false")
    assert resp.status_code == 409
    theirs = lora_upload(other, entity_type="identities").json()
    assert theirs["partial_path"] == "identities/My_Lora.safetensors"
    assert theirs["file_path"] != body["file_path"] and len(keys(s3)) == 3
    assert lora_upload(sartiq, data=safetensors(broken="offsets")).status_code == 422
    assert len(keys(s3)) == 3


def test_lora_admin_upload_and_delete_to_the_bin_on_s3(admin, s3):
    data = safetensors(tensors=3)
    resp = lora_upload(admin, route="/api/v1/admin/lora/upload", entity_type="faces", data=data)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["file_path"] == "models/loras/faces/My_Lora.safetensors" and body["file_size"] == len(data)
    assert keys(s3) == [body["file_path"]]

    resp = admin.delete("/api/v1/admin/lora", {"partial_path": body["partial_path"]}, format="json")
    assert resp.status_code == 200, resp.content
    deleted = resp.json()
    assert deleted["deleted"] is True and deleted["full_path"] == body["file_path"]
    assert deleted["bin_path"] == "bin/models/loras/faces/My_Lora.safetensors"
    assert keys(s3) == [deleted["bin_path"]] and body_of(s3, deleted["bin_path"]) == data
    resp = admin.delete("/api/v1/admin/lora", {"partial_path": body["partial_path"]}, format="json")
    assert resp.status_code == 404

    # the same name deleted again lands beside the first in the bin, both intact
    lora_upload(admin, route="/api/v1/admin/lora/upload", entity_type="faces", data=safetensors(2))
    again = admin.delete("/api/v1/admin/lora", {"partial_path": body["partial_path"]}, format="json").json()
    assert again["bin_path"] != deleted["bin_path"] and again["bin_path"].startswith(
        "bin/models/loras/faces/"
    )
    assert keys(s3) == sorted([deleted["bin_path"], again["bin_path"]])
    assert body_of(s3, again["bin_path"]) == safetensors(2) and body_of(s3, deleted["bin_path"]) == data
