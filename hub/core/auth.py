"""Bearer tokens on every route (HF protocol, native API, OpenAI routes); sessions on web pages.

The middleware authenticates `Authorization: Bearer <token>` once per request for every view, Django or DRF.
A token that is unknown or revoked gets 401 at once rather than silently falling back to anonymous,
so a client with a stale token learns about it instead of seeing public data only.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from rest_framework.authentication import BaseAuthentication

from hub.accounts.models import TokenRole
from hub.accounts.services import authenticate_token
from hub.core import stamp
from hub.core.api import json_error


def bearer_from_header(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


class BearerTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with stamp.request_scope():
            return self._handle(request)

    def _handle(self, request: HttpRequest) -> HttpResponse:
        request.api_token = None
        plaintext = bearer_from_header(request)
        # Xet access tokens ("xet_…", issued by hub.xet) are checked by the Xet CAS views themselves.
        if plaintext is not None and not plaintext.startswith("xet_"):
            token = authenticate_token(plaintext)
            if token is None:
                response = json_error(401, "Invalid or revoked token in the Authorization header.", "invalid_token")
                response["WWW-Authenticate"] = 'Bearer realm="hub", error="invalid_token"'
                response["X-Error-Code"] = "InvalidCredentials"
                response["X-Error-Message"] = "Invalid credentials in Authorization header"
                return response
            request.user = token.user
            request.api_token = token
            # A bearer token is not sent automatically by a browser, so CSRF does not apply to it.
            request._dont_enforce_csrf_checks = True
        return self.get_response(request)


class BearerTokenAuthentication(BaseAuthentication):
    """DRF's view of what the middleware established."""

    def authenticate(self, request):
        token = getattr(request._request, "api_token", None)
        if token is None:
            return None
        return (token.user, token)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="hub"'


def token_role(request: HttpRequest) -> str:
    """What the credentials allow: a read token only reads; a write token or a session may write."""
    token = getattr(request, "api_token", None)
    if token is None and hasattr(request, "_request"):
        token = getattr(request._request, "api_token", None)
    return token.role if token is not None else TokenRole.WRITE
