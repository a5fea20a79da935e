"""Authentication classes shared by every surface.

* ``Authorization: Bearer <JWT access token>``
* ``Authorization: Bearer <api key>``   (``ff_key_…`` / ``fiz_…``)
* ``Authorization: Key <api key>``      (Fizzly style)
* the browser session (with CSRF), for the canvas pages

An authenticated API-key request has ``request.auth`` set to the ``ApiKey``.
Revoked or unknown keys are refused with 401.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from accounts.keys import looks_like_api_key, resolve_api_key


def _header_parts(request: Any) -> list[str]:
    return authentication.get_authorization_header(request).decode("latin-1").split()


def authenticate_key(raw: str) -> tuple[Any, Any]:
    key = resolve_api_key(raw)
    if key is None:
        raise exceptions.AuthenticationFailed(_("Invalid or revoked API key"))
    return key.user, key


class BearerAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def __init__(self) -> None:
        self._jwt = JWTAuthentication()

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        parts = _header_parts(request)
        if not parts or parts[0].lower() != "bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header"))
        token = parts[1]
        if looks_like_api_key(token):
            return authenticate_key(token)
        try:
            validated = self._jwt.get_validated_token(token.encode())
            return self._jwt.get_user(validated), validated
        except (InvalidToken, TokenError, exceptions.AuthenticationFailed) as exc:
            raise exceptions.AuthenticationFailed(_("Invalid or expired token")) from exc

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class KeyHeaderAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        parts = _header_parts(request)
        if not parts or parts[0].lower() != "key":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header"))
        return authenticate_key(parts[1])

    def authenticate_header(self, request: Any) -> str:
        return 'Key realm="api"'


class CsrfSessionAuthentication(authentication.SessionAuthentication):
    """The browser session, CSRF enforced (the canvas pages call the API this way)."""
