"""JSON error format shared by the native API and the plain JSON views: {"error": message, "code": code}."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from hub.core.errors import HubError

log = logging.getLogger(__name__)


def error_payload(message: str, code: str, **extra: object) -> dict:
    return {"error": message, "code": code, **extra}


def json_error(status: int, message: str, code: str, **extra: object) -> JsonResponse:
    return JsonResponse(error_payload(message, code, **extra), status=status)


def _drf_message(detail: object) -> str:
    if isinstance(detail, dict):
        parts = []
        for key, value in detail.items():
            text = _drf_message(value)
            parts.append(text if key == "non_field_errors" else f"{key}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(_drf_message(item) for item in detail)
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: every error is JSON with a message, a code and the right status."""
    if isinstance(exc, HubError):
        return Response(error_payload(exc.message, exc.code, **exc.extra), status=exc.status)
    if isinstance(exc, Http404):
        return Response(error_payload(str(exc) or "Not found.", "not_found"), status=404)
    if isinstance(exc, PermissionDenied):
        return Response(error_payload(str(exc) or "Permission denied.", "forbidden"), status=403)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_payload("Request body too large.", "too_large"), status=413)
    if isinstance(exc, drf.APIException):
        code = {
            drf.ParseError: "malformed",
            drf.NotAuthenticated: "unauthenticated",
            drf.AuthenticationFailed: "unauthenticated",
            drf.ValidationError: "invalid",
            drf.MethodNotAllowed: "method_not_allowed",
            drf.UnsupportedMediaType: "unsupported_media_type",
            drf.Throttled: "rate_limited",
        }.get(type(exc), exc.default_code if isinstance(exc.default_code, str) else "error")
        if isinstance(exc, drf.NotFound):
            code = "not_found"
        elif isinstance(exc, drf.PermissionDenied):
            code = "forbidden"
        response = Response(error_payload(_drf_message(exc.detail), code), status=exc.status_code)
        if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
            response.status_code = 401
            response["WWW-Authenticate"] = 'Bearer realm="hub"'
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
        return response
    return None
