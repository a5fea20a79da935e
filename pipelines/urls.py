from django.urls import path

from pipelines import key_settings, views
from runs.api import studio

urlpatterns = [
    path("node-types", views.NodeTypesView.as_view(), name="studio-node-types"),
    path("pipelines", views.PipelineListView.as_view(), name="studio-pipelines"),
    path("pipelines/<int:pipeline_id>", views.PipelineDetailView.as_view(), name="studio-pipeline"),
    path("pipelines/<int:pipeline_id>/validate", views.ValidateView.as_view(), name="studio-validate"),
    path("pipelines/<int:pipeline_id>/duplicate", views.DuplicateView.as_view(), name="studio-duplicate"),
    path("pipelines/<int:pipeline_id>/publish", views.PublishView.as_view(), name="studio-publish"),
    path("pipelines/<int:pipeline_id>/rotate-key", views.RotateKeyView.as_view(), name="studio-rotate-key"),
    path(
        "pipelines/<int:pipeline_id>/session-key",
        key_settings.SessionKeySettingsView.as_view(),
        name="studio-session-key",
    ),
    path("pipelines/<int:pipeline_id>/versions", views.VersionListView.as_view(), name="studio-versions"),
    path(
        "pipelines/<int:pipeline_id>/versions/<int:number>",
        views.VersionDetailView.as_view(),
        name="studio-version",
    ),
    path(
        "pipelines/<int:pipeline_id>/versions/<int:number>/restore",
        views.VersionRestoreView.as_view(),
        name="studio-version-restore",
    ),
    path("pipelines/<int:pipeline_id>/runs", studio.PipelineRunsView.as_view(), name="studio-pipeline-runs"),
    path(
        "pipelines/<int:pipeline_id>/usage", studio.PipelineUsageView.as_view(), name="studio-pipeline-usage"
    ),
    path("runs/<str:run_id>", studio.RunDetailView.as_view(), name="studio-run"),
    path("runs/<str:run_id>/cancel", studio.RunCancelView.as_view(), name="studio-run-cancel"),
    path("uploads", studio.UploadView.as_view(), name="studio-uploads"),
]
