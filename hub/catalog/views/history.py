"""History: commits of a revision (optionally of one path), one commit's changes, and compare two versions."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from hub.catalog import links
from hub.catalog.selectors import split_revision
from hub.catalog.views.common import repo_context, repo_page
from hub.core.errors import Invalid
from hub.registry import selectors, trees
from hub.registry.models import Ref, Repo
from hub.registry.paths import validate_folder

PER_PAGE = 30
MAX_DIFF_LINES = 2000


@repo_page()
def commits(request: HttpRequest, repo: Repo, rest: str = "") -> HttpResponse:
    if not rest:  # the branch picker submits ?rev=…
        return HttpResponseRedirect(links.commits_path(repo, request.GET.get("rev") or "main"))
    rev, path = split_revision(repo, rest)
    path = validate_folder(path)
    head = selectors.resolve_revision(repo, rev)
    try:
        page = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        page = 1
    items = selectors.history(repo, head, path=path or None, offset=(page - 1) * PER_PAGE, limit=PER_PAGE + 1)
    context = repo_context(request, repo, "history") | {
        "rev": rev,
        "path": path,
        "commits": items[:PER_PAGE],
        "page": page,
        "has_next": len(items) > PER_PAGE,
        "branches": [r.name for r in selectors.refs(repo) if r.kind == Ref.BRANCH],
    }
    return render(request, "catalog/repo/commits.html", context)


@repo_page()
def commit(request: HttpRequest, repo: Repo, sha: str) -> HttpResponse:
    current = selectors.resolve_revision(repo, sha)
    parent = current.parent
    if parent is not None:
        files = selectors.compare(parent, current)
    else:  # the first commit: everything was added
        added = trees.diff({}, selectors.snapshot(current).files)
        files = [selectors.FileDiff(c.path, c.status, None, c.new.size, None) for c in added]
    context = repo_context(request, repo, "history") | {
        "commit": current,
        "parent": parent,
        "files": _with_lines(files),
    }
    return render(request, "catalog/repo/commit.html", context)


@repo_page()
def compare(request: HttpRequest, repo: Repo) -> HttpResponse:
    p = request.GET
    base_rev, head_rev = p.get("base", "").strip(), p.get("head", "").strip() or "main"
    context = repo_context(request, repo, "history") | {
        "base_rev": base_rev,
        "head_rev": head_rev,
        "refs": selectors.refs(repo),
        "recent": _recent(repo),
    }
    if base_rev:
        base = selectors.resolve_revision(repo, base_rev)
        head = selectors.resolve_revision(repo, head_rev)
        if base.pk == head.pk:
            raise Invalid("Pick two different versions to compare.", code="invalid")
        context |= {"base": base, "head": head, "files": _with_lines(selectors.compare(base, head))}
    return render(request, "catalog/repo/compare.html", context)


def _recent(repo: Repo) -> list:
    """The last commits on main, offered in the compare form."""
    main = Ref.objects.filter(repo=repo, kind=Ref.BRANCH, name="main").select_related("commit").first()
    return selectors.history(repo, main.commit, limit=20) if main else []


def _with_lines(files: list[selectors.FileDiff]) -> list[dict]:
    """Each diff split into (css class, text) lines for the template, capped per file."""
    result = []
    for f in files:
        lines = []
        for line in (f.diff or "").splitlines()[:MAX_DIFF_LINES]:
            if line.startswith(("+++", "---")):
                continue
            kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
            lines.append((kind, line))
        added = sum(1 for k, _ in lines if k == "add")
        removed = sum(1 for k, _ in lines if k == "del")
        result.append({"file": f, "lines": lines, "added": added, "removed": removed})
    return result
