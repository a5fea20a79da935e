"""Routes of the browser pages (mounted at the site root by config/urls.py)."""

from django.urls import path

from pipelines import pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("login/", pages.login, name="login"),
    path("signup/", pages.signup, name="signup"),
    path("logout/", pages.logout, name="logout"),
    path("account/", pages.account, name="account"),
    path("studio/", pages.dashboard, name="studio"),
    path("studio/queue/", pages.queue, name="studio-queue"),
    path("studio/<int:pipeline_id>/", pages.canvas, name="studio-canvas"),
    path("studio/<int:pipeline_id>/runs/", pages.runs, name="studio-runs"),
    path("studio/workflows/<uuid:workflow_id>/", pages.workflow, name="studio-workflow"),
]
