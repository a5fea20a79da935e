"""Authentication classes shared by every surface.

* ``Authorization: Bearer <JWT access token>``
* ``Authorization: Bearer <api key>``   (``ff_key_…`` / ``fiz_…``)
* ``Authorization: Key <api key>``      (Fizzly style)
* the browser session (with CSRF), for the canvas pages

An authenticated API-key request has ``request.auth`` set to the ``ApiKey``.
Revoked or unknown keys are refused with 401; a key used where its scopes don't reach (accounts.scopes),
or anywhere account settings change, with 403.

A JWT carries the user's session version (``sv``), derived from the password hash the way Django's own
sessions are: changing the password makes every token issued before it worthless at once.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from accounts.keys import looks_like_api_key, resolve_api_key
from accounts.scopes import key_allows, required_scopes

SESSION_CLAIM = "sv"


def _header_parts(request: Any) -> list[str]:
    return authentication.get_authorization_header(request).decode("latin-1").split()


def session_version(user: Any) -> str:
    """Changes whenever the user's password does (HMAC of the password hash, as Django sessions use)."""
    return user.get_session_auth_hash()[:16]


def user_from_access_token(raw: str) -> tuple[Any, Any]:
    """The active user of a valid access token issued since the last password change; raises otherwise."""
    jwt = JWTAuthentication()
    try:
        validated = jwt.get_validated_token(raw.encode())
        user = jwt.get_user(validated)
    except (InvalidToken, TokenError, exceptions.AuthenticationFailed) as exc:
        raise exceptions.AuthenticationFailed(_("Invalid or expired token")) from exc
    if not user.is_active or validated.get(SESSION_CLAIM) != session_version(user):
        raise exceptions.AuthenticationFailed(_("Invalid or expired token"))
    return user, validated


def authenticate_key(raw: str, request: Any = None, scopes: tuple[str, ...] | None = None) -> tuple[Any, Any]:
    """The key's user and key, if the key may do what is asked: ``scopes`` (any one of them), or what the
    view serving ``request`` declares for its method (see accounts.scopes)."""
    key = resolve_api_key(raw)
    if key is None:
        raise exceptions.AuthenticationFailed(_("Invalid or revoked API key"))
    if scopes is None:
        view = (getattr(request, "parser_context", None) or {}).get("view")
        scopes = required_scopes(view, getattr(request, "method", "GET"))
    if not scopes:
        raise exceptions.PermissionDenied(
            _("API keys cannot be used here: sign in (a token from /api/v1/auth/login) to do this")
        )
    if not key_allows(key, scopes):
        raise exceptions.PermissionDenied(_("This API key does not have the scope %s") % " or ".join(scopes))
    return key.user, key


class BearerAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        parts = _header_parts(request)
        if not parts or parts[0].lower() != "bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header"))
        token = parts[1]
        if looks_like_api_key(token):
            return authenticate_key(token, request)
        return user_from_access_token(token)

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class KeyHeaderAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        parts = _header_parts(request)
        if not parts or parts[0].lower() != "key":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header"))
        return authenticate_key(parts[1], request)

    def authenticate_header(self, request: Any) -> str:
        return 'Key realm="api"'


class TokenHeaderAuthentication(KeyHeaderAuthentication):
    """``Authorization: Token <api key>``: the scheme Replicate's older clients send (API keys only)."""

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        parts = _header_parts(request)
        if not parts or parts[0].lower() != "token":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header"))
        return authenticate_key(parts[1], request)

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class CsrfSessionAuthentication(authentication.SessionAuthentication):
    """The browser session, CSRF enforced (the canvas pages call the API this way)."""


class QueryTokenAuthentication(authentication.BaseAuthentication):
    """``?token=<access token>`` or ``?key=<api key>``, for clients that cannot send headers: a browser's
    EventSource and WebSocket. Only for GET streams; the access log never records query strings."""

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        params = request.query_params
        if params.get("key"):
            return authenticate_key(params["key"], request)
        if params.get("token"):
            return user_from_access_token(params["token"])
        return None
