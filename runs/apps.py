from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from runs import events, receivers, recovery  # noqa: F401  (receivers: account_closing receivers)

        # A follower that sees its run's heartbeat stop recovers the run (runs.events cannot import recovery).
        events.on_stale_run(recovery.recover_run)
