"""Accounts: users with a tier and a credit balance, API keys, BYOK provider keys, the credit ledger."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class Tier(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    ULTIMATE = "ultimate", "Ultimate"


class User(AbstractUser):
    email = models.EmailField(unique=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.FREE)
    # Kept in step with the ledger by accounts.credits only; never edited directly.
    credit_balance = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(credit_balance__gte=0), name="credit_balance_non_negative")
        ]

    @property
    def is_pro(self) -> bool:
        return self.tier in (Tier.PRO, Tier.ULTIMATE)


class ApiKeyKind(models.TextChoices):
    FRACTAFRAG = "fractafrag", "fractafrag / MCP (ff_key_)"
    QUEUE = "queue", "Queue API (fiz_)"


class TrustTier(models.TextChoices):
    PROBATION = "probation", "Probation"
    TRUSTED = "trusted", "Trusted"
    PREMIUM = "premium", "Premium"


class ApiKey(models.Model):
    """An API key. Only a SHA-256 of the secret is stored; the full key is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    kind = models.CharField(max_length=16, choices=ApiKeyKind.choices, default=ApiKeyKind.FRACTAFRAG)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=24, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    trust_tier = models.CharField(max_length=16, choices=TrustTier.choices, default=TrustTier.PROBATION)
    rate_limit_per_hour = models.PositiveIntegerField(default=1000)
    scopes = models.JSONField(
        default=list, blank=True, help_text="What the key may do (accounts.scopes.Scope); never account changes"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ProviderKey(models.Model):
    """A bring-your-own-key secret for an AI provider, encrypted at rest (Fernet)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="provider_keys")
    provider = models.CharField(max_length=40)
    encrypted_key = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "provider"], name="one_key_per_provider")]
        verbose_name = "provider key (BYOK)"

    def __str__(self) -> str:
        return f"{self.user} / {self.provider}"


class TransactionKind(models.TextChoices):
    GRANT = "grant", "Grant"
    RESERVE = "reserve", "Reserve"
    SETTLE = "settle", "Settle"
    REFUND = "refund", "Refund"


class CreditTransaction(models.Model):
    """Append-only credit ledger. ``amount`` is signed: negative takes credits, positive gives them."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="credit_transactions")
    kind = models.CharField(max_length=16, choices=TransactionKind.choices)
    amount = models.IntegerField()
    balance_after = models.PositiveIntegerField()
    reference = models.CharField(max_length=64, blank=True, db_index=True, help_text="e.g. the run id")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} → {self.balance_after}"
