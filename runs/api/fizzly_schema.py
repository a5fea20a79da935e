"""The Fizzly queue surface in OpenAPI: request and response bodies per status, in the seed's own words.

The serializers here describe; the views validate by hand (each refusal has the seed's own error shape).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


def any_value() -> serializers.JSONField:
    return serializers.JSONField()  # a field instance binds to one parent: one per use


STATUSES = ["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"]


class FizzlyErrorSerializer(serializers.Serializer):
    """Error Response Format."""

    error = serializers.CharField(help_text="Human-readable error message")
    code = serializers.ChoiceField(
        [
            "BAD_REQUEST",
            "UNAUTHORIZED",
            "FORBIDDEN",
            "NOT_FOUND",
            "INSUFFICIENT_CREDITS",
            "RATE_LIMIT_EXCEEDED",
            "INTERNAL_ERROR",
            "ALREADY_COMPLETED",
        ],
        help_text="For programmatic error handling",
    )
    details = serializers.DictField(
        child=any_value(), help_text="Additional context if available; `reason` names a more specific cause"
    )
    retry_after = serializers.IntegerField(required=False, help_text="Seconds to wait (429 only)")
    current_status = serializers.ChoiceField(STATUSES, required=False)


class SubmitRequestSerializer(serializers.Serializer):
    inputs = serializers.DictField(child=any_value(), help_text="The workflow's inputs, by name")


class SubmitResponseSerializer(serializers.Serializer):
    request_id = serializers.CharField()
    status = serializers.ChoiceField(["PENDING"])
    status_url = serializers.URLField()
    response_url = serializers.URLField()
    cancel_url = serializers.URLField()


class MetricsSerializer(serializers.Serializer):
    credits_used = serializers.IntegerField()
    total_time_ms = serializers.IntegerField(allow_null=True)


class LogEntrySerializer(serializers.Serializer):
    node = serializers.CharField()
    type = serializers.CharField(help_text="The node's type")
    status = serializers.CharField()
    started_at = serializers.CharField(allow_null=True, help_text="UTC, e.g. 2026-01-17T12:00:00Z")
    completed_at = serializers.CharField(allow_null=True)
    error = serializers.CharField(required=False)


class WebhookDeliverySerializer(serializers.Serializer):
    status = serializers.ChoiceField(["pending", "delivered", "given_up"])
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True, help_text="HTTP status of the last attempt")
    last_error = serializers.CharField(allow_null=True, help_text="Why the last attempt got no answer")
    delivered_at = serializers.CharField(allow_null=True)


class StatusResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(STATUSES)
    request_id = serializers.CharField()
    queue_position = serializers.IntegerField(required=False, help_text="IN_QUEUE only")
    progress = serializers.IntegerField(required=False, help_text="IN_PROGRESS only, 0-100")
    current_node = serializers.CharField(required=False, allow_null=True, help_text="IN_PROGRESS only")
    metrics = MetricsSerializer(required=False, help_text="Once finished")
    error = serializers.CharField(required=False, help_text="FAILED only")
    error_code = serializers.CharField(required=False, help_text="FAILED only")
    logs = LogEntrySerializer(many=True, required=False, help_text="With ?logs=1")
    delivery = WebhookDeliverySerializer(
        required=False, allow_null=True, help_text="Whether the ?webhook= callback reached you (null: none)"
    )


class ResultResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["COMPLETED"])
    outputs = serializers.DictField(
        child=any_value(),
        help_text="By output name: images as {url, width, height, content_type}, text as strings",
    )
    metrics = MetricsSerializer()
    logs = LogEntrySerializer(many=True)
    started_at = serializers.CharField(allow_null=True)
    completed_at = serializers.CharField(allow_null=True)


class CancelResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["CANCELLATION_REQUESTED"])
    message = serializers.CharField()
    previous_status = serializers.ChoiceField(["PENDING", "RUNNING"])
    credits_refunded = serializers.IntegerField()


WEBHOOK_PARAM = OpenApiParameter(
    "webhook", OpenApiTypes.URI, required=False, description="HTTPS URL to receive completion callback"
)
LOGS_PARAM = OpenApiParameter(
    "logs", OpenApiTypes.STR, required=False, description="Set to 1 to include execution logs"
)
STREAM_RESPONSE = OpenApiResponse(
    response=OpenApiTypes.STR,
    description="Server-Sent Events: `submit` (a node starts), `completion` (a node completes, with its "
    "`output.url` for an image), `output` (the workflow completes with final outputs and credits_used), "
    "`error` (the workflow fails), `ping` (keep-alive every 15 seconds). Each event has an `id`; reconnect "
    "with `Last-Event-ID` to resume after it.",
)
