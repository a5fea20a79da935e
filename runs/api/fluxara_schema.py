"""The Fluxara surface in OpenAPI: request and response bodies per status, in the seed's own words."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

STATUS_VALUES = "queued, running, completed or failed"


class FluxaraErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="e.g. invalid_request")
    message = serializers.CharField(help_text="e.g. Preset is not available in the current environment.")
    details = serializers.DictField(child=serializers.JSONField(), required=False)


class FluxaraErrorSerializer(serializers.Serializer):
    """Error responses use a compact JSON structure."""

    error = FluxaraErrorBodySerializer()


class FluxaraAccessDeniedSerializer(serializers.Serializer):
    """Unauthorized or unapproved environments may receive an access denial response."""

    error = serializers.CharField(help_text="access_denied")
    message = serializers.CharField(help_text="closed beta environment")


STATUS = inline_serializer(
    "FluxaraServiceStatus",
    {
        "status": serializers.CharField(),
        "service": serializers.CharField(),
        "version": serializers.CharField(help_text="This server's version"),
        "environment": serializers.CharField(),
    },
)

AUTH = inline_serializer(
    "FluxaraAuth",
    {
        "status": serializers.CharField(help_text="ok"),
        "user": serializers.CharField(),
        "approved": serializers.BooleanField(),
        "credential": serializers.CharField(help_text="jwt or api_key"),
    },
)

PIPELINES = inline_serializer(
    "FluxaraPipelines",
    {
        "pipelines": inline_serializer(
            "FluxaraPipeline",
            {
                "id": serializers.CharField(help_text="Your own as its slug, others' as owner/slug"),
                "name": serializers.CharField(),
                "type": serializers.CharField(help_text="image or text"),
                "status": serializers.CharField(help_text="active"),
                "presets": serializers.ListField(child=serializers.CharField()),
            },
            many=True,
        )
    },
)

CREATE_JOB = inline_serializer(
    "FluxaraCreateJob",
    {
        "pipeline": serializers.CharField(help_text="A pipeline id from GET /pipelines"),
        "preset": serializers.CharField(required=False),
        "input": serializers.DictField(child=serializers.JSONField(), help_text="The pipeline's inputs"),
        "options": inline_serializer(
            "FluxaraJobOptions",
            {
                "count": serializers.IntegerField(required=False, min_value=1, default=1),
                "resolution": serializers.CharField(
                    required=False,
                    help_text="WxH, e.g. 1024x1024; for pipelines with a resize step only (400 otherwise)",
                ),
            },
            required=False,
        ),
    },
)

JOB_CREATED = inline_serializer(
    "FluxaraJobCreated",
    {
        "job_id": serializers.CharField(),
        "status": serializers.CharField(help_text="queued"),
        "created_at": serializers.CharField(help_text="UTC, e.g. 2026-03-27T08:00:00Z"),
    },
)

JOB = inline_serializer(
    "FluxaraJob",
    {
        "job_id": serializers.CharField(),
        "status": serializers.CharField(help_text=STATUS_VALUES),
        "pipeline": serializers.CharField(),
        "preset": serializers.CharField(allow_null=True),
        "created_at": serializers.CharField(help_text="UTC, e.g. 2026-03-27T08:00:00Z"),
        "updated_at": serializers.CharField(help_text="When the job's state last changed"),
        "count": serializers.IntegerField(),
        "progress": serializers.IntegerField(),
        "error": FluxaraErrorBodySerializer(required=False),
    },
)

OUTPUTS = inline_serializer(
    "FluxaraJobOutputs",
    {
        "job_id": serializers.CharField(),
        "status": serializers.CharField(help_text=STATUS_VALUES),
        "outputs": inline_serializer(
            "FluxaraArtifact",
            {
                "artifact_id": serializers.CharField(),
                "type": serializers.CharField(help_text="MIME type, e.g. image/png or text/plain"),
                "width": serializers.IntegerField(allow_null=True),
                "height": serializers.IntegerField(allow_null=True),
                "name": serializers.CharField(help_text="The pipeline output it holds"),
                "download_url": serializers.CharField(),
            },
            many=True,
        ),
    },
)


def error(text: str) -> OpenApiResponse:
    return OpenApiResponse(FluxaraErrorSerializer, description=text)


ACCESS_DENIED = {
    401: OpenApiResponse(
        FluxaraAccessDeniedSerializer, description="No bearer token, or one that is not valid."
    ),
    403: OpenApiResponse(
        FluxaraAccessDeniedSerializer,
        description="API access is limited to approved beta users: the account is not approved yet.",
    ),
    429: error("Rate limits may vary by environment."),
}
NOT_FOUND = {404: error("No such job or artifact for this account.")}
CREATE_RESPONSES = {
    201: OpenApiResponse(JOB_CREATED, description="The job was accepted and is waiting for execution."),
    400: error("invalid_request: a malformed body, an unknown preset, an unsupported option."),
    402: error("insufficient_credits: the credits do not cover count runs."),
    404: error("Pipeline is not available in the current environment."),
    413: error("The images sent are larger than a request may carry."),
    422: error("invalid_input: an input the pipeline cannot take (e.g. not an image URL)."),
    **ACCESS_DENIED,
}
