"""URLconf for bench/platform.py: the project's URLs plus a bare DRF view as the baseline."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urls


class BareView(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def post(self, request):
        return Response(
            {
                "success": True,
                "outputs": {"echo": request.data["inputs"]["command"]},
                "executionMs": 0,
                "jobId": "run_00000000000000000000",
            }
        )


urlpatterns = [path("bench/bare", BareView.as_view()), *project_urls]
