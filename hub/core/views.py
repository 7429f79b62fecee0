"""Health checks and the JSON error pages."""

from __future__ import annotations

from celery.exceptions import TimeoutError as CeleryTimeout
from django.db import connection
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.celery import app as celery_app
from hub.core.api import json_error
from hub.core.permissions import IsAuthenticated


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


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(404, "Not found.", "not_found")


def server_error(request: HttpRequest) -> JsonResponse:
    return json_error(500, "Internal server error.", "server_error")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(400, "Bad request.", "bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(403, "Permission denied.", "forbidden")
