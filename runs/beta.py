"""The Fluxara closed beta: API access for approved accounts only (seed 001: "API access is currently limited
to approved beta environments").

An account is approved by membership of the ``Fluxara beta`` group, which an admin grants in Django admin (the
user's Groups). Staff and superusers are approved. Accounts that existed before the gate were approved by the
migration that introduced it, and ``seed_demo`` approves the demo user (runs.demo), so nobody was locked out by it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

BETA_GROUP = "Fluxara beta"


def is_approved(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_staff or user.is_superuser:
        return True
    return user.groups.filter(name=BETA_GROUP).exists()


def approve(user: Any) -> None:
    group, _ = Group.objects.get_or_create(name=BETA_GROUP)
    user.groups.add(group)
