"""Load the demo data: a demo user (password printed once) with credits, plus each app's demo content."""

from __future__ import annotations

import importlib
import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import credits
from accounts.models import Tier, User

DEMO_USERNAME = "demo"
DEMO_CREDITS = 1000
# Apps that add their own demo content: each module exposes seed(user, stdout).
DEMO_SEEDERS = ["runs.demo", "pipelines.demo", "shaders.demo"]


class Command(BaseCommand):
    help = "Create the demo user and demo content (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            user = User.objects.filter(username=DEMO_USERNAME).first()
            if user is None:
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(
                    DEMO_USERNAME, "demo@canvasflow.local", password, tier=Tier.PRO
                )
                credits.grant(user, DEMO_CREDITS, note="demo credits")
                self.stdout.write(
                    self.style.SUCCESS(
                        f"Demo user created: username '{DEMO_USERNAME}', password '{password}' (shown once)"
                    )
                )
            else:
                self.stdout.write(
                    f"Demo user '{DEMO_USERNAME}' already exists (its password was shown when created)."
                )
        for module_name in DEMO_SEEDERS:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                continue
            module.seed(user, self.stdout)
