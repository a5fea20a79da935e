"""Signals the account layer sends to the apps above it (accounts imports none of them).

``account_closing(sender=User, user=...)`` is sent inside the deletion's transaction, before the user row is
anonymised: each app stops the user's work and removes the user's data in its own receiver.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save, pre_save
from django.dispatch import Signal, receiver

from accounts.models import User

account_closing = Signal()


@receiver(pre_save, sender=User, dispatch_uid="accounts.remember_is_active")
def _remember_is_active(sender: Any, instance: User, update_fields: Any = None, **kwargs: Any) -> None:
    if update_fields is not None and "is_active" not in update_fields:
        # e.g. last_login on every sign-in: no read for a save that cannot disable the user
        instance._was_active = None  # type: ignore[attr-defined]
        return
    instance._was_active = (  # type: ignore[attr-defined]
        User.objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()
        if instance.pk
        else None
    )


@receiver(post_save, sender=User, dispatch_uid="accounts.revoke_on_disable")
def _revoke_on_disable(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    """Disabling a user (admin, shell, anywhere) revokes every refresh token at once."""
    if not created and getattr(instance, "_was_active", None) and not instance.is_active:
        from accounts.services import revoke_sessions

        revoke_sessions(instance)
