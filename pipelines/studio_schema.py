"""The studio API (the canvas's own API) in OpenAPI: what each operation takes and answers.

The views build their answers by hand (pipelines.views, runs.api.studio); these serializers describe them, and
tests/test_studio_schema.py checks every answer against them so the documentation cannot drift.
"""

from __future__ import annotations

from rest_framework import serializers


def any_value() -> serializers.JSONField:
    return serializers.JSONField()  # a field instance binds to one parent: one per use


def stamp(help_text: str = "UTC, e.g. 2026-01-17T12:00:00Z", **kwargs: object) -> serializers.CharField:
    return serializers.CharField(help_text=help_text, **kwargs)


class StudioErrorSerializer(serializers.Serializer):
    """Every studio error: a message, and the facts of the refusal (a limit, what was sent)."""

    detail = serializers.CharField(help_text="What went wrong, in words")
    errors = serializers.JSONField(
        required=False,
        help_text="400: the messages per field of the request body; 422 (an invalid graph): the graph's "
        "problems, each naming its node and port, as Validate reports them",
    )
    current_status = serializers.CharField(
        required=False, help_text="Cancelling a run that has ended (400): the status it ended in"
    )
    required = serializers.IntegerField(required=False, help_text="402: the credits the run needs")
    available = serializers.IntegerField(required=False, help_text="402: your credit balance")


class GraphSerializer(serializers.Serializer):
    nodes = serializers.ListField(child=serializers.DictField(child=any_value()))
    edges = serializers.ListField(child=serializers.DictField(child=any_value()))
    notes = serializers.ListField(
        child=serializers.DictField(child=any_value()),
        required=False,
        help_text="Text boxes on the canvas: {id, text, position, width, height}. Layout only; never run",
    )
    groups = serializers.ListField(
        child=serializers.DictField(child=any_value()),
        required=False,
        help_text="Titled frames on the canvas: {id, title, position, width, height}; moving one moves the "
        "nodes inside it. Layout only; never run",
    )


class LastRunSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    created_at = stamp()


class PipelineSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    is_public = serializers.BooleanField()
    published_version = serializers.IntegerField(allow_null=True)
    last_run = LastRunSerializer(allow_null=True)
    created_at = stamp()
    updated_at = stamp()


class LimitsSerializer(serializers.Serializer):
    max_input_pixels = serializers.IntegerField(allow_null=True)
    time_budget_seconds = serializers.FloatField()
    estimated_seconds = serializers.FloatField()
    estimated_seconds_per_megapixel = serializers.FloatField()


class PipelineDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    owner = serializers.CharField()
    is_public = serializers.BooleanField()
    graph = GraphSerializer()
    presets = serializers.DictField(child=any_value())
    published_version = serializers.IntegerField(allow_null=True)
    limits = LimitsSerializer(allow_null=True, help_text="Of the published version, as FractalQ's /docs")
    session_key_prefix = serializers.CharField(allow_null=True)
    fizzly_url = serializers.URLField()
    created_at = stamp()
    updated_at = stamp()


class PortSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    required = serializers.BooleanField()


class NodeTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    family = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    inputs = PortSerializer(many=True)
    outputs = PortSerializer(many=True)
    dynamic_inputs = serializers.BooleanField()
    params_schema = serializers.DictField(child=any_value(), help_text="JSON Schema of the node's params")
    credit_cost = serializers.IntegerField()
    resource_class = serializers.CharField()
    max_retries = serializers.IntegerField()
    cacheable = serializers.BooleanField(
        help_text="Whether the node-output cache may reuse its outputs (false: its outputs may differ per run)"
    )
    exposes_input = serializers.DictField(
        child=any_value(), allow_null=True, help_text="The JSON Schema of the input an INPUT__ node exposes"
    )
    max_input_pixels = serializers.IntegerField(allow_null=True)
    base_seconds = serializers.FloatField()
    seconds_per_megapixel = serializers.FloatField()


