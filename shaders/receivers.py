"""What closing an account means for the shader community (accounts.signals.account_closing)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from accounts.signals import account_closing
from shaders import engagement, services
from shaders.models import Shader


@receiver(account_closing, dispatch_uid="shaders.close_account")
def close_account(sender: Any, user: Any, **kwargs: Any) -> None:
    """The user's shaders (with their files), desires and votes go; scores of others' shaders follow."""
    for shader in Shader.objects.filter(owner=user):
        services.delete_files(shader)
        shader.delete()
    voted = list(user.shader_votes.values_list("shader_id", flat=True))
    user.shader_votes.all().delete()
    for shader_id in voted:
        engagement.recalculate_score(shader_id)
    user.shader_events.all().delete()
    user.desires.all().delete()
