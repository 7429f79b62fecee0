"""Create a repo, and upload files from the browser.

The upload page sends each file with XMLHttpRequest to `upload_blob` (streamed to storage while hashed, so
neither the browser nor the server holds a file in memory), then makes one commit through the native API that
names the blobs. Nothing is visible in the repo until that commit lands.

`upload_blob` mirrors POST /api/v1/blobs for session-authenticated pages: DRF's CSRF check reads request.POST,
which that route (it has no parser, to stream the body) answers with 415 for a browser session.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from hub.accounts.models import Role
from hub.accounts.selectors import get_namespace, has_role, namespace_role, user_organisations
from hub.catalog import links
from hub.catalog.forms import NewRepoForm
from hub.catalog.views.common import repo_context, repo_page
from hub.core.errors import HubError
from hub.registry import storage
from hub.registry.models import Ref, Repo
from hub.registry.services import repos as repo_services


def _owners(user) -> list[str]:
    orgs = [org.name for org, role in user_organisations(user) if has_role(role, Role.WRITE)]
    return [user.username, *orgs]


@login_required
@require_http_methods(["GET", "POST"])
def new_repo(request: HttpRequest) -> HttpResponse:
    owners = _owners(request.user)
    initial = {"type": request.GET.get("type", "model"), "owner": request.GET.get("owner", owners[0])}
    form = NewRepoForm(request.POST or None, owners=owners, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            namespace = get_namespace(data["owner"])
            if not has_role(namespace_role(request.user, namespace), Role.WRITE):
                raise HubError(f"You cannot create repos in '{namespace.name}'.")
            repo = repo_services.create_repo(
                namespace=namespace, name=data["name"], type=data["type"], private=data["private"], author=request.user
            )
        except HubError as exc:
            form.add_error("name", exc.message)
        else:
            return HttpResponseRedirect(links.repo_path(repo) + "/upload")
    return render(request, "catalog/new.html", {"form": form}, status=400 if form.errors else 200)


@repo_page(need=Role.WRITE)
def upload(request: HttpRequest, repo: Repo) -> HttpResponse:
    branches = list(Ref.objects.filter(repo=repo, kind=Ref.BRANCH).order_by("name").values_list("name", flat=True))
    if "main" in branches:
        branches.remove("main")
        branches.insert(0, "main")
    selected = request.GET.get("branch", "main")
    context = repo_context(request, repo, "files") | {
        "branches": branches or ["main"],
        "selected_branch": selected if selected in branches else "main",
        "api": links.api_path(repo),
        "blobs_url": links.repo_path(repo) + "/upload/blob",
    }
    return render(request, "catalog/repo/upload.html", context)


@require_POST
@repo_page(need=Role.WRITE)
def upload_blob(request: HttpRequest, repo: Repo) -> HttpResponse:
    """One file's bytes as the raw request body (Content-Length required); answers {sha256, size}."""
    try:
        size = int(request.META.get("CONTENT_LENGTH") or -1)
    except ValueError:
        size = -1
    if size < 0:
        return JsonResponse({"error": "Content-Length is required.", "code": "length_required"}, status=411)
    try:
        blob = storage.store_stream(
            storage.read_chunks(request, size),
            expected_sha256=request.META.get("HTTP_X_CONTENT_SHA256"),
            expected_size=size,
            uploader=request.user,  # which lets this user commit the blob by its hash
        )
    except HubError as exc:
        return JsonResponse({"error": exc.message, "code": exc.code}, status=exc.status)
    return JsonResponse({"sha256": blob.sha256, "size": blob.size}, status=201)
