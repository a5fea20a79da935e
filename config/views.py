from django.contrib.staticfiles.storage import staticfiles_storage
from django.db import connection
from django.http import HttpResponsePermanentRedirect, JsonResponse


def health(request):
    """Liveness and database check (open to everyone)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def favicon(request):
    """Browsers ask for /favicon.ico on pages that name no icon (a JSON answer, the admin): ours."""
    return HttpResponsePermanentRedirect(staticfiles_storage.url("favicon.svg"))


def _wants_json(request) -> bool:
    path = request.path
    return path.startswith(("/api/", "/workflows/", "/mcp")) or "application/json" in request.headers.get(
        "Accept", ""
    )


def not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"detail": "Not found"}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    if _wants_json(request):
        return JsonResponse({"detail": "Internal server error"}, status=500)
    from django.views.defaults import server_error as default

    return default(request)


def bad_request(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"detail": "Bad request"}, status=400)
    from django.views.defaults import bad_request as default

    return default(request, exception)
