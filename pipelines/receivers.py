"""What closing an account means for its pipelines (accounts.signals.account_closing)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.utils import timezone

from accounts.signals import account_closing
from pipelines.models import SessionKey


@receiver(account_closing, dispatch_uid="pipelines.close_account")
def close_account(sender: Any, user: Any, **kwargs: Any) -> None:
    """Nobody can call the user's pipelines any more: session keys revoked, nothing listed publicly."""
    SessionKey.objects.filter(pipeline__owner=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    user.pipelines.update(is_public=False)
