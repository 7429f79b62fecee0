"""HF protocol: resolve (downloads), preupload and the NDJSON commit."""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse

from hub.accounts.models import Role
from hub.core.errors import Invalid, NotFound, PreconditionFailed, TooLarge
from hub.core.http import file_response
from hub.registry import selectors, storage
from hub.registry.hf.common import (
    base_url,
    find_repo,
    hf_error,
    hf_view,
    is_lfs,
    read_json,
    repo_url,
    resolve,
    split_revision,
)  # fmt: skip
from hub.registry.models import Repo, RepoType
from hub.registry.paths import validate_path
from hub.registry.services import commits as commit_services
from hub.registry.services import repos as repo_services
from hub.xet.services import xet_hashes_for

MAX_PREUPLOAD_FILES = 1000


def _counting_file(files: dict) -> str:
    """One download per snapshot, as the public hub counts them: config.json if present, else README.md."""
    return "config.json" if "config.json" in files else "README.md"


@hf_view(("GET", "HEAD"))
def resolve_file(request: HttpRequest, owner: str, name: str, rest: str, kind: str = "models") -> HttpResponse:
    repo = find_repo(request, kind, owner, name)
    revision, path = split_revision(repo, rest)
    commit = resolve(repo, revision)
    snap = selectors.snapshot(commit)
    ref = snap.files.get(path)
    if ref is None:
        return hf_error(request, 404, f"Entry not found: {path}", "entry_not_found", commit=commit.sha)
    headers = {"X-Repo-Commit": commit.sha, "Access-Control-Expose-Headers": "X-Repo-Commit, X-Linked-Size, ETag"}
    xet = {}
    if is_lfs(ref.size):
        headers["ETag"] = f'"{ref.sha256}"'
        headers["X-Linked-Etag"] = f'"{ref.sha256}"'
        headers["X-Linked-Size"] = str(ref.size)
        xet = xet_hashes_for([ref.sha256])
        if ref.sha256 in xet:
            headers["X-Xet-Hash"] = xet[ref.sha256]
            prefix = "datasets" if repo.type == RepoType.DATASET else "models"
            token_url = f"{base_url(request)}/api/{prefix}/{repo.full_name}/xet-read-token/{commit.sha}"
            headers["Link"] = f'<{token_url}>; rel="xet-auth"'
    else:
        headers["ETag"] = f'"{ref.git_sha1}"'
    first_read = request.method == "GET" and request.META.get("HTTP_RANGE") in (None, "", "bytes=0-")
    if first_read and path == _counting_file(snap.files):
        repo_services.record_download(repo=repo)
    url = None if xet else storage.blob_url(ref.sha256)
    if url is not None:  # remote object storage: the client fetches bytes from a presigned URL
        response = HttpResponseRedirect(url)
        for key, value in headers.items():
            response[key] = value
        response["X-Linked-Size"] = str(ref.size)
        response["X-Linked-Etag"] = headers["ETag"]
        return response
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return file_response(
        request, lambda: storage.open_blob(ref.sha256), ref.size, content_type=content_type,
        filename=path.rsplit("/", 1)[-1], headers=headers,
    )  # fmt: skip


def _branch_for_write(revision: str) -> str:
    if revision.startswith("refs/pr/"):
        raise Invalid("Pull requests are not supported by this hub yet.", code="invalid")
    return revision.removeprefix("refs/heads/")


@hf_view(("POST",))
def preupload(request: HttpRequest, kind: str, owner: str, name: str, revision: str) -> JsonResponse:
    repo = find_repo(request, kind, owner, name, need=Role.WRITE)
    if request.GET.get("create_pr"):
        raise Invalid("Pull requests are not supported by this hub yet.", code="invalid")
    body = read_json(request, default={})
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, list) or len(files) > MAX_PREUPLOAD_FILES:
        raise Invalid(f"'files' must be a list of at most {MAX_PREUPLOAD_FILES} entries.", code="invalid")
    try:
        snap = selectors.snapshot(resolve(repo, _branch_for_write(revision)))
    except NotFound:
        snap = None  # a branch to be created by this commit: nothing exists yet
    result = []
    for item in files:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise Invalid("Each file needs a 'path'.", code="invalid")
        size = item.get("size")
        if not isinstance(size, int) or size < 0:
            raise Invalid(f"'{item['path']}': 'size' must be a non-negative integer.", code="invalid")
        if size > settings.MAX_FILE_SIZE:
            raise TooLarge(f"'{item['path']}' is {size} bytes; the limit is {settings.MAX_FILE_SIZE}.")
        lfs = is_lfs(size)
        existing = snap.files.get(item["path"]) if snap else None
        oid = None
        if existing is not None:
            oid = existing.sha256 if lfs else existing.git_sha1
        result.append(
            {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
        )
    return JsonResponse({"files": result, "commitOid": None})


class _NdjsonError(Invalid):
    pass


def _ndjson_lines(request: HttpRequest):
    """Parsed NDJSON objects, one line at a time (a line is bounded by HF_MAX_NDJSON_LINE)."""
    limit = settings.HF_MAX_NDJSON_LINE
    number = 0
    while True:
        line = request.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            raise _NdjsonError(f"Line {number} of the commit is longer than {limit} bytes.", code="line_too_long")
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            raise _NdjsonError(f"Line {number} of the commit is not valid JSON.", code="malformed") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("value"), dict) or "key" not in obj:
            raise _NdjsonError(f"Line {number} must be an object with 'key' and 'value'.", code="malformed")
        yield number, obj["key"], obj["value"]


