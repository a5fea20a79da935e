"""The studio API's settings of a pipeline's FractalQ session key: its spending caps.

GET   /api/v1/studio/pipelines/{id}/session-key   the active key's prefix, caps and what it spent so far
PATCH /api/v1/studio/pipelines/{id}/session-key   {"spending_cap": {"credits_per_day": 200, "credits_per_month": null}}

The caps can also be given on publish (``{"spending_cap": {…}}``) and edited in Django admin; they are enforced
by the FractalQ surface before a run is queued (:mod:`runs.spending`).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import BadRequest, NotFound
from config.timefmt import iso_z
from pipelines import services
from pipelines.models import SessionKey
from pipelines.views import StudioView


class SpendingCapSerializer(serializers.Serializer):
    credits_per_day = serializers.IntegerField(
        min_value=0, allow_null=True, required=False, help_text="Credits per UTC day; null for no cap"
    )
    credits_per_month = serializers.IntegerField(
        min_value=0, allow_null=True, required=False, help_text="Credits per calendar month; null for no cap"
    )


SETTINGS = inline_serializer(
    "SessionKeySettings",
    {
        "prefix": serializers.CharField(help_text="The first characters of the key"),
        "created_at": serializers.CharField(),
        "spending_cap": SpendingCapSerializer(),
        "spent": inline_serializer(
            "SessionKeySpent",
            {"today": serializers.IntegerField(), "this_month": serializers.IntegerField()},
        ),
    },
)
UPDATE = inline_serializer("SessionKeySettingsUpdate", {"spending_cap": SpendingCapSerializer()})


def spending_cap_of(data: Any) -> dict[str, int | None] | None:
    """The ``spending_cap`` of a request body (None when absent), checked by its serializer."""
    if not isinstance(data, dict) or "spending_cap" not in data:
        return None
    serializer = SpendingCapSerializer(data=data["spending_cap"])
    serializer.is_valid(raise_exception=True)
    return {k: v for k, v in serializer.validated_data.items() if k in data["spending_cap"]}


def key_settings(key: SessionKey) -> dict[str, Any]:
    from runs.spending import usage

    spent = usage(key)
    return {
        "prefix": key.prefix,
        "created_at": iso_z(key.created_at),
        "spending_cap": services.spending_caps(key),
        "spent": {"today": spent["spent_today"], "this_month": spent["spent_this_month"]},
    }


class SessionKeySettingsView(StudioView):
    def active_key(self, pipeline_id: int) -> SessionKey:
        key = services.active_session_key(self.get_pipeline(pipeline_id))
        if key is None:
            raise NotFound("The pipeline has no session key; publish it first")
        return key

    @extend_schema(
        operation_id="studio_session_key_settings",
        summary="Session key settings",
        description="The active FractalQ session key of the pipeline: its spending caps and what it has spent "
        "today and this month (credits charged or held by running calls).",
        responses={200: SETTINGS},
    )
    def get(self, request: Request, pipeline_id: int) -> Response:
        return Response(key_settings(self.active_key(pipeline_id)))

    @extend_schema(
        operation_id="studio_session_key_settings_update",
        summary="Set the session key's spending caps",
        description="FractalQ bills the pipeline's owner and anyone holding the key can call it: cap what the "
        "key may spend per UTC day and per calendar month (null lifts a cap). A call over a cap is answered "
        "429 SPENDING_CAP_REACHED. The caps stay with the pipeline when the key is rotated.",
        request=UPDATE,
        responses={200: SETTINGS},
    )
    def patch(self, request: Request, pipeline_id: int) -> Response:
        caps = spending_cap_of(request.data)
        if caps is None:
            raise BadRequest('Expected {"spending_cap": {"credits_per_day": …, "credits_per_month": …}}')
        key = self.active_key(pipeline_id)
        return Response(key_settings(services.set_spending_caps(key.pipeline, caps)))
