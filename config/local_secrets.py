"""Secrets generated on first run into an untracked file when the environment gives none."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def load_or_create_secrets(path: Path) -> dict[str, str]:
    data: dict[str, str] = {}
    if path.exists():
        data = json.loads(path.read_text())
    changed = False
    if "SECRET_KEY" not in data:
        data["SECRET_KEY"] = secrets.token_urlsafe(50)
        changed = True
    if "FIELD_ENCRYPTION_KEY" not in data:
        data["FIELD_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
        changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        # created readable by the owner only
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        try:
            os.link(tmp, path)  # first writer wins when several processes start together
        except FileExistsError:
            data = json.loads(path.read_text())
        finally:
            tmp.unlink(missing_ok=True)
    return data
