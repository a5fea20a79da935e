"""LoRA files: the user and admin uploads and the admin delete, on local storage."""

from __future__ import annotations

import io
import json
import struct

import pytest
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from accounts import keys
from accounts.models import ApiKeyKind, Tier
from tests.sartiq.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def admin(make_user):
    return client_for(make_user(tier=Tier.PRO, is_staff=True))


def safetensors(tensors: int = 1, broken: str = "") -> bytes:
    data = b"\x00" * (4 * tensors)
    table = {
        f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(tensors)
    }
    table["__metadata__"] = {"format": "pt"}
    if broken == "offsets":
        table["t0"]["data_offsets"] = [0, 999]
    if broken == "dtype":
        table["t0"]["dtype"] = "F99"
    header = json.dumps(table).encode()
    if broken == "json":
        header = b"{not json"
    length = len(header) if broken != "length" else 10**9
    return struct.pack("<Q", length) + header + data


def upload(client, name="My Lora!.safetensors", data=None, route="/api/v1/lora/upload", **fields):
    file = io.BytesIO(safetensors() if data is None else data)
    file.name = name
    return client.post(route, {"file": file, **fields}, format="multipart")


def test_user_upload_stores_a_safe_name_in_the_users_folder(sartiq):
    resp = upload(sartiq, entity_type="identities")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert set(body) == {"file_path", "partial_path", "filename", "file_size", "upload_timestamp"}
    assert (
        body["partial_path"] == "identities/My_Lora.safetensors"
        and body["filename"] == "My Lora!.safetensors"
    )
    assert body["file_path"] == f"models/loras/users/{sartiq.user.pk}/identities/My_Lora.safetensors"
    assert body["file_size"] == len(safetensors()) and body["upload_timestamp"].endswith("Z")
    with default_storage.open(body["file_path"]) as fh:
        assert fh.read() == safetensors()


def test_a_duplicate_is_versioned_or_refused(sartiq):
    assert upload(sartiq).json()["partial_path"] == "no_type_provided/My_Lora.safetensors"
    assert upload(sartiq).json()["partial_path"] == "no_type_provided/My_Lora_v2.safetensors"
    assert upload(sartiq).json()["partial_path"] == "no_type_provided/My_Lora_v3.safetensors"
    resp = upload(sartiq, use_safe_filename="false")
    assert resp.status_code == 409 and set(resp.json()) == {"detail"}


def test_users_uploads_do_not_meet(sartiq, other):
    a = upload(sartiq, entity_type="styles").json()
    b = upload(other, entity_type="styles").json()
    assert a["partial_path"] == b["partial_path"] and a["file_path"] != b["file_path"]


@pytest.mark.parametrize(
    ("kwargs", "loc"),
    [
        ({"name": "lora.exe"}, ["body", "file"]),
        ({"data": safetensors(broken="offsets")}, ["body", "file"]),
        ({"data": safetensors(broken="dtype")}, ["body", "file"]),
        ({"data": safetensors(broken="json")}, ["body", "file"]),
        ({"data": safetensors(broken="length")}, ["body", "file"]),
        ({"data": b"abc"}, ["body", "file"]),
        ({"entity_type": "faces"}, ["body", "entity_type"]),
        ({"entity_type": "../x"}, ["body", "entity_type"]),
        ({"use_safe_filename": "perhaps"}, ["body", "use_safe_filename"]),
    ],
)
def test_bad_uploads_are_422(sartiq, kwargs, loc):
    resp = upload(sartiq, **kwargs)
    assert resp.status_code == 422, resp.content
    assert resp.json()["detail"][0]["loc"] == loc


def test_other_formats_are_taken_by_extension(sartiq):
    resp = upload(sartiq, name="weights.PT", data=b"PK\x03\x04whatever")
    assert resp.status_code == 200 and resp.json()["partial_path"] == "no_type_provided/weights.pt"


def test_a_missing_file_and_a_large_one(sartiq, settings):
    resp = sartiq.post("/api/v1/lora/upload", {"entity_type": "styles"}, format="multipart")
    assert resp.json() == {"detail": [{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}]}
    settings.LORA_MAX_BYTES = 10
    resp = upload(sartiq)
    assert resp.status_code == 413 and set(resp.json()) == {"detail"}


def test_admin_upload_and_delete_to_the_bin(admin):
    resp = upload(admin, route="/api/v1/admin/lora/upload", entity_type="faces")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["entity_type"] == "faces" and body["partial_path"] == "faces/My_Lora.safetensors"
    assert body["file_path"] == "models/loras/faces/My_Lora.safetensors"
    resp = admin.delete("/api/v1/admin/lora", {"partial_path": body["partial_path"]}, format="json")
    assert resp.status_code == 200, resp.content
    deleted = resp.json()
    assert deleted["deleted"] is True and deleted["full_path"] == body["file_path"]
    assert deleted["bin_path"] == "bin/models/loras/faces/My_Lora.safetensors"
    assert not default_storage.exists(body["file_path"]) and default_storage.exists(deleted["bin_path"])
    resp = admin.delete("/api/v1/admin/lora", {"partial_path": body["partial_path"]}, format="json")
    assert resp.status_code == 404
    # the same name deleted again lands beside the first in the bin
    upload(admin, route="/api/v1/admin/lora/upload", entity_type="faces")
    again = admin.delete("/api/v1/admin/lora", {"partial_path": body["partial_path"]}, format="json").json()
    assert again["bin_path"] != deleted["bin_path"] and default_storage.exists(again["bin_path"])


@pytest.mark.parametrize(
    "partial",
    ["../x.safetensors", "faces/../../x.safetensors", "users/1/faces/x.safetensors", "faces/x.txt", "x"],
)
def test_admin_delete_refuses_other_paths(admin, partial):
    resp = admin.delete("/api/v1/admin/lora", {"partial_path": partial}, format="json")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "partial_path"]


def test_admin_routes_need_an_admin_token(sartiq):
    assert upload(sartiq, route="/api/v1/admin/lora/upload").status_code == 403
    resp = sartiq.delete("/api/v1/admin/lora", {"partial_path": "faces/x.safetensors"}, format="json")
    assert resp.status_code == 403 and resp.json() == {"detail": "Admin privileges required"}
    raw = keys.create_api_key(sartiq.user, "k", ApiKeyKind.QUEUE, scopes=["sartiq"]).raw
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert upload(client, route="/api/v1/admin/lora/upload").status_code == 403
    assert upload(client).status_code == 200  # the user route takes a sartiq key
    for route in ("/api/v1/lora/upload", "/api/v1/admin/lora/upload"):
        assert APIClient().post(route, {}, format="multipart").status_code == 401
