"""The studio API's pipeline routes (under /api/v1/studio/); its run and session-key routes are the surface's
own (runs.api.studio), mounted beside these by config.urls: publishing knows no API surface and no run."""

from django.urls import path

from pipelines import views

urlpatterns = [
    path("node-types", views.NodeTypesView.as_view(), name="studio-node-types"),
    path("pipelines", views.PipelineListView.as_view(), name="studio-pipelines"),
    path("pipelines/<int:pipeline_id>", views.PipelineDetailView.as_view(), name="studio-pipeline"),
    path("pipelines/<int:pipeline_id>/validate", views.ValidateView.as_view(), name="studio-validate"),
    path("pipelines/<int:pipeline_id>/duplicate", views.DuplicateView.as_view(), name="studio-duplicate"),
    path("pipelines/<int:pipeline_id>/publish", views.PublishView.as_view(), name="studio-publish"),
    path("pipelines/<int:pipeline_id>/rotate-key", views.RotateKeyView.as_view(), name="studio-rotate-key"),
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
    path(
        "pipelines/<int:pipeline_id>/versions/<int:number>/diff/<int:other>",
        views.VersionDiffView.as_view(),
        name="studio-version-diff",
    ),
    path(
        "pipelines/<int:pipeline_id>/versions/<int:number>/rollback",
        views.VersionRollbackView.as_view(),
        name="studio-version-rollback",
    ),
]
