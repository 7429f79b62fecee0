"""Files and versions: browse the tree at any branch, tag or commit; view a text file highlighted."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from hub.catalog import links
from hub.catalog.highlight import MAX_HIGHLIGHT_BYTES, highlight_file, is_text
from hub.catalog.selectors import split_revision
from hub.catalog.views.common import repo_context, repo_page
from hub.core.errors import NotFound
from hub.registry import selectors, storage
from hub.registry.models import Commit, Ref, Repo
from hub.registry.paths import validate_folder, validate_path
from hub.security.services import scans_for

MAX_ENTRIES = 1000
MAX_VIEW_BYTES = 2 * 1024 * 1024  # larger text files get a download link only


def _revision_context(repo: Repo, rev: str, commit: Commit, path: str, *, folder: str) -> dict:
    refs = selectors.refs(repo)
    return {
        "rev": rev,
        "commit": commit,
        "path": path,
        "folder": folder,
        "crumbs": _crumbs(path),
        "branches": [r.name for r in refs if r.kind == Ref.BRANCH],
        "tags": [r.name for r in refs if r.kind == Ref.TAG],
        "is_ref": any(r.name == rev for r in refs),
    }


def _crumbs(path: str) -> list[tuple[str, str]]:
    """('name', 'path/to/name') for each folder above and including `path`."""
    parts = path.split("/") if path else []
    return [(part, "/".join(parts[: i + 1])) for i, part in enumerate(parts)]


@repo_page()
def tree(request: HttpRequest, repo: Repo, rest: str = "") -> HttpResponse:
    if not rest:  # the revision picker submits ?rev=…&path=…
        rev = request.GET.get("rev") or "main"
        return HttpResponseRedirect(links.tree_path(repo, rev, validate_folder(request.GET.get("path", ""))))
    rev, path = split_revision(repo, rest)
    path = validate_folder(path)
    commit = selectors.resolve_revision(repo, rev)
    entries = selectors.list_tree(commit, path, recursive=False)
    entries.sort(key=lambda e: (e.type != "directory", e.path.lower()))
    context = repo_context(request, repo, "files") | _revision_context(repo, rev, commit, path, folder=path)
    shown = entries[:MAX_ENTRIES]
    context |= {
        "entries": shown,
        "scans": scans_for((e.path, e.sha256) for e in shown if e.type == "file"),
        "truncated": max(0, len(entries) - MAX_ENTRIES),
        "lfs_threshold": settings.HF_LFS_THRESHOLD,
        "parent_path": path.rsplit("/", 1)[0] if "/" in path else "",
    }
    return render(request, "catalog/repo/tree.html", context)


@repo_page()
def blob(request: HttpRequest, repo: Repo, rest: str) -> HttpResponse:
    rev, path = split_revision(repo, rest)
    path = validate_path(path)
    commit = selectors.resolve_revision(repo, rev)
    entry = selectors.snapshot(commit).files.get(path)
    if entry is None:
        if selectors.snapshot(commit).is_folder(path):
            return HttpResponseRedirect(links.tree_path(repo, rev, path))
        raise NotFound(f"File '{path}' not found at {rev}.", code="entry_not_found")
    code, reason = None, ""
    if entry.size > MAX_VIEW_BYTES:
        reason = "This file is too large to display."
    else:
        data = storage.read_blob(entry.sha256, limit=MAX_VIEW_BYTES)
        if is_text(data):
            code = highlight_file(path, data.decode("utf-8"))
        else:
            reason = "This is a binary file."
    context = repo_context(request, repo, "files")
    context |= _revision_context(repo, rev, commit, path, folder=path.rsplit("/", 1)[0] if "/" in path else "")
    context |= {
        "entry": entry,
        "code": code,
        "reason": reason,
        "plain": entry.size > MAX_HIGHLIGHT_BYTES,
        "lfs": entry.size >= settings.HF_LFS_THRESHOLD,
        "download": links.resolve_path(repo, commit.sha, path),
    }
    return render(request, "catalog/repo/blob.html", context)
