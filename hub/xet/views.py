"""HTTP face of the Xet CAS, as hf_xet 1.8.0 calls it, plus the Hub's xet-{read,write}-token routes.

CAS requests carry `Authorization: Bearer xet_…` (a token from the routes below); data URLs authorise themselves
with a signature in their query string. Every URL handed out is built from the request's own host.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable
from functools import lru_cache

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from hub.accounts.models import Role
from hub.core.auth import bearer_from_header
from hub.core.errors import HubError, Invalid, TooLarge
from hub.registry import storage as registry_storage
from hub.registry import trees
from hub.registry.hf.common import find_repo, hf_view, resolve
from hub.xet import formats, services, store, tokens
from hub.xet.models import XetFile, Xorb

log = logging.getLogger(__name__)
CAS_PATH = "/xet/cas"
DATA_PATH = "/xet/data"


# --- Hub side: token routes --------------------------------------------------------------------------------


def _token_response(request: HttpRequest, token: str, expires: int) -> JsonResponse:
    cas_url = request.build_absolute_uri(CAS_PATH)
    response = JsonResponse({"accessToken": token, "exp": expires, "casUrl": cas_url})
    response["X-Xet-Cas-Url"] = cas_url
    response["X-Xet-Access-Token"] = token
    response["X-Xet-Token-Expiration"] = str(expires)
    response["Cache-Control"] = "no-store"
    return response


@hf_view(("GET",))
def write_token(request: HttpRequest, kind: str, owner: str, name: str, rev: str) -> JsonResponse:
    repo = find_repo(request, kind, owner, name, need=Role.WRITE)
    token, expires = tokens.issue(user_id=request.user.pk, repo_id=repo.pk, scope=tokens.WRITE)
    return _token_response(request, token, expires)


@hf_view(("GET",))
def read_token(request: HttpRequest, kind: str, owner: str, name: str, rev: str) -> JsonResponse:
    repo = find_repo(request, kind, owner, name)
    commit = resolve(repo, rev)
    user_id = request.user.pk if request.user.is_authenticated else None
    token, expires = tokens.issue(user_id=user_id, repo_id=repo.pk, scope=tokens.READ, tree_id=commit.tree_id)
    return _token_response(request, token, expires)


# --- CAS side ----------------------------------------------------------------------------------------------


def _error(status: int, message: str, code: str) -> JsonResponse:
    return JsonResponse({"error": message, "code": code}, status=status)


def cas_view(methods: tuple[str, ...], *, write: bool = False) -> Callable:
    """A CAS endpoint: CSRF-exempt, Xet bearer token required (write scope when `write`), errors as JSON."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                return _error(405, f"Method {request.method} not allowed.", "method_not_allowed")
            token = tokens.parse(bearer_from_header(request))
            if token is None:
                response = _error(401, "A valid Xet access token is required.", "invalid_token")
                response["WWW-Authenticate"] = 'Bearer realm="xet"'
                return response
            if write and not token.can_write:
                return _error(403, "This Xet token is read-only.", "read_only_token")
            try:
                return view(request, token, *args, **kwargs)
            except HubError as exc:
                return _error(exc.status, exc.message, exc.code)

        return wrapper

    return decorate


def _hash_arg(value: str) -> str:
    value = value.lower()
    if not formats.is_hash_str(value):
        raise Invalid("A hash is 64 hexadecimal characters.", code="bad_hash")
    return value


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _drain(request: HttpRequest) -> None:
    for _ in registry_storage.read_chunks(request):
        pass


@cas_view(("POST",), write=True)
def upload_xorb(request: HttpRequest, token: tokens.XetToken, prefix: str, xorb_hash: str) -> JsonResponse:
    xorb_hash = _hash_arg(xorb_hash)
    limit = formats.MAX_XORB_BYTES + 1024 * 1024
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > limit:
        raise TooLarge("A xorb is at most 64 MiB.")
    if Xorb.objects.filter(pk=xorb_hash).exists():
        _drain(request)
        return JsonResponse({"was_inserted": False})
    path, size = services.spool(registry_storage.read_chunks(request), limit=limit)
    try:
        inserted = services.store_xorb(xorb_hash, path, size)
    finally:
        _remove(path)  # gone already when local storage moved it into place
    return JsonResponse({"was_inserted": inserted})


