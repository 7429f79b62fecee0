"""Security middleware: response headers, credential guards and brute-force rate limits.

SecurityHeadersMiddleware (placed right after Django's SecurityMiddleware, so it sees every response):
  - pages get a Content-Security-Policy that allows only the hub's own scripts, styles, images and forms;
  - everything else (API JSON, and above all raw user files from /resolve/ and /files/, which may be HTML or SVG)
    gets `default-src 'none'; sandbox`: a browser opening an uploaded .html file runs nothing, in no origin.

RequestGuardMiddleware (placed after the bearer-token middleware):
  - a read token never writes: an unsafe request made with one to a form view (a view that relies on CSRF,
    which bearer tokens bypass) is refused; API views check token roles themselves;
  - a browser session never writes through a CSRF-exempt protocol view (HF, LFS, Xet; made exempt for bearer-token
    clients) without the CSRF token, so a forged cross-site form cannot act with the victim's session;
  - sign-in, sign-up and token creation are rate limited per client (and per username for sign-in);
  - input nested too deeply for the parsers (RecursionError) answers 400, whichever view parsed it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.template import loader

from hub.core.api import json_error
from hub.core.ratelimit import RateLimited, check, parse_rate

PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# The Swagger UI page keeps drf-spectacular's small inline <style>; its script is served as a file.
DOCS_CSP = PAGE_CSP.replace("default-src 'self'", "default-src 'self'; style-src 'self' 'unsafe-inline'")
CONTENT_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def content_security_policy(request: HttpRequest, response: HttpResponse) -> str:
    content_type = response.get("Content-Type", "")
    user_file = response.has_header("Content-Disposition") or response.has_header("X-Repo-Commit")
    if not content_type.startswith("text/html") or user_file:
        return CONTENT_CSP
    if request.path.startswith("/api/docs/"):
        return DOCS_CSP
    return PAGE_CSP


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.has_header("Content-Security-Policy"):
            response["Content-Security-Policy"] = content_security_policy(request, response)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.setdefault("X-Content-Type-Options", "nosniff")
        response.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY or "same-origin")
        return response


def _csrf_checked_view(request: HttpRequest) -> None:  # a stand-in view that is not CSRF-exempt
    return None


def _is_drf_view(view_func: Callable) -> bool:
    """DRF views enforce CSRF for sessions and token roles for writes themselves."""
    from rest_framework.views import APIView

    cls = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    return isinstance(cls, type) and issubclass(cls, APIView)


def _client_ip(request: HttpRequest) -> str:
    if getattr(settings, "USE_X_FORWARDED_HOST", False):  # behind the trusted proxy (HUB_BEHIND_PROXY)
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


def _rate_limit_keys(request: HttpRequest, view_func: Callable) -> list[tuple[str, str]]:
    """(key, rate) pairs for the brute-force limited actions; empty for everything else."""
    from hub.accounts.api.views import TokenListView

    ip = _client_ip(request)
    match = getattr(request, "resolver_match", None)
    name = match.url_name if match else None
    if name == "login":
        username = str(request.POST.get("username", ""))[:150].lower()
        return [(f"login:ip:{ip}", settings.HUB_RATE_LOGIN_IP), (f"login:user:{username}", settings.HUB_RATE_LOGIN)]
    if name == "signup":
        return [(f"signup:ip:{ip}", settings.HUB_RATE_SIGNUP)]
    if name == "tokens" or getattr(view_func, "cls", None) is TokenListView:
        who = request.user.pk if request.user.is_authenticated else ip
        return [(f"tokens:{who}", settings.HUB_RATE_TOKENS)]
    return []


def rate_limited_response(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    from hub.core.views import _wants_html

    if _wants_html(request):
        context = {"status": 429, "message": exc.message}
        response = HttpResponse(loader.render_to_string("catalog/error.html", context, request), status=429)
    else:
        response = json_error(429, exc.message, exc.code, retry_after=exc.retry_after)
    response["Retry-After"] = str(exc.retry_after)
    return response


class RequestGuardMiddleware:
    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable, args: tuple, kwargs: dict) -> HttpResponse | None:
        if request.method not in UNSAFE_METHODS:
            return None
        token = getattr(request, "api_token", None)
        exempt = getattr(view_func, "csrf_exempt", False)
        if token is not None and token.role == "read" and not exempt:
            return json_error(403, "This token is read-only; use a write token to make changes.", "read_only_token")
        if (
            exempt
            and token is None
            and not request.META.get("HTTP_AUTHORIZATION")
            and request.user.is_authenticated
            and not _is_drf_view(view_func)
        ):
            refused = CsrfViewMiddleware(lambda r: None).process_view(request, _csrf_checked_view, (), {})
            if refused is not None:
                return json_error(
                    403,
                    "A browser session cannot make this request without the CSRF token; use a bearer token.",
                    "csrf_failed",
                )
        for key, rate in _rate_limit_keys(request, view_func):
            try:
                check(key, *parse_rate(rate))
            except RateLimited as exc:
                return rate_limited_response(request, exc)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # JSON nested thousands deep makes every JSON parser (DRF's, the HF and OpenAI views') recurse past
        # Python's limit; whichever view parsed it, that is the client's input, not a server fault.
        if isinstance(exception, RecursionError):
            return json_error(400, "The request body is nested too deeply.", "too_deep")
        return None