def _operation(request: HttpRequest, number: int, key: str, value: dict) -> commit_services.Operation:
    path = value.get("path")
    if not isinstance(path, str):
        raise _NdjsonError(f"Line {number}: 'path' is required.", code="malformed")
    if key == "file":
        if value.get("encoding", "base64") != "base64" or not isinstance(value.get("content"), str):
            raise _NdjsonError(f"Line {number}: 'content' must be base64.", code="malformed")
        try:
            content = base64.b64decode(value["content"], validate=True)
        except (binascii.Error, ValueError):
            raise _NdjsonError(
                f"Line {number}: 'content' of '{path}' is not valid base64.", code="bad_base64"
            ) from None
        validate_path(path)
        blob = storage.store_bytes(content, uploader=request.user)
        return commit_services.AddFile(path=path, blob_sha256=blob.sha256)
    if key == "lfsFile":
        oid = value.get("oid")
        if value.get("algo", "sha256") != "sha256" or not isinstance(oid, str):
            raise _NdjsonError(f"Line {number}: lfsFile needs a sha256 'oid'.", code="malformed")
        blob = selectors.usable_blobs(request.user, {oid.lower()}).get(oid.lower())
        if blob is None:
            raise Invalid(f"LFS object {oid} for '{path}' was not uploaded.", code="unknown_blob")
        if "size" in value and value["size"] != blob.size:
            raise Invalid(f"LFS object {oid} has size {blob.size}, not {value['size']}.", code="size_mismatch")
        return commit_services.AddFile(path=path, blob_sha256=blob.sha256)
    if key == "deletedFile":
        return commit_services.DeleteFile(path=path)
    if key == "deletedFolder":
        return commit_services.DeleteFolder(path=path.rstrip("/"))
    raise _NdjsonError(f"Line {number}: unknown operation '{key}'.", code="unknown_operation")


def _parent(repo: Repo, branch: str, parent: object) -> str | None:
    """Expand an abbreviated parentCommit against the branch head (412 when it is not the head)."""
    if parent is None:
        return None
    if not isinstance(parent, str) or not 5 <= len(parent) <= 40:
        raise Invalid("parentCommit must be 5 to 40 hexadecimal characters.", code="invalid")
    if len(parent) == 40:
        return parent.lower()
    try:
        head = selectors.resolve_revision(repo, branch)
    except NotFound:
        head = None
    if head is None or not head.sha.startswith(parent.lower()):
        raise PreconditionFailed(f"parentCommit {parent} is not the head of '{branch}'.", code="stale_parent")
    return head.sha


@hf_view(("POST",))
def commit(request: HttpRequest, kind: str, owner: str, name: str, revision: str) -> JsonResponse:
    repo = find_repo(request, kind, owner, name, need=Role.WRITE)
    if request.GET.get("create_pr"):
        raise Invalid("Pull requests are not supported by this hub yet.", code="invalid")
    branch = _branch_for_write(revision)
    header, operations = None, []
    for number, key, value in _ndjson_lines(request):
        if key == "header":
            if header is not None:
                raise _NdjsonError(f"Line {number}: a second header.", code="malformed")
            header = value
        else:
            if header is None:
                raise _NdjsonError("The commit must start with a header line.", code="malformed")
            operations.append(_operation(request, number, key, value))
    if header is None:
        raise _NdjsonError("The commit has no header line.", code="malformed")
    summary = header.get("summary") or "Upload files"
    description = header.get("description") or ""
    if not isinstance(summary, str) or not isinstance(description, str):
        raise Invalid("summary and description must be strings.", code="invalid")
    created = commit_services.create_commit(
        repo=repo, author=request.user, operations=operations, title=summary.splitlines()[0][:500] if summary else "",
        message=description, branch=branch, parent_commit=_parent(repo, branch, header.get("parentCommit")),
    )  # fmt: skip
    # The commit has landed: from here on nothing may turn this into a 5xx (the client would retry it).
    try:
        url = f"{repo_url(request, repo)}/commit/{created.sha}"
    except Exception:  # noqa: BLE001
        url = f"/{repo.full_name}/commit/{created.sha}"
    return JsonResponse({"commitOid": created.sha, "commitUrl": url, "success": True, "hookOutput": ""})