@cas_view(("POST",), write=True)
def upload_shard(request: HttpRequest, token: tokens.XetToken) -> JsonResponse:
    path, _ = services.spool(registry_storage.read_chunks(request), limit=services.max_shard_bytes())
    try:
        with open(path, "rb") as f:
            result = services.register_shard(f, uploader_id=token.user_id)
    finally:
        _remove(path)
    return JsonResponse({"result": result})


@lru_cache(maxsize=64)
def _tree_sha256s(tree_id: str) -> frozenset[str]:
    return frozenset(ref.sha256 for ref in trees.load(tree_id).files.values())


@cas_view(("GET",))
def reconstruction(request: HttpRequest, token: tokens.XetToken, file_hash: str) -> HttpResponse:
    file_hash = _hash_arg(file_hash)
    xet_file = XetFile.objects.filter(pk=file_hash).first()
    # A read token opens the files of the snapshot it was issued for, and nothing else.
    if xet_file is None or token.tree_id is None or xet_file.sha256 not in _tree_sha256s(token.tree_id):
        return _error(404, f"File {file_hash} not found.", "not_found")
    try:
        start, end = services.parse_range(request.META.get("HTTP_RANGE"), xet_file.size)
    except services.RangeNotSatisfiable as exc:
        response = _error(416, "Range not satisfiable.", "range_not_satisfiable")
        response["Content-Range"] = f"bytes */{exc.size}"
        return response
    base = request.build_absolute_uri(DATA_PATH)

    def fetch_url(xorb: str, first: int, last: int) -> str:
        return f"{base}/{xorb}?{tokens.fetch_query(xorb, first, last)}"

    return JsonResponse(services.reconstruction(xet_file, start, end, fetch_url))


@cas_view(("GET",))
def dedup_query(request: HttpRequest, token: tokens.XetToken, prefix: str, chunk_hash: str) -> HttpResponse:
    shard = services.dedup_shard(_hash_arg(chunk_hash))
    if shard is None:
        return _error(404, "Chunk not tracked for deduplication.", "not_found")
    return HttpResponse(shard, content_type="application/octet-stream")


@csrf_exempt
def fetch_xorb(request: HttpRequest, xorb_hash: str) -> HttpResponse:
    """Bytes of a stored xorb, within the range its signed URL grants (no Authorization header needed)."""
    if request.method not in ("GET", "HEAD"):
        return _error(405, f"Method {request.method} not allowed.", "method_not_allowed")
    xorb_hash = xorb_hash.lower()
    granted = tokens.check_fetch(xorb_hash, request.GET.get("r"), request.GET.get("e"), request.GET.get("s"))
    if granted is None:
        return _error(403, "This data URL is invalid or has expired.", "invalid_signature")
    size = Xorb.objects.filter(pk=xorb_hash).values_list("size", flat=True).first()
    if size is None:
        return _error(404, "Not found.", "not_found")
    g_start, g_end = granted
    g_end = min(g_end, size - 1)
    header = request.META.get("HTTP_RANGE")
    if header:
        try:
            start, end = services.parse_range(header, size)
        except (services.RangeNotSatisfiable, HubError):
            start, end = -1, -1
        if not (g_start <= start <= end <= g_end):
            response = _error(416, "Range outside what this URL grants.", "range_not_satisfiable")
            response["Content-Range"] = f"bytes */{size}"
            return response
        status = 206
    else:
        start, end, status = g_start, g_end, 200
    if request.method == "HEAD":
        response = HttpResponse(status=status)
    else:
        response = StreamingHttpResponse(store.iter_xorb_range(xorb_hash, start, end + 1), status=status)
    response["Content-Type"] = "application/octet-stream"
    response["Content-Length"] = str(end - start + 1)
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response


@csrf_exempt
def telemetry(request: HttpRequest) -> HttpResponse:
    """hf_xet posts transfer statistics to {host}/v1/telemetry; accepted and dropped."""
    for _ in registry_storage.read_chunks(request, limit=1024 * 1024):
        pass
    return HttpResponse(status=204)
