"""Shared pieces of the HF protocol layer: error format, repo lookup, revision/path splitting, formatting."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from hub.accounts.models import Role
from hub.core.auth import token_role
from hub.core.errors import HubError, NotFound
from hub.registry import selectors
from hub.registry.models import Commit, Ref, Repo, RepoType

log = logging.getLogger(__name__)

KINDS = {"models": RepoType.MODEL, "datasets": RepoType.DATASET}
URL_PREFIX = {RepoType.MODEL: "", RepoType.DATASET: "datasets/"}
# Our error codes → the X-Error-Code values huggingface_hub maps to its exceptions.
HF_ERROR_CODES = {
    "repo_not_found": "RepoNotFound",
    "revision_not_found": "RevisionNotFound",
    "entry_not_found": "EntryNotFound",
    "gated": "GatedRepo",
}


def hf_error(
    request: HttpRequest, status: int, message: str, code: str | None = None, *, commit: str | None = None
) -> JsonResponse:
    hf_code = HF_ERROR_CODES.get(code or "")
    if hf_code == "RepoNotFound" and not request.user.is_authenticated:
        status = 401  # as the public hub does: anonymous callers cannot tell private from missing
    response = JsonResponse({"error": message}, status=status)
    if hf_code:
        response["X-Error-Code"] = hf_code
    response["X-Error-Message"] = message.encode("ascii", "replace").decode()[:500]
    if commit:
        response["X-Repo-Commit"] = commit
    return response


def hf_view(methods: tuple[str, ...]) -> Callable:
    """Plain Django view for the HF protocol: CSRF-exempt (bearer tokens), domain errors → HF error format."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                response = JsonResponse({"error": f"Method {request.method} not allowed."}, status=405)
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, **kwargs)
            except selectors.RepoMoved as moved:
                return _redirect_to_new_name(request, kwargs, moved.repo)
            except HubError as exc:
                return hf_error(request, exc.status, exc.message, exc.code, commit=exc.extra.get("commit"))

        return wrapper

    return decorate


def _redirect_to_new_name(request: HttpRequest, kwargs: dict, repo: Repo) -> HttpResponse:
    old = f"/{kwargs['owner']}/{kwargs['name']}"
    new = f"/{repo.full_name}"
    path = request.get_full_path()
    index = path.find(old + "/")
    if index < 0:
        index = path.find(old)
    target = path[:index] + new + path[index + len(old) :] if index >= 0 else path
    return HttpResponseRedirect(target, status=307)


def find_repo(request: HttpRequest, kind: str, owner: str, name: str, need: str = Role.READ) -> Repo:
    type = KINDS.get(kind)
    if type is None:
        raise NotFound(f"Repository {owner}/{name} not found.", code="repo_not_found")
    return selectors.get_repo(
        user=request.user, type=type, full_name=f"{owner}/{name}", need=need, token_role=token_role(request)
    )


def split_revision(repo: Repo, rest: str) -> tuple[str, str]:
    """Split 'rev/path…' where WSGI has already decoded %2F in the revision (refs/pr/1, feat/x).

    Longest existing ref name wins; else the first segment is the revision.
    """
    parts = rest.split("/")
    if len(parts) >= 3 and parts[0] == "refs" and parts[1] in ("pr", "convert"):
        return "/".join(parts[:3]), "/".join(parts[3:])
    if len(parts) > 1:
        names = set(
            Ref.objects.filter(repo=repo, name__contains="/", name__startswith=parts[0] + "/").values_list(
                "name", flat=True
            )
        )
        for i in range(len(parts) - 1, 1, -1):
            candidate = "/".join(parts[:i])
            if candidate in names:
                return candidate, "/".join(parts[i:])
        if "/".join(parts) in names:
            return "/".join(parts), ""
    return parts[0], "/".join(parts[1:])


def resolve(repo: Repo, revision: str) -> Commit:
    if revision.startswith("refs/pr/"):
        raise NotFound(f"Revision '{revision}' not found: pull requests are not supported.", code="revision_not_found")
    if revision.startswith("refs/heads/"):
        revision = revision.removeprefix("refs/heads/")
    elif revision.startswith("refs/tags/"):
        revision = revision.removeprefix("refs/tags/")
    return selectors.resolve_revision(repo, revision)


def iso(value: datetime | None) -> str | None:
    """UTC with a 'Z', as huggingface_hub's parse_datetime requires."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def repo_url(request: HttpRequest, repo: Repo) -> str:
    return f"{base_url(request)}/{URL_PREFIX[repo.type]}{repo.full_name}"


def is_lfs(size: int) -> bool:
    return size >= settings.HF_LFS_THRESHOLD


def read_json(request: HttpRequest, *, default: object = None) -> object:
    from hub.core.errors import Invalid

    if not request.body:
        return default
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("The request body is not valid JSON.", code="malformed") from None


def quote_rev(revision: str) -> str:
    return quote(revision, safe="")
