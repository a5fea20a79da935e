from django import forms
from django.contrib import admin, messages

from shaders import desires, glsl, services
from shaders.models import Desire, DesireCluster, EngagementEvent, Shader, ShaderStatus, ShaderVersion, Vote


class ShaderAdminForm(forms.ModelForm):
    class Meta:
        model = Shader
        fields = "__all__"

    def clean_glsl_code(self):
        code = self.cleaned_data["glsl_code"]
        result = glsl.validate(code)
        if not result.ok:
            raise forms.ValidationError(
                [f"line {d.line}: {d.message}" if d.line else d.message for d in result.errors]
            )
        return code


class ShaderVersionInline(admin.TabularInline):
    model = ShaderVersion
    fields = ("number", "title", "change_note", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-number",)
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Shader)
class ShaderAdmin(admin.ModelAdmin):
    form = ShaderAdminForm
    list_display = (
        "title",
        "owner",
        "status",
        "shader_type",
        "is_system",
        "current_version",
        "upvotes",
        "downvotes",
        "score",
        "view_count",
        "render_status",
        "published_at",
    )
    list_filter = ("status", "shader_type", "is_system", "render_status")
    search_fields = ("title", "description", "tags_index", "owner__username")
    readonly_fields = (
        "id",
        "current_version",
        "upvotes",
        "downvotes",
        "score",
        "hot_score",
        "view_count",
        "render_status",
        "render_error",
        "rendered_version",
        "created_at",
        "updated_at",
        "published_at",
        "first_published_at",
        "tags_index",
    )
    raw_id_fields = ("owner", "forked_from")
    date_hierarchy = "created_at"
    inlines = [ShaderVersionInline]
    actions = ["mark_system", "unmark_system", "archive", "rerender"]

    def save_model(self, request, obj, form, change):
        # Edits made here are versioned like any other (shaders.services.save_from_admin).
        services.save_from_admin(obj, request.user, form.changed_data, created=not change)

    @admin.action(description="Mark as system / curated")
    def mark_system(self, request, queryset):
        self.message_user(request, f"{queryset.update(is_system=True)} shader(s) marked as system.")

    @admin.action(description="Remove the system / curated mark")
    def unmark_system(self, request, queryset):
        self.message_user(request, f"{queryset.update(is_system=False)} shader(s) unmarked.")

    @admin.action(description="Archive (hide from lists and feeds)")
    def archive(self, request, queryset):
        self.message_user(request, f"{queryset.update(status=ShaderStatus.ARCHIVED)} shader(s) archived.")

    @admin.action(description="Re-render thumbnail and preview")
    def rerender(self, request, queryset):
        shaders = list(queryset.filter(status=ShaderStatus.PUBLISHED))
        for shader in shaders:
            services.schedule_render(shader)
        self.message_user(request, f"{len(shaders)} render(s) queued.", messages.SUCCESS)


@admin.register(ShaderVersion)
class ShaderVersionAdmin(admin.ModelAdmin):
    list_display = ("shader", "number", "title", "shader_type", "change_note", "created_by", "created_at")
    list_filter = ("shader_type",)
    search_fields = ("shader__title", "title", "change_note", "created_by__username")
    readonly_fields = [f.name for f in ShaderVersion._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):  # versions are written by the shader services only
        return False


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("shader", "user", "value", "created_at", "updated_at")
    list_filter = ("value",)
    search_fields = ("shader__title", "user__username")
    raw_id_fields = ("shader", "user")


@admin.register(EngagementEvent)
class EngagementEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "shader", "user", "session_id", "dwell_secs")
    list_filter = ("kind",)
    search_fields = ("shader__title", "user__username", "session_id")
    raw_id_fields = ("shader", "user")
    date_hierarchy = "created_at"


class DesireInline(admin.TabularInline):
    model = Desire
    fields = ("prompt_text", "status", "heat_score", "tip_amount_cents", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DesireCluster)
class DesireClusterAdmin(admin.ModelAdmin):
    list_display = ("label", "size", "created_at", "updated_at")
    search_fields = ("label",)
    readonly_fields = ("id", "size", "centroid", "created_at", "updated_at")
    inlines = [DesireInline]


@admin.register(Desire)
class DesireAdmin(admin.ModelAdmin):
    list_display = (
        "prompt_text",
        "author",
        "status",
        "heat_score",
        "tip_amount_cents",
        "cluster",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("prompt_text", "author__username")
    readonly_fields = ("id", "heat_score", "cluster", "fulfilled_at", "created_at")
    exclude = ("embedding",)
    raw_id_fields = ("author", "fulfilled_by")
    actions = ["recluster", "refresh_heat"]

    @admin.action(description="Re-embed and re-cluster")
    def recluster(self, request, queryset):
        for desire in queryset:
            desires.schedule_embedding(desire)
        self.message_user(request, f"{queryset.count()} desire(s) queued for embedding.", messages.SUCCESS)

    @admin.action(description="Refresh heat scores of all open desires")
    def refresh_heat(self, request, queryset):
        count = desires.refresh_heat()
        self.message_user(request, f"Heat refreshed for {count} desire(s).", messages.SUCCESS)
