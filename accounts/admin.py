from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts import credits, keys, services
from accounts.models import ApiKey, CreditTransaction, ProviderKey, TransactionKind, User


class GrantCreditsForm(forms.Form):
    amount = forms.IntegerField(min_value=1)
    note = forms.CharField(max_length=200, required=False)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "tier", "credit_balance", "is_staff", "is_active", "date_joined")
    list_filter = ("tier", "is_staff", "is_active")
    search_fields = ("username", "email")
    readonly_fields = ("credit_balance",)
    fieldsets = BaseUserAdmin.fieldsets + (("Canvasflow", {"fields": ("tier", "credit_balance")}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + (("Canvasflow", {"fields": ("email", "tier")}),)

    # Deleting a user closes the account (accounts.services.delete_account): the ledger is append-only, so
    # the row stays anonymised instead of cascading into credit transactions nobody may delete.
    def get_deleted_objects(self, objs, request):
        described = [
            f"{user} — account closed: keys revoked, pipelines, runs, files and shaders removed, "
            "ledger kept anonymously"
            for user in objs
        ]
        return described, {"users": len(described)}, set(), []

    def delete_model(self, request, obj):
        services.delete_account(obj)

    def delete_queryset(self, request, queryset):
        for user in queryset:
            services.delete_account(user)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "name",
        "user",
        "kind",
        "trust_tier",
        "scopes",
        "rate_limit_per_hour",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("kind", "trust_tier", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("prefix", "name", "user__username", "user__email")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at", "revoked_at", "user", "kind")
    actions = ["revoke"]

    def has_add_permission(self, request):  # keys are created by their owner, shown once
        return False

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            keys.revoke_api_key(key)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


@admin.register(ProviderKey)
class ProviderKeyAdmin(admin.ModelAdmin):
    list_display = ("user", "provider", "created_at", "updated_at")
    list_filter = ("provider",)
    search_fields = ("user__username", "provider")
    exclude = ("encrypted_key",)  # never shown, not even to admins
    readonly_fields = ("user", "provider", "created_at", "updated_at")

    def has_add_permission(self, request):
        return False


class CreditGrantForm(forms.ModelForm):
    class Meta:
        model = CreditTransaction
        fields = ("user", "amount", "note")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError("Grant a positive number of credits.")
        return amount


@admin.register(CreditTransaction)
class CreditTransactionAdmin(admin.ModelAdmin):
    """The ledger is append-only: admins add grants (through the ledger service) and read the rest."""

    list_display = ("created_at", "user", "kind", "amount", "balance_after", "reference", "note")
    list_filter = ("kind",)
    search_fields = ("user__username", "reference", "note")
    date_hierarchy = "created_at"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = CreditGrantForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return [f.name for f in CreditTransaction._meta.fields]
        return []

    def save_model(self, request, obj, form, change):
        if change:
            return
        txn = credits.grant(
            form.cleaned_data["user"],
            form.cleaned_data["amount"],
            note=form.cleaned_data.get("note") or f"granted by {request.user}",
        )
        obj.pk = txn.pk
        obj.kind = TransactionKind.GRANT

    def has_delete_permission(self, request, obj=None):
        return False
