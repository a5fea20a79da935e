"""fractafrag shader community endpoints (seed 004), mounted under /api/v1/.

Path ids are taken as strings and parsed by the services, so a malformed UUID is the seed's
``{"detail": "Shader not found"}`` rather than a bare router 404.
"""

from django.urls import path

from shaders import views

urlpatterns = [
    path("shaders", views.ShaderListView.as_view(), name="shader-list"),
    path("shaders/mine", views.MyShadersView.as_view(), name="shader-mine"),
    path("shaders/<str:shader_id>", views.ShaderDetailView.as_view(), name="shader-detail"),
    path("shaders/<str:shader_id>/versions", views.ShaderVersionListView.as_view(), name="shader-versions"),
    path(
        "shaders/<str:shader_id>/versions/<int:version_number>",
        views.ShaderVersionDetailView.as_view(),
        name="shader-version",
    ),
    path(
        "shaders/<str:shader_id>/versions/<int:version_number>/restore",
        views.ShaderRestoreView.as_view(),
        name="shader-version-restore",
    ),
    path("shaders/<str:shader_id>/fork", views.ShaderForkView.as_view(), name="shader-fork"),
    path("shaders/<str:shader_id>/vote", views.VoteView.as_view(), name="shader-vote"),
    path("shaders/<str:shader_id>/replay", views.ReplayView.as_view(), name="shader-replay"),
    path("feed", views.FeedView.as_view(), name="feed"),
    path("feed/trending", views.TrendingFeedView.as_view(), name="feed-trending"),
    path("feed/new", views.NewFeedView.as_view(), name="feed-new"),
    path("feed/similar/<str:shader_id>", views.SimilarFeedView.as_view(), name="feed-similar"),
    path("feed/dwell", views.DwellView.as_view(), name="feed-dwell"),
    path("desires", views.DesireListView.as_view(), name="desire-list"),
    path("desires/<str:desire_id>", views.DesireDetailView.as_view(), name="desire-detail"),
    path("desires/<str:desire_id>/fulfill", views.DesireFulfillView.as_view(), name="desire-fulfill"),
    path("desires/<str:desire_id>/tip", views.DesireTipView.as_view(), name="desire-tip"),
    path("generate", views.GenerateView.as_view(), name="generate"),
    path("generate/status/<str:job_id>", views.GenerateStatusView.as_view(), name="generate-status"),
    path("generate/credits", views.GenerateCreditsView.as_view(), name="generate-credits"),
    path("payments/checkout", views.PaymentsPostStub.as_view(), name="payments-checkout"),
    path("payments/webhook", views.PaymentsPostStub.as_view(), name="payments-webhook"),
    path("payments/portal", views.PaymentsGetStub.as_view(), name="payments-portal"),
    path("payments/credits", views.PaymentsPostStub.as_view(), name="payments-credits"),
    path("payments/connect/onboard", views.PaymentsPostStub.as_view(), name="payments-connect-onboard"),
]
