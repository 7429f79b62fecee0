"""HF protocol: the Git LFS batch API (basic and multipart transfers, verify).

Used by huggingface_hub with HF_HUB_DISABLE_XET=1, by clients older than 1.20, for file-object uploads and by git-lfs.
The client sends no Authorization header to upload URLs, so they carry a signed, expiring token of their own.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import shutil
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse

from hub.accounts.models import Role
from hub.core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from hub.core.http import file_response
from hub.registry import selectors, storage
from hub.registry.hf.common import base_url, find_repo, hf_view, read_json
from hub.registry.models import Blob

LFS_JSON = "application/vnd.git-lfs+json"
MAX_OBJECTS = 1000
URL_MAX_AGE = 24 * 3600
_SALT = "hub.lfs"
_HEX64 = set("0123456789abcdef")


def _lfs_response(body: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, content_type=LFS_JSON)


def _sign(**payload: object) -> str:
    return signing.dumps(payload, salt=_SALT, compress=True)


def _unsign(request: HttpRequest, oid: str, purpose: str) -> dict:
    try:
        payload = signing.loads(request.GET.get("t", ""), salt=_SALT, max_age=URL_MAX_AGE)
    except signing.BadSignature:
        raise Forbidden("This upload URL is invalid or has expired.", code="bad_signature") from None
    if payload.get("oid") != oid or payload.get("p") != purpose:
        raise Forbidden("This upload URL is not for this object.", code="bad_signature")
    return payload


def _uploader(payload: dict):
    from hub.accounts.models import User

    return User.objects.filter(pk=payload.get("w")).first()


def _valid_oid(oid: object) -> bool:
    return isinstance(oid, str) and len(oid) == 64 and set(oid) <= _HEX64


@hf_view(("POST",))
def batch(request: HttpRequest, owner: str, name: str, kind: str = "models") -> JsonResponse:
    name = name.removesuffix(".git")
    body = read_json(request, default={})
    if not isinstance(body, dict) or body.get("operation") not in ("upload", "download"):
        raise Invalid("operation must be 'upload' or 'download'.", code="invalid")
    objects = body.get("objects")
    if not isinstance(objects, list) or len(objects) > MAX_OBJECTS:
        raise Invalid(f"'objects' must be a list of at most {MAX_OBJECTS}.", code="invalid")
    upload = body["operation"] == "upload"
    repo = find_repo(request, kind, owner, name, need=Role.WRITE if upload else Role.READ)
    root = base_url(request)
    result = []
    for obj in objects:
        oid, size = (obj.get("oid"), obj.get("size")) if isinstance(obj, dict) else (None, None)
        if not _valid_oid(oid) or not isinstance(size, int) or size < 0:
            error = {"code": 422, "message": "oid must be a sha256 and size a non-negative integer"}
            result.append({"oid": str(oid), "size": size if isinstance(size, int) else 0, "error": error})
            continue
        item: dict = {"oid": oid, "size": size, "authenticated": True}
        # Only blobs this caller may use count as present: others must be uploaded (proving the bytes are held).
        blob = selectors.usable_blobs(request.user, {oid}).get(oid)
        if not upload:
            if blob is None:
                item["error"] = {"code": 404, "message": "Object does not exist"}
            else:
                href = f"{root}/api/lfs/objects/{oid}?t={_sign(oid=oid, p='download', r=repo.pk)}"
                item["actions"] = {"download": {"href": href, "expires_in": URL_MAX_AGE}}
        elif size > settings.MAX_FILE_SIZE:
            item["error"] = {"code": 413, "message": f"Object is larger than the limit of {settings.MAX_FILE_SIZE}"}
        elif blob is None or blob.size != size:
            item["actions"] = _upload_actions(root, oid, size, request.user.pk)
        result.append(item)
    return _lfs_response({"transfer": "basic", "objects": result, "hash_algo": "sha256"})


def _upload_actions(root: str, oid: str, size: int, user_id: int) -> dict:
    verify = {"href": f"{root}/api/lfs/verify", "header": {}, "expires_in": URL_MAX_AGE}
    chunk = settings.HUB_LFS_MULTIPART_CHUNK
    if size <= chunk:
        href = f"{root}/api/lfs/objects/{oid}?t={_sign(oid=oid, p='upload', s=size, w=user_id)}"
        return {"upload": {"href": href, "expires_in": URL_MAX_AGE}, "verify": verify}
    token = _sign(oid=oid, p="multipart", s=size, u=secrets.token_hex(8), c=chunk, w=user_id)
    header = {"chunk_size": str(chunk)}
    for n in range(1, math.ceil(size / chunk) + 1):
        header[str(n)] = f"{root}/api/lfs/multipart/{oid}/{n}?t={token}"
    href = f"{root}/api/lfs/multipart/{oid}/complete?t={token}"
    return {"upload": {"href": href, "header": header, "expires_in": URL_MAX_AGE}, "verify": verify}


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        raise Invalid("Content-Length is required.", code="length_required") from None


@hf_view(("PUT", "GET", "HEAD"))
def object_transfer(request: HttpRequest, oid: str) -> HttpResponse:
    """PUT: a basic-transfer upload (streamed, verified against oid and size). GET: a signed download."""
    if request.method in ("GET", "HEAD"):
        _unsign(request, oid, "download")
        blob = Blob.objects.filter(pk=oid).first()
        if blob is None:
            raise NotFound("Object does not exist.", code="not_found")
        return file_response(request, lambda: storage.open_blob(oid), blob.size)
    payload = _unsign(request, oid, "upload")
    length = _content_length(request)
    if length != payload["s"]:
        raise Invalid(f"Expected {payload['s']} bytes, got Content-Length {length}.", code="size_mismatch")
    storage.store_stream(
        storage.read_chunks(request, length), expected_sha256=oid, expected_size=length, uploader=_uploader(payload)
    )
    return HttpResponse(status=200)


def _parts_dir(oid: str, upload_id: str) -> Path:
    return Path(settings.UPLOAD_TMP_DIR) / f"lfs-{oid}-{upload_id}"


@hf_view(("PUT",))
def multipart_part(request: HttpRequest, oid: str, part: int) -> HttpResponse:
    payload = _unsign(request, oid, "multipart")
    chunk, size = payload["c"], payload["s"]
    count = math.ceil(size / chunk)
    if not 1 <= part <= count:
        raise Invalid(f"Part number must be between 1 and {count}.", code="invalid")
    expected = chunk if part < count else size - chunk * (count - 1)
    length = _content_length(request)
    if length != expected:
        raise Invalid(f"Part {part} must be {expected} bytes, got {length}.", code="size_mismatch")
    folder = _parts_dir(oid, payload["u"])
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.md5(usedforsecurity=False)
    tmp = folder / f"{part}.partial"
    with open(tmp, "wb") as out:
        for piece in storage.read_chunks(request, length):
            digest.update(piece)
            out.write(piece)
    os.replace(tmp, folder / str(part))
    response = HttpResponse(status=200)
    response["ETag"] = f'"{digest.hexdigest()}"'
    return response


@hf_view(("POST",))
def multipart_complete(request: HttpRequest, oid: str) -> JsonResponse:
    payload = _unsign(request, oid, "multipart")
    chunk, size = payload["c"], payload["s"]
    count = math.ceil(size / chunk)
    folder = _parts_dir(oid, payload["u"])
    body = read_json(request, default={})
    parts = body.get("parts") if isinstance(body, dict) else None
    parts = parts if isinstance(parts, list) else []
    numbers = sorted(p["partNumber"] for p in parts if isinstance(p, dict) and isinstance(p.get("partNumber"), int))
    if numbers != list(range(1, count + 1)) or not all((folder / str(n)).is_file() for n in numbers):
        raise Invalid(f"All {count} parts must be uploaded before completing.", code="incomplete_upload")

    def chunks():
        for n in numbers:
            with open(folder / str(n), "rb") as f:
                yield from storage.read_chunks(f)

    try:
        storage.store_stream(chunks(), expected_sha256=oid, expected_size=size, uploader=_uploader(payload))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return _lfs_response({"oid": oid, "size": size})


@hf_view(("POST",))
def verify(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        raise Unauthenticated("Authentication required.")
    body = read_json(request, default={})
    oid = body.get("oid") if isinstance(body, dict) else None
    blob = selectors.usable_blobs(request.user, {oid}).get(oid) if _valid_oid(oid) else None
    if blob is None or blob.size != body.get("size"):
        return _lfs_response({"message": "Object not found or size mismatch."}, status=404)
    return _lfs_response({"oid": blob.sha256, "size": blob.size})
