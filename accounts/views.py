"""fractafrag auth and account endpoints (seed 004): /api/v1/auth/*, /api/v1/me*, /api/v1/users/*."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, update_session_auth_hash
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import keys, services
from accounts.models import ApiKey, User
from accounts.ratelimit import RateLimitHeadersMixin, SlidingWindowThrottle, client_ip
from accounts.serializers import (
    AccountDeleteSerializer,
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    ErrorDetailSerializer,
    LoginSerializer,
    ProfileUpdateSerializer,
    ProviderKeySerializer,
    ProviderKeyWriteSerializer,
    PublicUserSerializer,
    RefreshSerializer,
    RegisterSerializer,
    TokenResponseSerializer,
    UserSerializer,
)
from config.errors import BadRequest, NotFound


class FractafragView(RateLimitHeadersMixin, APIView):
    # Base of the fractafrag endpoints: {"detail"} errors, sliding-window limit with headers.
    throttle_classes = [SlidingWindowThrottle]
    openapi_error = ErrorDetailSerializer
    # The seed's error table (501 only on its stubs, which declare it themselves).
    openapi_error_statuses = (400, 401, 403, 404, 409, 422, 429)
    rate_limit_scope = "fractafrag"


def validated(serializer_class: Any, request: Request, partial: bool = False) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise BadRequest("Expected a JSON object")
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# Set beside the HttpOnly refresh cookie, readable by the pages' scripts: a page asks for a new access token
# only when this says a refresh cookie was issued, so a signed-out visitor's page load makes no refresh call
# that can only answer 401. It holds no secret; the scripts drop it when a refresh is refused.
SIGNED_IN_COOKIE = "signed_in"


def forget_tokens(response: Response) -> Response:
    response.delete_cookie(settings.REFRESH_COOKIE_NAME, path="/api/v1/auth/")
    response.delete_cookie(SIGNED_IN_COOKIE, path="/")
    return response


def token_response(
    request: Request, user: User, access: str, refresh: str, status_code: int = 200
) -> Response:
    response = Response(
        {"access_token": access, "token_type": "bearer", "user": UserSerializer(user).data},
        status=status_code,
    )
    response.set_cookie(
        settings.REFRESH_COOKIE_NAME,
        refresh,
        max_age=int(settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds()),
        httponly=True,
        secure=settings.REFRESH_COOKIE_SECURE or request.is_secure(),
        samesite="Lax",
        path="/api/v1/auth/",
    )
    response.set_cookie(
        SIGNED_IN_COOKIE,
        "1",
        max_age=int(settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds()),
        secure=settings.REFRESH_COOKIE_SECURE or request.is_secure(),
        samesite="Lax",
        path="/",
    )
    return response


class RegisterView(FractafragView):
    authentication_classes: list = []
    rate_limit_scope = "auth"

    @extend_schema(
        request=RegisterSerializer,
        responses={201: TokenResponseSerializer},
        summary="Create account",
        description="Create account. Requires Turnstile CAPTCHA token (if configured). Returns: access "
        "token + sets refresh cookie.",
    )
    def post(self, request: Request) -> Response:
        data = validated(RegisterSerializer, request)
        services.verify_turnstile(data.get("turnstile_token"), client_ip(request))
        user = services.register(data["username"], data["email"], data["password"])
        access, refresh = services.issue_tokens(user)
        return token_response(request, user, access, refresh, status.HTTP_201_CREATED)


class LoginView(FractafragView):
    authentication_classes: list = []
    rate_limit_scope = "auth"

    @extend_schema(
        request=LoginSerializer,
        responses=TokenResponseSerializer,
        summary="Sign in with username or email",
        description="Sign in with username/email + password. Returns: { access_token, token_type, user: "
        "{...} } + sets HttpOnly refresh cookie.",
    )
    def post(self, request: Request) -> Response:
        data = validated(LoginSerializer, request)
        user = services.authenticate_login(data["username"], data["password"])
        access, refresh = services.issue_tokens(user)
        return token_response(request, user, access, refresh)


def _refresh_from(request: Request) -> str | None:
    raw = request.COOKIES.get(settings.REFRESH_COOKIE_NAME)
    if not raw and isinstance(request.data, dict):
        raw = request.data.get("refresh_token")
    return raw


class RefreshView(FractafragView):
    authentication_classes: list = []
    rate_limit_scope = "auth"

    @extend_schema(
        request=RefreshSerializer,
        responses=TokenResponseSerializer,
        summary="Rotate the refresh token (cookie) for a new access token",
        description="Exchange refresh token (from cookie) for new access token. Old refresh token is "
        "blocklisted.",
    )
    def post(self, request: Request) -> Response:
        user, access, refresh = services.rotate_refresh(_refresh_from(request))
        return token_response(request, user, access, refresh)


class LogoutView(FractafragView):
    authentication_classes: list = []
    rate_limit_scope = "auth"

    @extend_schema(
        request=RefreshSerializer,
        responses={200: ErrorDetailSerializer},
        summary="Log out",
        description="Blocklist current refresh token.",
    )
    def post(self, request: Request) -> Response:
        services.revoke_refresh(_refresh_from(request))
        response = Response({"detail": "Logged out"})
        return forget_tokens(response)


class MeView(FractafragView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=UserSerializer, description="Current authenticated user details.")
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        request=ProfileUpdateSerializer,
        responses=UserSerializer,
        description="Update profile (username, email — uniqueness enforced). A new email or password needs "
        "`current_password`. A password change signs out every other session and token; the answer then "
        "carries a fresh `access_token` (and refresh cookie) for this one.",
    )
    def put(self, request: Request) -> Response:
        data = validated(ProfileUpdateSerializer, request)
        user = request.user
        if not services.update_profile(user, data):
            return Response(UserSerializer(user).data)
        if request.session.get(HASH_SESSION_KEY):  # the canvas's own browser session stays signed in
            update_session_auth_hash(request._request, user)
        access, refresh = services.issue_tokens(user)
        return token_response(request, user, access, refresh)

    patch = put

    @extend_schema(
        request=AccountDeleteSerializer,
        responses={204: None},
        summary="Delete the account",
        description="Needs the current password. Keys, session keys and sessions are revoked at once; "
        "pipelines, runs, files and shaders are removed; the credit ledger keeps its (anonymous) rows.",
    )
    def delete(self, request: Request) -> Response:
        data = validated(AccountDeleteSerializer, request)
        services.require_current_password(request.user, data["password"], "Deleting the account")
        services.delete_account(request.user)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        return forget_tokens(response)


class UserDetailView(FractafragView):
    @extend_schema(responses=PublicUserSerializer, description="Public user profile.")
    def get(self, request: Request, username: str) -> Response:
        user = User.objects.filter(username__iexact=username, is_active=True).first()
        if user is None:
            raise NotFound("User not found")
        return Response(PublicUserSerializer(user).data)


class ApiKeyListView(FractafragView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=ApiKeySerializer(many=True),
        description="List user's active API keys (prefix, name, trust_tier, rate_limit).",
    )
    def get(self, request: Request) -> Response:
        active = request.user.api_keys.filter(revoked_at__isnull=True)
        return Response(ApiKeySerializer(active, many=True).data)

    @extend_schema(
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyCreatedSerializer},
        description="Create API key (Pro+ only). Returns full key once — store it, it can't be retrieved "
        "later. A key carries scopes (what it may call); no key can change the account.",
    )
    def post(self, request: Request) -> Response:
        services.require_pro(request.user, "Creating API keys")
        data = validated(ApiKeyCreateSerializer, request)
        new = keys.create_api_key(request.user, data["name"], data["kind"], scopes=data.get("scopes"))
        body = ApiKeySerializer(new.api_key).data
        body["key"] = new.raw  # shown once; only its hash is stored
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(FractafragView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={204: None}, description="Revoke an API key (soft delete with revoked_at timestamp)."
    )
    def delete(self, request: Request, key_id: int) -> Response:
        key = get_object_or_404(ApiKey, pk=key_id, user=request.user, revoked_at__isnull=True)
        keys.revoke_api_key(key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProviderKeyView(FractafragView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=ProviderKeySerializer(many=True),
        summary="List configured BYOK providers",
        description="List configured BYOK providers (never returns actual key values).",
    )
    def get(self, request: Request) -> Response:
        # Only storing is Pro-only (seed): a downgraded account still sees, and can forget, what it stored.
        return Response(
            ProviderKeySerializer(request.user.provider_keys.order_by("provider"), many=True).data
        )

    @extend_schema(
        request=ProviderKeyWriteSerializer,
        responses=ProviderKeySerializer,
        description="Store encrypted BYOK provider keys (Pro+ only).",
    )
    def put(self, request: Request) -> Response:
        services.require_pro(request.user, "Storing AI provider keys")
        data = validated(ProviderKeyWriteSerializer, request)
        obj = services.store_provider_key(request.user, data["provider"], data["key"])
        return Response(ProviderKeySerializer(obj).data)

    @extend_schema(
        description="Forget the BYOK key stored for ?provider=.",
        responses={204: None},
        summary="Forget the key stored for ?provider=",
    )
    def delete(self, request: Request) -> Response:
        provider = request.query_params.get("provider", "")
        deleted, _ = request.user.provider_keys.filter(provider=provider).delete()
        if not deleted:
            raise NotFound("No key stored for this provider")
        return Response(status=status.HTTP_204_NO_CONTENT)
