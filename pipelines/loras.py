"""Where LoRA files live in the default storage, and which of them a user may load by name.

Shared LoRAs (uploaded by an admin) are in ``models/loras/{entity_type}/``; a user's own in
``models/loras/users/{user id}/{entity_type}/``. A node names a LoRA by its partial path
(``identities/anna.safetensors``, as the upload answered it): the payer's own file of that name first,
then the shared one. The engine binds the lookup to the user billed for the run (``NodeContext.lora_url``), so no node
can reach another user's files.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.files.storage import default_storage

ROOT = "models/loras/"
EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
NAME = re.compile(r"^[a-z_]{1,40}/[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")


def user_folder(user_id: Any) -> str:
    return f"{ROOT}users/{user_id}/"


def find(user_id: Any, name: str) -> str | None:
    """The storage path of LoRA ``name`` for user ``user_id`` (theirs, else the shared one); None if
    neither."""
    if not NAME.match(name) or ".." in name or not name.lower().endswith(EXTENSIONS):
        return None
    for path in (user_folder(user_id) + name, ROOT + name):
        if default_storage.exists(path):
            return path
    return None


def url_for(user_id: Any, name: str, base_url: str = "") -> str | None:
    """A URL a provider can download LoRA ``name`` from: the storage's (S3 presigns it; local files get a
    signed, expiring /media/ URL, made absolute with ``base_url``, the site's address the run was made on)."""
    path = find(user_id, name)
    if path is None:
        return None
    url = default_storage.url(path)
    if url.startswith("/") and base_url:
        url = base_url.rstrip("/") + url
    return url


def read(user_id: Any, name: str, max_bytes: int = 600 * 1024 * 1024) -> bytes | None:
    """The bytes of LoRA ``name`` for user ``user_id`` (theirs, else the shared one), None if neither."""
    path = find(user_id, name)
    if path is None:
        return None
    with default_storage.open(path, "rb") as fh:
        return fh.read(max_bytes)
