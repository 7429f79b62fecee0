"""What every repo page shares: the access-checked lookup, the error page, the header's context."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from hub.accounts.models import Role
from hub.accounts.selectors import has_role, namespace_role
from hub.catalog import links, snippets
from hub.core.errors import HubError
from hub.registry import selectors
from hub.registry.models import Like, Repo, RepoType

KIND_LABEL = {RepoType.MODEL: "Model", RepoType.DATASET: "Dataset"}


def error_page(request: HttpRequest, status: int, message: str) -> HttpResponse:
    return render(request, "catalog/error.html", {"status": status, "message": message}, status=status)


def repo_page(need: str = Role.READ) -> Callable:
    """Decorate a view(request, repo, …): finds the repo the user may `need`, answers 404 for private repos
    of others (as for missing ones), redirects old names, and shows domain errors as an HTML page."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, owner: str, name: str, kind: str = RepoType.MODEL, **kwargs) -> HttpResponse:
            if need != Role.READ and not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            try:
                repo = selectors.get_repo(user=request.user, type=kind, full_name=f"{owner}/{name}", need=need)
                return view(request, repo, **kwargs)
            except selectors.RepoMoved as moved:
                old = links.kind_prefix(kind) + f"{owner}/{name}"
                path = request.get_full_path()
                return HttpResponseRedirect(links.repo_path(moved.repo) + path[len(old) :])
            except HubError as exc:
                return error_page(request, exc.status, exc.message)

        return wrapper

    return decorate


def hub_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def repo_context(request: HttpRequest, repo: Repo, tab: str, *, files: set[str] | None = None) -> dict:
    """The header of every repo page: name, like state, write access, tabs, 'Use this model'."""
    user = request.user
    can_write = user.is_authenticated and has_role(namespace_role(user, repo.namespace), Role.WRITE)
    liked = user.is_authenticated and Like.objects.filter(user=user, repo=repo).exists()
    if files is None:
        files = main_files(repo)
    return {
        "repo": repo,
        "tab": tab,
        "kind_label": KIND_LABEL[repo.type],
        "base": links.repo_path(repo),
        "can_write": can_write,
        "liked": liked,
        "snippets": snippets.usage_snippets(repo, hub_url(request), files=files),
    }


def main_files(repo: Repo) -> set[str]:
    try:
        return set(selectors.snapshot(selectors.resolve_revision(repo, "main")).files)
    except HubError:  # a repo whose main was deleted, or never written
        return set()
