"""fractafrag shader community endpoints (seed 004), mounted under /api/v1/."""

urlpatterns: list = []
