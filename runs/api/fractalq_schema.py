"""The FractalQ surface in OpenAPI: request and response bodies per status, in the seed's own words.

The serializers here describe; the views validate by hand, since each refusal has the seed's own error code
(``MISSING_INPUT``, ``INVALID_REQUEST``…) that a DRF validation error would not carry.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


def any_value() -> serializers.Field:
    """A JSON value of any type (a fresh field each time: a field instance binds to one parent)."""
    return serializers.JSONField()


class FractalQErrorSerializer(serializers.Serializer):
    """Error Response Shape."""

    success = serializers.BooleanField(default=False)
    error = serializers.CharField(help_text="What went wrong, e.g. 'Missing required input: image_url'")
    code = serializers.CharField(help_text="Machine-readable, e.g. MISSING_INPUT")
    node = serializers.CharField(required=False, allow_null=True, help_text="The node that failed, if any")
    jobId = serializers.CharField(required=False, help_text="The run, when one was made")
    details = serializers.DictField(required=False, child=any_value())


class CallbackDeliverySerializer(serializers.Serializer):
    status = serializers.CharField(help_text="pending, delivered or given_up")
    attempts = serializers.IntegerField()
    lastStatusCode = serializers.IntegerField(allow_null=True, help_text="HTTP status of the last attempt")
    lastError = serializers.CharField(allow_null=True, help_text="Why the last attempt got no answer")
    deliveredAt = serializers.CharField(allow_null=True, help_text="UTC, e.g. 2026-01-17T12:00:00Z")


EXECUTE_REQUEST = inline_serializer(
    "FractalQExecuteRequest",
    {
        "inputs": serializers.DictField(
            child=any_value(),
            help_text="Key/value pairs matching your session's input nodes. Keys that match no input node "
            "are ignored and listed in ignoredInputs.",
        ),
        "async": serializers.BooleanField(
            required=False,
            default=False,
            help_text="Set true to run asynchronously. Returns jobId immediately.",
        ),
        "callbackUrl": serializers.URLField(
            required=False, help_text="HTTPS endpoint to receive results when async is true."
        ),
        "_jobId": serializers.CharField(
            required=False, max_length=200, help_text="Optional idempotency key for deduplication."
        ),
    },
)

EXECUTE_RESULT = inline_serializer(
    "FractalQExecuteResult",
    {
        "success": serializers.BooleanField(),
        "outputs": serializers.DictField(
            child=any_value(),
            help_text="One entry per output of the pipeline: images as URLs, text, numbers, JSON",
        ),
        "executionMs": serializers.IntegerField(allow_null=True),
        "jobId": serializers.CharField(),
        "ignoredInputs": serializers.ListField(
            child=serializers.CharField(), required=False, help_text="Inputs sent that no input node takes"
        ),
    },
)

ASYNC_ACCEPTED = inline_serializer(
    "FractalQJobQueued",
    {
        "success": serializers.BooleanField(),
        "jobId": serializers.CharField(),
        "_jobId": serializers.CharField(allow_null=True),
        "status": serializers.CharField(),
        "statusUrl": serializers.URLField(),
        "ignoredInputs": serializers.ListField(child=serializers.CharField(), required=False),
    },
)

JOB_STATUS = inline_serializer(
    "FractalQJobStatus",
    {
        "success": serializers.BooleanField(),
        "jobId": serializers.CharField(),
        "_jobId": serializers.CharField(allow_null=True),
        "status": serializers.CharField(help_text="queued, running, completed, failed, cancelled or blocked"),
        "progress": serializers.IntegerField(required=False),
        "outputs": serializers.DictField(child=any_value(), required=False),
        "executionMs": serializers.IntegerField(required=False, allow_null=True),
        "error": serializers.CharField(required=False),
        "code": serializers.CharField(required=False),
        "node": serializers.CharField(required=False, allow_null=True),
        "delivery": CallbackDeliverySerializer(
            required=False,
            allow_null=True,
            help_text="Whether the callback reached callbackUrl (null when the job has none)",
        ),
    },
)


class FractalQFieldSpecSerializer(serializers.Serializer):
    """One input or output of the session: a JSON schema with its description."""

    type = serializers.CharField(required=False, help_text="string, number, boolean, array, object")
    format = serializers.CharField(required=False, help_text="uri for an image URL")
    required = serializers.BooleanField(required=False)
    description = serializers.CharField()
    items = serializers.DictField(child=any_value(), required=False, help_text="An array's item schema")
    properties = serializers.DictField(child=any_value(), required=False)


DOCS = inline_serializer(
    "FractalQSessionDocs",
    {
        "success": serializers.BooleanField(),
        "apiKey": serializers.CharField(),
        "apiUrl": serializers.URLField(),
        "name": serializers.CharField(),
        "description": serializers.CharField(),
        "version": serializers.IntegerField(),
        "inputSchema": serializers.DictField(child=FractalQFieldSpecSerializer()),
        "outputSchema": serializers.DictField(child=FractalQFieldSpecSerializer()),
        "inputExamples": serializers.DictField(child=any_value()),
        "inputRules": serializers.DictField(child=serializers.CharField()),
        "creditCost": serializers.IntegerField(),
        "spendingCap": serializers.DictField(child=serializers.IntegerField(allow_null=True)),
        "limits": serializers.DictField(child=any_value()),
        "envVar": serializers.CharField(),
        "examples": serializers.DictField(child=serializers.CharField()),
    },
)


def error(text: str) -> OpenApiResponse:
    return OpenApiResponse(FractalQErrorSerializer, description=text)


# The seed's Response Codes table, word for word.
NOT_FOUND = error("API key not found or session not published.")
RATE_LIMITED = error(
    "Rate limit exceeded. Slow down requests. Also: the key's spending cap is reached (SPENDING_CAP_REACHED) "
    "or, for a synchronous call, no worker could start the run in time (WORKERS_BUSY); see Retry-After."
)
EXECUTE_RESPONSES = {
    200: OpenApiResponse(
        EXECUTE_RESULT, description="Pipeline completed. Outputs returned in response body."
    ),
    202: OpenApiResponse(
        ASYNC_ACCEPTED, description="Job queued (async mode). Results delivered via callback URL."
    ),
    400: error("Missing required inputs or malformed request body."),
    402: error("The pipeline owner's credits do not cover the run (INSUFFICIENT_CREDITS)."),
    404: NOT_FOUND,
    409: error("_jobId was already used for a different request (IDEMPOTENCY_KEY_CONFLICT)."),
    413: error("The images sent are larger than a request may carry."),
    422: error("Input validation failed (e.g. unreachable image URL)."),
    429: RATE_LIMITED,
    500: error(
        "AI processing failed. Check logs or retry. A synchronous call whose run outlives its time budget "
        "is cancelled and answered here too (RUN_TIMED_OUT)."
    ),
}
DOCS_RESPONSES = {200: DOCS, 404: NOT_FOUND, 429: RATE_LIMITED}
JOB_RESPONSES = {
    200: OpenApiResponse(JOB_STATUS, description="The job's state; a failed job describes its error here."),
    404: error("API key not found, session not published, or no such job under this key."),
    429: RATE_LIMITED,
}
