from __future__ import annotations

from rest_framework import serializers

from accounts.models import ApiKey, ApiKeyKind, ProviderKey, User
from accounts.scopes import Scope

USERNAME_FIELD = dict(max_length=150, min_length=3, regex=r"^[A-Za-z0-9_.-]+$")


class ErrorDetailSerializer(serializers.Serializer):
    """fractafrag's (and the studio's) {"detail"} body: every error, and the logout answer."""

    detail = serializers.CharField(help_text="Human-readable error message")


class RegisterSerializer(serializers.Serializer):
    username = serializers.RegexField(**USERNAME_FIELD)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(min_length=8, max_length=128, write_only=True)
    turnstile_token = serializers.CharField(required=False, allow_blank=True, max_length=4096)


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=254, help_text="Username or email")
    password = serializers.CharField(max_length=128)


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(required=False, max_length=4096)


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "tier", "credit_balance", "date_joined", "is_staff"]
        read_only_fields = fields


class TokenResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField(help_text="JWT access token (15 min); the refresh token is a cookie")
    token_type = serializers.CharField(default="bearer")
    user = UserSerializer()


class PublicUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "tier", "date_joined"]
        read_only_fields = fields


class ProfileUpdateSerializer(serializers.Serializer):
    username = serializers.RegexField(required=False, **USERNAME_FIELD)
    email = serializers.EmailField(required=False, max_length=254)
    password = serializers.CharField(required=False, min_length=8, max_length=128, write_only=True)
    current_password = serializers.CharField(
        required=False, max_length=128, write_only=True, help_text="Required to change the email or password"
    )


class AccountDeleteSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, write_only=True, help_text="The current password")


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "kind",
            "prefix",
            "trust_tier",
            "scopes",
            "rate_limit",
            "rate_limit_per_hour",
            "created_at",
            "last_used_at",
        ]
        read_only_fields = fields

    # The seed's key list calls it rate_limit, its create response rate_limit_per_hour: both are sent.
    rate_limit = serializers.IntegerField(
        source="rate_limit_per_hour", read_only=True, help_text="Requests per hour"
    )


class ApiKeyCreatedSerializer(ApiKeySerializer):
    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields

    key = serializers.CharField(read_only=True, help_text="The full key, shown once; only its hash is stored")


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=ApiKeyKind.choices, default=ApiKeyKind.FRACTAFRAG)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices),
        required=False,
        allow_empty=False,
        max_length=len(Scope.choices),
        help_text="What the key may do; the kind's defaults when omitted. No scope reaches account settings.",
    )


class ProviderKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ProviderKey
        fields = ["provider", "created_at", "updated_at"]
        read_only_fields = fields


class ProviderKeyWriteSerializer(serializers.Serializer):
    provider = serializers.RegexField(r"^[a-z0-9_-]{2,40}$", max_length=40)
    key = serializers.CharField(min_length=8, max_length=512, write_only=True, trim_whitespace=True)
