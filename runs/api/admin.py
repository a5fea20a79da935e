from django.contrib import admin

from runs.api.sartiq.models import SartiqTask


@admin.register(SartiqTask)
class SartiqTaskAdmin(admin.ModelAdmin):
    """Sartiq tasks: the seed's record around each run (the run page shows status, attempts and credits)."""

    list_display = (
        "id",
        "task_type",
        "owner",
        "run_status",
        "provider_type",
        "fallback_provider_type",
        "origin_instance",
        "origin_tenant_id",
        "is_deleted",
        "created_at",
    )
    list_filter = ("task_type", "provider_type", "is_deleted", "run__status", "created_at")
    search_fields = ("id", "run__id", "owner__username", "origin_instance", "origin_tenant_id", "origin_reference")
    list_select_related = ("run", "owner")
    readonly_fields = [f.name for f in SartiqTask._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    @admin.display(description="run status", ordering="run__status")
    def run_status(self, obj: SartiqTask) -> str:
        return obj.run.status
