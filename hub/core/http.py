"""HTTP helpers shared by every protocol: ranged file responses and pagination links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import urlencode

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
BLOCK = 1024 * 1024


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """(start, end inclusive) for a single satisfiable range; None to serve the whole file; 'invalid' for 416."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multiple or unknown ranges: RFC 9110 lets us ignore Range and send 200
    first, last = match.groups()
    if first == "" and last == "":
        return "invalid"
    if first == "":
        length = int(last)
        if length == 0:
            return "invalid"
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return "invalid"
    return start, min(end, size - 1)


def _has_fileno(f: BinaryIO) -> bool:
    try:
        f.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _iter_file(f: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        f.seek(start)
        remaining = length
        while remaining > 0:
            chunk = f.read(min(BLOCK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        f.close()


def file_response(
    request: HttpRequest,
    opener,
    size: int,
    *,
    content_type: str = "application/octet-stream",
    filename: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """Serve a file with Range support. `opener()` returns a fresh binary file object (opened only for GET)."""
    byte_range = parse_range(request.META.get("HTTP_RANGE"), size)
    extra = dict(headers or {})
    extra["Accept-Ranges"] = "bytes"
    if filename:
        safe = filename.replace('"', "").replace("\\", "")
        extra["Content-Disposition"] = f'inline; filename="{safe}"'
    if byte_range == "invalid":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        for k, v in extra.items():
            response[k] = v
        return response
    start, end = byte_range if byte_range else (0, size - 1)
    length = max(end - start + 1, 0)
    status = 206 if byte_range else 200
    if request.method == "HEAD" or length == 0:
        response = HttpResponse(status=status, content_type=content_type)
    else:
        f = opener()
        if not byte_range and _has_fileno(f):
            # A whole local file: the WSGI server's file wrapper can hand it to sendfile(2).
            response = FileResponse(f, content_type=content_type)
        else:
            response = StreamingHttpResponse(_iter_file(f, start, length), status=status, content_type=content_type)
    response["Content-Length"] = str(length)
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    for k, v in extra.items():
        response[k] = v
    return response


def page_link(request: HttpRequest, **params: object) -> str:
    query = request.GET.copy()
    for key, value in params.items():
        query[key] = str(value)
    return request.build_absolute_uri(request.path + "?" + urlencode(query, doseq=True))


def int_param(value, default: int, *, name: str, low: int = 0, high: int = 10**12) -> int:
    """An integer query parameter within [low, high]; 400 (Invalid) with the parameter's name otherwise."""
    from hub.core.errors import Invalid

    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"{name} must be an integer.", code="invalid") from None
    if not low <= number <= high:
        raise Invalid(f"{name} must be between {low} and {high}.", code="invalid")
    return number
