from django.contrib import admin, messages

from pipelines import services
from pipelines.models import Pipeline, PublishedVersion, SessionKey


class PublishedVersionInline(admin.TabularInline):
    model = PublishedVersion
    extra = 0
    fields = ("number", "credit_cost", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "slug", "is_public", "updated_at", "created_at")
    list_filter = ("is_public",)
    search_fields = ("name", "slug", "owner__username", "description")
    inlines = [PublishedVersionInline]
    actions = ["publish_selected"]

    @admin.action(description="Publish the current draft of the selected pipelines")
    def publish_selected(self, request, queryset):
        for pipeline in queryset:
            try:
                result = services.publish(pipeline)
                self.message_user(request, f"{pipeline}: version {result.version.number} published.")
            except Exception as exc:  # noqa: BLE001 - report every failure, keep going
                self.message_user(request, f"{pipeline}: {exc}", messages.ERROR)


@admin.register(PublishedVersion)
class PublishedVersionAdmin(admin.ModelAdmin):
    list_display = ("pipeline", "number", "credit_cost", "created_at")
    search_fields = ("pipeline__name", "pipeline__owner__username")
    readonly_fields = (
        "pipeline",
        "number",
        "graph",
        "input_schema",
        "output_schema",
        "input_examples",
        "credit_cost",
        "created_at",
    )

    def has_add_permission(self, request):  # versions are made by publishing
        return False


@admin.register(SessionKey)
class SessionKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "pipeline", "daily_credit_cap", "monthly_credit_cap", "created_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("prefix", "pipeline__name", "pipeline__owner__username")
    # Only the spending caps are editable: the key itself is issued by publishing or rotating.
    fields = ("pipeline", "prefix", "daily_credit_cap", "monthly_credit_cap", "created_at", "revoked_at")
    readonly_fields = ("pipeline", "prefix", "key_hash", "created_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected session keys")
    def revoke(self, request, queryset):
        from django.utils import timezone

        n = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {n} key(s).")
