from django.contrib import admin, messages

from config.errors import CanvasflowError
from runs import services
from runs.models import Artifact, NodeRun, Run, RunEvent, WebhookDelivery


class NodeRunInline(admin.TabularInline):
    model = NodeRun
    extra = 0
    fields = (
        "position",
        "node_id",
        "node_type",
        "status",
        "progress",
        "attempts",
        "credit_cost",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields
    can_delete = False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "pipeline",
        "surface",
        "status",
        "progress",
        "billed_to",
        "credits_reserved",
        "credits_used",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "surface", "created_at")
    search_fields = ("id", "job_id", "idempotency_key", "pipeline__name", "billed_to__username")
    readonly_fields = [f.name for f in Run._meta.fields]
    inlines = [NodeRunInline]
    date_hierarchy = "created_at"
    actions = ["cancel_runs"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel selected runs (refunds per the queue rules)")
    def cancel_runs(self, request, queryset):
        for run in queryset:
            try:
                result = services.cancel_run(run)
                self.message_user(
                    request, f"{run.pk}: cancellation requested, {result.credits_refunded} refunded."
                )
            except CanvasflowError as exc:
                self.message_user(request, f"{run.pk}: {exc.message}", messages.WARNING)


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "run",
        "output_key",
        "content_type",
        "width",
        "height",
        "size",
        "created_at",
    )
    list_filter = ("content_type",)
    search_fields = ("id", "run__id", "owner__username")
    readonly_fields = [f.name for f in Artifact._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(RunEvent)
class RunEventAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "type", "node_id", "created_at")
    list_filter = ("type",)
    search_fields = ("run__id", "node_id")
    readonly_fields = ("run", "type", "node_id", "data", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):  # append-only
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "run",
        "kind",
        "url",
        "status",
        "attempts",
        "response_codes",
        "created_at",
        "delivered_at",
    )
    list_filter = ("kind", "status")
    search_fields = ("run__id", "url")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False
