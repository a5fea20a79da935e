"""What closing an account means for runs (accounts.signals.account_closing)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.dispatch import receiver

from accounts.signals import account_closing
from config import media
from config.errors import CanvasflowError
from pipelines.models import Pipeline
from runs import services
from runs.models import TERMINAL, Artifact, Run


@receiver(account_closing, dispatch_uid="runs.close_account")
def close_account(sender: Any, user: Any, **kwargs: Any) -> None:
    """Stop and remove the user's runs and files, and the pipelines nobody else has used.

    In-flight runs are cancelled first so every reservation is settled or refunded (the user's own and
    other users' runs of the user's pipelines alike). Other users' runs of the user's pipelines are theirs:
    those pipelines are kept (unpublished by the pipelines app) so the consumers keep their records."""
    live = Run.objects.filter(Q(billed_to=user) | Q(pipeline__owner=user)).exclude(status__in=TERMINAL)
    for run in live:
        try:
            services.cancel_run(run)
        except CanvasflowError:  # finished meanwhile
            pass
    artifacts = Artifact.objects.filter(owner=user)
    media.delete_on_commit([name for name in artifacts.values_list("file", flat=True) if name])
    artifacts.delete()
    Run.objects.filter(billed_to=user).delete()
    Pipeline.objects.filter(owner=user).exclude(runs__isnull=False).delete()
