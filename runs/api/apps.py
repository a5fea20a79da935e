from django.apps import AppConfig


class SurfacesConfig(AppConfig):
    """The public API surfaces (FractalQ, Fluxara, Fizzly with its fal and Replicate compatibility modes,
    Sartiq, studio) as an app of their own, so that every process — web and queue worker alike — has them
    registered with the engine before any run ends."""

    name = "runs.api"
    label = "surfaces"

    def ready(self) -> None:
        from runs import webhooks
        from runs.api import fal_compat, fizzly, fractalq, replicate_compat
        from runs.models import Surface, WebhookKind

        webhooks.register_payload(Surface.FRACTALQ, WebhookKind.FRACTALQ, fractalq.callback_payload)
        webhooks.register_payload(Surface.FIZZLY, WebhookKind.FIZZLY, fizzly.webhook_payload)
        webhooks.register_payload(Surface.FAL, WebhookKind.FAL, fal_compat.webhook_payload)
        webhooks.register_payload(Surface.REPLICATE, WebhookKind.REPLICATE, replicate_compat.webhook_payload)
        from runs.api.sartiq import events as sartiq_events

        webhooks.register_payload(Surface.SARTIQ, WebhookKind.SARTIQ, sartiq_events.payload)
        webhooks.register_node_payload(Surface.SARTIQ, sartiq_events.step_payload)

        from pipelines.views import PIPELINE_LIST_ANNOTATIONS
        from runs.api.studio import annotate_last_run

        PIPELINE_LIST_ANNOTATIONS.append(annotate_last_run)
