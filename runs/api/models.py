"""Models of the surfaces app: the Sartiq task record (runs.api.sartiq.models)."""

from runs.api.sartiq.models import SartiqTask

__all__ = ["SartiqTask"]
