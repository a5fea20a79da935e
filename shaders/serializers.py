"""Request validation and response shapes of the fractafrag shader endpoints (seed 004)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from config import media
from shaders import glsl
from shaders.models import Desire, DesireStatus, Shader, ShaderStatus, ShaderType, ShaderVersion

MAX_PAGE = 100


# --- input ----------------------------------------------------------------------------------------


class PageSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=20)
    offset = serializers.IntegerField(min_value=0, max_value=100_000, default=0)


class ShaderListQuerySerializer(PageSerializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    tags = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=400,
        help_text="Comma-separated; shaders with any of these tags",
    )
    shader_type = serializers.ChoiceField(choices=ShaderType.choices, required=False)
    system = serializers.BooleanField(required=False, allow_null=True, default=None)
    sort = serializers.ChoiceField(choices=["trending", "new", "top"], default="trending")


class MineQuerySerializer(PageSerializer):
    status = serializers.ChoiceField(choices=ShaderStatus.choices, required=False)


class FeedQuerySerializer(PageSerializer):
    session_id = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=128,
        help_text="Anonymous session: leaves out what this session has seen",
    )


class ShaderWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=120)
    glsl_code = serializers.CharField(max_length=glsl.MAX_CODE_CHARS, trim_whitespace=False)
    description = serializers.CharField(max_length=4000, allow_blank=True, default="")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64, allow_blank=True), max_length=20, default=list
    )
    shader_type = serializers.ChoiceField(choices=ShaderType.choices, default=ShaderType.TWO_D)
    status = serializers.ChoiceField(choices=ShaderStatus.choices, default=ShaderStatus.PUBLISHED)
    change_note = serializers.CharField(max_length=300, allow_blank=True, required=False)


class ShaderUpdateSerializer(ShaderWriteSerializer):
    """Every field optional (PUT updates what it names)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class VoteSerializer(serializers.Serializer):
    value = serializers.ChoiceField(choices=[(1, "up"), (-1, "down")])


class DwellSerializer(serializers.Serializer):
    shader_id = serializers.UUIDField()
    dwell_secs = serializers.FloatField(min_value=0, max_value=86_400)
    session_id = serializers.CharField(max_length=128, allow_blank=True, required=False, default="")


class ReplaySerializer(serializers.Serializer):
    session_id = serializers.CharField(max_length=128, allow_blank=True, required=False, default="")


class DesireCreateSerializer(serializers.Serializer):
    prompt_text = serializers.CharField(min_length=3, max_length=2000)
    style_hints = serializers.DictField(required=False, default=dict)
    tip_amount_cents = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)

    def validate_style_hints(self, value: dict) -> dict:
        if len(str(value)) > 4000:
            raise serializers.ValidationError("style_hints is too large")
        return value


class DesireListQuerySerializer(PageSerializer):
    status = serializers.ChoiceField(choices=DesireStatus.choices, default=DesireStatus.OPEN)
    min_heat = serializers.FloatField(default=0.0, min_value=0)


class FulfillSerializer(serializers.Serializer):
    shader_id = serializers.UUIDField()


# --- output ---------------------------------------------------------------------------------------


def file_url(field: Any, request: Any) -> str | None:
    """The signed, expiring URL of a rendered file (config.media), or None before the first render."""
    if not field or not field.name:
        return None
    return media.absolute_url(field.name, request)


class ShaderSummarySerializer(serializers.ModelSerializer):
    author_id = serializers.IntegerField(source="owner_id", read_only=True)
    author_username = serializers.CharField(source="owner.username", read_only=True)
    forked_from = serializers.UUIDField(source="forked_from_id", read_only=True, allow_null=True)
    thumbnail_url = serializers.SerializerMethodField()
    preview_url = serializers.SerializerMethodField()

    class Meta:
        model = Shader
        fields = [
            "id",
            "title",
            "description",
            "tags",
            "shader_type",
            "status",
            "is_system",
            "author_id",
            "author_username",
            "forked_from",
            "current_version",
            "view_count",
            "upvotes",
            "downvotes",
            "score",
            "hot_score",
            "thumbnail_url",
            "preview_url",
            "render_status",
            "created_at",
            "updated_at",
            "published_at",
        ]
        read_only_fields = fields

    def get_thumbnail_url(self, obj: Shader) -> str | None:
        return file_url(obj.thumbnail, self.context.get("request"))

    def get_preview_url(self, obj: Shader) -> str | None:
        return file_url(obj.preview, self.context.get("request"))


class ShaderDetailSerializer(ShaderSummarySerializer):
    class Meta(ShaderSummarySerializer.Meta):
        fields = ShaderSummarySerializer.Meta.fields + ["glsl_code", "render_error"]
        read_only_fields = fields


class ShaderVersionSummarySerializer(serializers.ModelSerializer):
    version_number = serializers.IntegerField(source="number", read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = ShaderVersion
        fields = ["version_number", "title", "change_note", "created_by", "created_at"]
        read_only_fields = fields


class ShaderVersionSerializer(ShaderVersionSummarySerializer):
    shader_id = serializers.UUIDField(read_only=True)
    metadata = serializers.DictField(read_only=True)

    class Meta(ShaderVersionSummarySerializer.Meta):
        fields = [
            "shader_id",
            "version_number",
            "glsl_code",
            "metadata",
            "title",
            "description",
            "tags",
            "shader_type",
            "change_note",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class DesireSerializer(serializers.ModelSerializer):
    author_id = serializers.IntegerField(read_only=True)
    author_username = serializers.CharField(source="author.username", read_only=True)
    cluster_id = serializers.UUIDField(read_only=True, allow_null=True)
    fulfilled_by_shader_id = serializers.UUIDField(source="fulfilled_by_id", read_only=True, allow_null=True)

    class Meta:
        model = Desire
        fields = [
            "id",
            "prompt_text",
            "style_hints",
            "tip_amount_cents",
            "status",
            "heat_score",
            "author_id",
            "author_username",
            "cluster_id",
            "fulfilled_by_shader_id",
            "fulfilled_at",
            "created_at",
        ]
        read_only_fields = fields


class DesireDetailSerializer(DesireSerializer):
    """A desire with its cluster context (documents ``views.desire_detail``)."""

    cluster_count = serializers.IntegerField(read_only=True)
    similar_desires = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta(DesireSerializer.Meta):
        fields = DesireSerializer.Meta.fields + ["cluster_count", "similar_desires"]
        read_only_fields = fields


class VoteResultSerializer(serializers.Serializer):
    shader_id = serializers.UUIDField()
    value = serializers.IntegerField(allow_null=True, help_text="1, -1, or null once removed")
    upvotes = serializers.IntegerField()
    downvotes = serializers.IntegerField()
    score = serializers.FloatField(help_text="Wilson lower bound of the up-vote share")
    hot_score = serializers.FloatField(help_text="Trending key (Wilson score with time decay)")


class CreditsSerializer(serializers.Serializer):
    credits_remaining = serializers.IntegerField()
    tier = serializers.CharField()