class NodeCatalogSerializer(serializers.Serializer):
    node_types = NodeTypeSerializer(many=True)
    unavailable_families = serializers.DictField(
        child=serializers.CharField(), help_text="Node families whose optional stack is missing, and why"
    )


class GraphErrorSerializer(serializers.Serializer):
    node = serializers.CharField(allow_null=True)
    port = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    message = serializers.CharField()


class ValidationReportSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = GraphErrorSerializer(many=True)


class ValidateRequestSerializer(serializers.Serializer):
    graph = GraphSerializer(required=False, help_text="A graph to check instead of the saved draft")


class VersionSummarySerializer(serializers.Serializer):
    number = serializers.IntegerField()
    created_at = stamp()
    input_schema = serializers.DictField(child=any_value())
    output_schema = serializers.DictField(child=any_value())
    input_examples = serializers.DictField(child=any_value())
    credit_cost = serializers.IntegerField()


class VersionDetailSerializer(VersionSummarySerializer):
    graph = GraphSerializer()


class NodeRefSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField(allow_null=True)


class ParamChangeSerializer(serializers.Serializer):
    param = serializers.CharField()
    change = serializers.ChoiceField(choices=["added", "removed", "changed"])
    from_ = serializers.JSONField(required=False, help_text="The value before (not when added)")
    to = serializers.JSONField(required=False, help_text="The value after (not when removed)")


def keyword_field(serializer: type[serializers.Serializer], name: str) -> None:
    """Declare ``name`` (a Python keyword such as ``from``) for the field written ``name_`` in the class."""
    serializer._declared_fields[name] = serializer._declared_fields.pop(f"{name}_")


keyword_field(ParamChangeSerializer, "from")


class NodeChangeSerializer(NodeRefSerializer):
    previous_type = serializers.CharField(required=False, help_text="When the node's type changed")
    params = ParamChangeSerializer(many=True)


class NodesDiffSerializer(serializers.Serializer):
    added = NodeRefSerializer(many=True)
    removed = NodeRefSerializer(many=True)
    changed = NodeChangeSerializer(many=True)


class EdgeEndSerializer(serializers.Serializer):
    node = serializers.CharField()
    port = serializers.CharField()


class EdgeRefSerializer(serializers.Serializer):
    to = EdgeEndSerializer()
    from_ = EdgeEndSerializer()


keyword_field(EdgeRefSerializer, "from")


class EdgesDiffSerializer(serializers.Serializer):
    added = EdgeRefSerializer(many=True)
    removed = EdgeRefSerializer(many=True)


class VersionDiffSerializer(serializers.Serializer):
    to = serializers.IntegerField(help_text="The version compared (the newer one, usually)")
    from_ = serializers.IntegerField(help_text="The version it is compared with")
    identical = serializers.BooleanField(help_text="true when the two graphs behave the same")
    nodes = NodesDiffSerializer()
    edges = EdgesDiffSerializer()


keyword_field(VersionDiffSerializer, "from")


class RolledBackSerializer(serializers.Serializer):
    version = VersionSummarySerializer(help_text="The new newest version: a copy of the one rolled back to")
    rolled_back_to = serializers.IntegerField(help_text="The version whose graph was published again")
    session_key_prefix = serializers.CharField(
        allow_null=True, help_text="The session key's prefix: the same key as before, callers change nothing"
    )


class KeyUrlsSerializer(serializers.Serializer):
    session_key = serializers.CharField(allow_null=True, help_text="The full FractalQ key, shown once")
    execute_url = serializers.URLField(allow_null=True)
    docs_url = serializers.URLField(allow_null=True)


class PublishedSerializer(serializers.Serializer):
    version = VersionSummarySerializer()
    session_key = serializers.CharField(
        required=False, help_text="Only when this publish issued the pipeline's first key (shown once)"
    )
    execute_url = serializers.URLField(allow_null=True)
    docs_url = serializers.URLField(allow_null=True)


class PublishRequestSerializer(serializers.Serializer):
    spending_cap = serializers.DictField(
        child=serializers.IntegerField(allow_null=True, min_value=0),
        required=False,
        help_text="credits_per_day / credits_per_month the session key may spend (null: no cap)",
    )


