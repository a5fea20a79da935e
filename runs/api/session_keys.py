"""The studio API's settings of a pipeline's FractalQ session key: its spending caps and what it spent.

GET   /api/v1/studio/pipelines/{id}/session-key   the active key's prefix, caps and what it spent so far
PATCH /api/v1/studio/pipelines/{id}/session-key   {"spending_cap": {"credits_per_day": 200, "credits_per_month": null}}

The caps can also be given on publish (pipelines.key_settings) and edited in Django admin; the FractalQ surface
enforces them before a run is queued (:mod:`runs.spending`).
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
from pipelines.key_settings import SpendingCapSerializer, spending_cap_of
from pipelines.models import SessionKey
from pipelines.views import StudioView
from runs.spending import usage

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


def key_settings(key: SessionKey) -> dict[str, Any]:
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
