"""Pieces shared by the inference protocols (HF and OpenAI): JSON bodies, CSRF for browser sessions, SSE, and the
first-event peek that lets a stream that fails at once still answer with a status code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware

from hub.core.errors import Forbidden, HubError, Invalid


class Malformed(Invalid):
    code = "malformed"


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object, or Malformed (400)."""
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise Malformed("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Malformed("The request body must be a JSON object.")
    return body


def check_csrf(request: HttpRequest) -> None:
    """Views taking bearer tokens are csrf_exempt; a browser session (the playground) still needs the CSRF token."""
    if getattr(request, "api_token", None) is not None or not request.user.is_authenticated:
        return
    rejected = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, None, (), {})
    if rejected is not None:
        raise Forbidden("CSRF verification failed; send the X-CSRFToken header.", code="csrf_failed")


def sse(chunks: Iterator[dict | str]) -> StreamingHttpResponse:
    """Server-sent events: `data: {json}` per chunk ("[DONE]" passes as is)."""

    def encode() -> Iterator[bytes]:
        for chunk in chunks:
            data = chunk if isinstance(chunk, str) else json.dumps(chunk, separators=(",", ":"))
            yield f"data: {data}\n\n".encode()

    response = StreamingHttpResponse(encode(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def peek(events: Iterator[dict], error: Callable[[str, str], HubError]) -> Iterator[dict]:
    """Read the first event now: an error there is raised (to become a 4xx/5xx); otherwise replay it first."""
    try:
        first = next(events)
    except StopIteration:
        return iter(())
    if first.get("type") == "error":
        events.close()
        raise error(str(first.get("message") or "Inference failed."), str(first.get("code") or ""))

    def chain() -> Iterator[dict]:
        try:
            yield first
            yield from events
        finally:
            events.close()

    return chain()


def stream_error(message: str, code: str) -> HubError:
    """An error event before any token: a bad input (the worker raised ValueError) or a failure."""
    from hub.endpoints.dispatch import InferenceFailed, Timeout
    from hub.endpoints.services import Unavailable

    if code == "timeout" or message.startswith("no answer from the model within"):
        return Timeout(message, code="timeout")
    if code == "worker_lost":
        return Unavailable(message, code="worker_lost")
    lowered = message.lower()
    if code in ("invalid_input", "invalid") or lowered.startswith(("valueerror", "invalid", "bad ")):
        return Invalid(message, code="invalid_input")
    return InferenceFailed(message, code="inference_error")