class RunErrorSerializer(serializers.Serializer):
    code = serializers.CharField(required=False)
    message = serializers.CharField(required=False)


class RunSummarySerializer(serializers.Serializer):
    id = serializers.CharField()
    own = serializers.BooleanField(help_text="False: another caller's run, shown without inputs or outputs")
    status = serializers.CharField()
    progress = serializers.IntegerField(required=False)
    surface = serializers.CharField()
    credits_reserved = serializers.IntegerField(required=False)
    credits_used = serializers.IntegerField()
    version = serializers.IntegerField(allow_null=True)
    created_at = stamp()
    started_at = stamp(allow_null=True)
    finished_at = stamp(allow_null=True)
    execution_ms = serializers.IntegerField(required=False, allow_null=True)
    error = serializers.DictField(child=any_value(), allow_null=True)
    resumes = serializers.IntegerField(required=False, help_text="Times the run was resumed")
    resumable = serializers.BooleanField(required=False, help_text="POST .../resume would take it")


class PipelineRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class QueuedRunSerializer(RunSummarySerializer):
    pipeline = PipelineRefSerializer()
    current_node = serializers.CharField(allow_null=True, help_text="The node running now")
    queue_position = serializers.IntegerField(
        allow_null=True, help_text="Queued runs: how many runs (anyone's) wait ahead of it; null otherwise"
    )


class AttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    node_type = serializers.CharField(help_text="The node type that ran: the node's own, or its fallback")
    provider = serializers.CharField(allow_null=True, help_text="The provider or model, for provider nodes")
    fallback = serializers.BooleanField()
    outcome = serializers.ChoiceField(["completed", "failed", "blocked", "cancelled"])
    error = serializers.DictField(child=any_value(), required=False)
    started_at = stamp()
    duration_ms = serializers.IntegerField()


class NodeRunSerializer(serializers.Serializer):
    node_id = serializers.CharField()
    type = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    attempts = serializers.IntegerField()
    attempt_log = AttemptSerializer(many=True, required=False)
    fallback_used = serializers.BooleanField(required=False)
    cached = serializers.BooleanField(required=False, help_text="From the node-output cache; not billed")
    reused = serializers.BooleanField(required=False, help_text="Kept from before the run was resumed")
    credit_cost = serializers.IntegerField(required=False, help_text="Its price, frozen in the version")
    outputs = serializers.DictField(child=any_value(), allow_null=True)
    error = serializers.DictField(child=any_value(), allow_null=True)
    started_at = stamp(allow_null=True)
    finished_at = stamp(allow_null=True)


class RunDetailSerializer(RunSummarySerializer):
    pipeline = serializers.IntegerField()
    current_node = serializers.CharField(allow_null=True)
    last_event_id = serializers.IntegerField(
        help_text="The run's last event when this was read: follow /ws/runs/{id}/?after= it for what comes next"
    )
    inputs = serializers.DictField(child=any_value())
    outputs = serializers.DictField(child=any_value())
    nodes = NodeRunSerializer(many=True)


class RunRequestSerializer(serializers.Serializer):
    inputs = serializers.DictField(child=any_value(), required=False)
    draft = serializers.BooleanField(
        required=False, help_text="Run the saved draft instead of the published version"
    )


class RunCancelledSerializer(serializers.Serializer):
    status = serializers.CharField()
    previous_status = serializers.CharField()
    credits_refunded = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    runs = serializers.IntegerField()
    callers = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_surface = serializers.DictField(child=serializers.IntegerField())
    error_codes = serializers.DictField(child=serializers.IntegerField())
    credits_used = serializers.IntegerField()
    mean_execution_ms = serializers.IntegerField(allow_null=True)


class UploadedSerializer(serializers.Serializer):
    artifact_id = serializers.CharField(help_text="Use it as an image input (art_…)")
    url = serializers.URLField(help_text="Signed, expiring URL of the file")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    content_type = serializers.CharField()
