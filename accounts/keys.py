"""API keys: creation (shown once), lookup by hash, revocation."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from accounts.models import ApiKey, ApiKeyKind, User
from accounts.scopes import DEFAULT_SCOPES, Scope

PREFIXES = {ApiKeyKind.FRACTAFRAG: "ff_key_", ApiKeyKind.QUEUE: "fiz_"}
DISPLAY_PREFIX_CHARS = 6


def hash_secret(raw: str) -> str:
    # Keys are 256-bit random strings, so a plain SHA-256 is enough (no stretching needed).
    return hashlib.sha256(raw.encode()).hexdigest()


def looks_like_api_key(raw: str) -> bool:
    return any(raw.startswith(p) for p in PREFIXES.values())


@dataclass
class NewKey:
    api_key: ApiKey
    raw: str


def create_api_key(
    user: User,
    name: str,
    kind: str = ApiKeyKind.FRACTAFRAG,
    rate_limit_per_hour: int | None = None,
    scopes: list[str] | None = None,
) -> NewKey:
    """A new key of ``kind`` with ``scopes`` (the kind's defaults when None); the raw secret is in the result
    and nowhere else."""
    prefix = PREFIXES[ApiKeyKind(kind)]
    if scopes is None:
        scopes = DEFAULT_SCOPES[ApiKeyKind(kind).value]
    scopes = sorted({Scope(s).value for s in scopes})
    raw = prefix + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        kind=kind,
        name=name,
        prefix=raw[: len(prefix) + DISPLAY_PREFIX_CHARS],
        key_hash=hash_secret(raw),
        rate_limit_per_hour=rate_limit_per_hour or settings.API_KEY_DEFAULT_RATE_LIMIT_PER_HOUR,
        scopes=scopes,
    )
    return NewKey(api_key=key, raw=raw)


def resolve_api_key(raw: str) -> ApiKey | None:
    """The active key for ``raw``, or None (unknown or revoked)."""
    if not raw or not looks_like_api_key(raw):
        return None
    key = ApiKey.objects.select_related("user").filter(key_hash=hash_secret(raw)).first()
    if key is None or key.revoked_at is not None or not key.user.is_active:
        return None
    now = timezone.now()
    # last_used_at at minute resolution is plenty; avoid a write per request.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def revoke_api_key(key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
