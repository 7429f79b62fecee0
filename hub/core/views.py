"""Health checks and the error pages: JSON for the APIs and protocol clients, HTML for browsers on web pages."""

from __future__ import annotations

import logging
import sys

from celery.exceptions import TimeoutError as CeleryTimeout
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.template import loader
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.celery import app as celery_app
from hub.core.api import json_error
from hub.core.permissions import IsAuthenticated

log = logging.getLogger(__name__)


class HealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(summary="Liveness and database check", responses={200: dict})
    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response({"status": "ok", "database": connection.vendor})


class WorkerHealthView(APIView):
    """Round trip through the broker to a worker and back, within a timeout."""

    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Run the health task on a worker", request=None, responses={200: dict, 503: dict})
    def post(self, request):
        timeout = min(float(request.query_params.get("timeout", 10) or 10), 60.0)
        result = celery_app.send_task("workers.health.ping", args=["ping"], queue="cpu")
        try:
            reply = result.get(timeout=timeout)
        except CeleryTimeout:
            result.revoke()
            return Response({"error": "No worker answered in time.", "code": "no_worker"}, status=503)
        return Response({"status": "ok", "task_id": result.id, "reply": reply})


def _wants_html(request: HttpRequest) -> bool:
    """Browsers on web pages get an HTML error page; the APIs and the HF/OpenAI protocol clients get JSON."""
    path = request.path
    if path.startswith(("/api/", "/v1/", "/xet/")) or "/resolve/" in path or ".git/" in path:
        return False
    return "text/html" in request.META.get("HTTP_ACCEPT", "")


def _html_error(request: HttpRequest | None, status: int, message: str) -> HttpResponse:
    context = {"status": status, "message": message}
    return HttpResponse(loader.render_to_string("catalog/error.html", context, request), status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_html(request):
        return _html_error(request, 404, "This page does not exist, or you do not have access to it.")
    return json_error(404, "Not found.", "not_found")


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its `except` block. A lost or refused database connection (restart, failover, a
    # terminated backend, no free connection slot) is transient, and the transaction it cut short was rolled back:
    # 503 asks the client to retry.
    if isinstance(sys.exc_info()[1], DatabaseOperationalError | DatabaseInterfaceError):
        status, code = 503, "database_unavailable"
        message = "The database is unavailable (connection lost or refused); retry shortly."
    else:
        status, message, code = 500, "Internal server error.", "server_error"
    response = None
    if _wants_html(request):
        try:  # without the request: the context processors may be what failed
            page = message if status == 503 else "Something went wrong on our side. Please try again."
            response = _html_error(None, status, page)
        except Exception:
            log.exception("the HTML error page failed to render")
    response = response or json_error(status, message, code)
    if status == 503:
        response["Retry-After"] = "5"
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_html(request):
        return _html_error(None, 400, "Bad request.")
    return json_error(400, "Bad request.", "bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_html(request):
        return _html_error(request, 403, str(exception or "") or "You do not have permission to see this page.")
    return json_error(403, "Permission denied.", "forbidden")
