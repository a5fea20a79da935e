"""Account rules: registration, login, token rotation, profile updates, BYOK keys."""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import credits, crypto, keys
from accounts.authentication import SESSION_CLAIM, session_version
from accounts.models import ProviderKey, User
from accounts.signals import account_closing
from config.errors import BadRequest, Conflict, Forbidden, Unauthorized

logger = logging.getLogger(__name__)


def verify_turnstile(token: str | None, remote_ip: str | None = None) -> None:
    """Check a Cloudflare Turnstile token when a secret is configured; skipped otherwise."""
    if not settings.TURNSTILE_SECRET:
        return
    if not token:
        raise BadRequest("CAPTCHA token required", code="CAPTCHA_REQUIRED")
    try:
        resp = requests.post(
            settings.TURNSTILE_VERIFY_URL,
            data={"secret": settings.TURNSTILE_SECRET, "response": token, "remoteip": remote_ip or ""},
            timeout=10,
        )
        ok = resp.ok and bool(resp.json().get("success"))
    except (requests.RequestException, ValueError):
        logger.warning("turnstile verification unavailable", exc_info=True)
        ok = False
    if not ok:
        raise BadRequest("CAPTCHA verification failed", code="CAPTCHA_FAILED")


def _check_unique(username: str | None, email: str | None, exclude: User | None = None) -> None:
    users = User.objects.all()
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    if username and users.filter(username__iexact=username).exists():
        raise Conflict("Username already taken", code="USERNAME_TAKEN")
    if email and users.filter(email__iexact=email).exists():
        raise Conflict("Email already registered", code="EMAIL_TAKEN")


def _check_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise BadRequest(" ".join(exc.messages), code="WEAK_PASSWORD") from exc


def register(username: str, email: str, password: str) -> User:
    _check_unique(username, email)
    user = User(username=username, email=email.lower())
    _check_password(password, user)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            if settings.SIGNUP_CREDITS:
                credits.grant(user, settings.SIGNUP_CREDITS, note="sign-up credits")
                user.refresh_from_db(fields=["credit_balance"])  # the ledger updated the row, not this object
    except IntegrityError as exc:  # lost a race with a concurrent registration
        raise Conflict("Username or email already registered", code="CONFLICT") from exc
    return user


def authenticate_login(login: str, password: str) -> User:
    """Log in by username or email."""
    field = "email__iexact" if "@" in login else "username__iexact"
    user = User.objects.filter(**{field: login}).first()
    if user is None or not user.is_active or not user.check_password(password):
        raise Unauthorized("Invalid username or password", code="INVALID_CREDENTIALS")
    return user


def issue_tokens(user: User) -> tuple[str, str]:
    refresh = RefreshToken.for_user(user)
    refresh[SESSION_CLAIM] = session_version(user)  # copied into the access token too
    return str(refresh.access_token), str(refresh)


def revoke_sessions(user: User) -> None:
    """Blocklist every refresh token of ``user`` (one insert, however many devices signed in).

    Called when the password changes and when the account is disabled or deleted. Access tokens issued
    earlier stop too: they carry the session version, which a password change moves, and an inactive user
    is refused whatever the token. Browser sessions need nothing here: Django checks the same password-hash
    HMAC on every request and refuses inactive users."""
    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )


def rotate_refresh(raw_refresh: str | None) -> tuple[User, str, str]:
    """Exchange a refresh token for a new access + refresh pair; the old one is blocklisted."""
    if not raw_refresh:
        raise Unauthorized("Refresh token missing", code="TOKEN_MISSING")
    try:
        old = RefreshToken(raw_refresh)
        old.check_blacklist()
        user = User.objects.get(pk=old["user_id"], is_active=True)
        if old.get(SESSION_CLAIM) != session_version(user):
            raise TokenError("issued before the last password change")
        old.blacklist()
    except (TokenError, User.DoesNotExist, KeyError) as exc:
        raise Unauthorized("Invalid or expired refresh token", code="TOKEN_INVALID") from exc
    access, refresh = issue_tokens(user)
    return user, access, refresh


def revoke_refresh(raw_refresh: str | None) -> None:
    if not raw_refresh:
        return
    try:
        RefreshToken(raw_refresh).blacklist()
    except TokenError:
        pass  # already invalid: nothing to revoke


def require_current_password(user: User, password: str | None, what: str) -> None:
    if not password or not user.check_password(password):
        raise Forbidden(f"{what} needs the current password (current_password)", code="PASSWORD_REQUIRED")


def update_profile(user: User, data: dict[str, Any]) -> bool:
    """Apply a profile change; True when the password changed (every earlier session is then revoked).

    A new email or password takes the current password: whoever holds a stolen token for a few minutes
    must not be able to lock the owner out."""
    username = data.get("username")
    email = data.get("email")
    new_password = data.get("password")
    email_changes = bool(email) and email.lower() != user.email.lower()
    if email_changes or new_password:
        require_current_password(user, data.get("current_password"), "Changing the email or password")
    _check_unique(username, email, exclude=user)
    if username:
        user.username = username
    if email:
        user.email = email.lower()
    if new_password:
        _check_password(new_password, user)
        user.set_password(new_password)
    try:
        with transaction.atomic():
            user.save()
            if new_password:
                revoke_sessions(user)
    except IntegrityError as exc:
        raise Conflict("Username or email already registered", code="CONFLICT") from exc
    return bool(new_password)


def require_pro(user: User, what: str) -> None:
    if not user.is_pro:
        raise Forbidden(f"{what} requires a Pro or Ultimate subscription", code="FORBIDDEN")


def store_provider_key(user: User, provider: str, key: str) -> ProviderKey:
    require_pro(user, "Storing AI provider keys")
    obj, _ = ProviderKey.objects.update_or_create(
        user=user, provider=provider, defaults={"encrypted_key": crypto.encrypt(key)}
    )
    return obj


def read_provider_key(user: User, provider: str) -> str | None:
    """The clear key, for server-side use by nodes only; never returned by any API."""
    obj = ProviderKey.objects.filter(user=user, provider=provider).first()
    return crypto.decrypt(obj.encrypted_key) if obj else None


def delete_account(user: User) -> None:
    """Close ``user``'s account: its work stops, its data goes, the ledger keeps anonymous rows.

    Every app removes its own part in an ``account_closing`` receiver (runs are cancelled and refunded,
    pipelines unpublished, files and shaders deleted). The user row itself stays, anonymised and disabled,
    because the append-only credit ledger refers to it: every balance still equals the sum of its
    transactions. The username and email are freed for a new account."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        account_closing.send(sender=User, user=user)
        for key in user.api_keys.filter(revoked_at__isnull=True):
            keys.revoke_api_key(key)
        user.provider_keys.all().delete()
        revoke_sessions(user)
        user.username = f"deleted-{user.pk}"
        user.email = f"deleted-{user.pk}@deleted.invalid"
        user.first_name = user.last_name = ""
        user.set_unusable_password()
        user.is_active = user.is_staff = user.is_superuser = False
        user.save()
        user.groups.clear()
        user.user_permissions.clear()
