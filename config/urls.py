from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import media, views

urlpatterns = [
    path("health", views.health, name="health"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/v1/studio/", include("pipelines.urls")),
    path("api/v1/studio/", include("runs.api.studio")),
    path("", include("runs.api.fractalq")),
    path("", include("runs.api.fluxara")),
    path("", include("runs.api.fizzly")),
    path("", include("runs.api.fal_compat")),
    path("", include("runs.api.replicate_compat")),
    path("", include("runs.api.sartiq.urls")),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("shaders.urls")),
    path("", include("shaders.page_urls")),
    path("", include("pipelines.page_urls")),
]

if not settings.STORAGE_BUCKET:
    # Local media files in the embedded default, for a valid signature only (S3 presigns its own).
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", media.serve, name="media")]

handler404 = "config.views.not_found"
handler500 = "config.views.server_error"
handler400 = "config.views.bad_request"
