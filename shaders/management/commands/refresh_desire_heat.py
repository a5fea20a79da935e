"""Re-decay the heat of open desires; schedule it daily (django-q2 ``Schedule``) or run it from cron."""

from django.core.management.base import BaseCommand

from shaders import desires, engagement


class Command(BaseCommand):
    help = "Refresh desire heat scores (recency decays) and prune engagement events older than 180 days."

    def add_arguments(self, parser):
        parser.add_argument("--keep-events-days", type=int, default=180)

    def handle(self, *args, **options):
        refreshed = desires.refresh_heat()
        pruned = engagement.prune_events(options["keep_events_days"])
        self.stdout.write(
            f"Heat refreshed for {refreshed} desire(s); {pruned} old engagement event(s) pruned."
        )
