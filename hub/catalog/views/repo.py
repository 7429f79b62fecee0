"""The repo page: model card with its side panel, the lineage tab, and the like button."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_POST

from hub.catalog import links
from hub.catalog.markdown import render_markdown
from hub.catalog.views.common import repo_context, repo_page
from hub.core.errors import HubError
from hub.datasets.viewer import dataset_viewer
from hub.registry import selectors, storage
from hub.registry.cards import MAX_CARD_BYTES, parse_card
from hub.registry.models import Relation, Repo, RepoType, Tree
from hub.registry.services import repos as repo_services

CARD_CACHE_SECONDS = 3600  # keyed by commit: a commit never changes
LINEAGE_DEPTH = 5
CHILDREN_SHOWN = 12


@repo_page()
def card(request: HttpRequest, repo: Repo) -> HttpResponse:
    try:
        commit = selectors.resolve_revision(repo, "main")
    except HubError:
        commit = None
    files = set(selectors.snapshot(commit).files) if commit else set()
    context = repo_context(request, repo, "card", files=files)
    size = Tree.objects.filter(pk=commit.tree_id).values_list("total_size", flat=True).first() if commit else 0
    context |= {
        "commit": commit,
        "card_html": _card_html(repo, commit) if commit and "README.md" in files else None,
        "size": size or 0,
        "file_count": len(files),
        "parents": selectors.parents(request.user, repo),
        "children_counts": _relation_counts(selectors.children_counts(request.user, repo)),
        "datasets": _as_list(repo.card_data.get("datasets")),
        "languages": _as_list(repo.card_data.get("language")),
        "tags": [t for t in repo.tags if ":" not in t and t not in (repo.pipeline_tag, repo.library_name)],
    }
    if repo.type == RepoType.DATASET and commit:
        context["viewer"] = dataset_viewer(repo, commit)
    if repo.type == RepoType.MODEL:
        from hub.jobs.services import compressed_descendants

        context["compressed"] = compressed_descendants(request.user, repo)
    return render(request, "catalog/repo/card.html", context)


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)][:20]
    return []


def _card_html(repo: Repo, commit) -> str:
    key = f"catalog:card:v1:{repo.pk}:{commit.sha}"
    html = cache.get(key)
    if html is None:
        readme = selectors.snapshot(commit).files["README.md"]
        body = parse_card(storage.read_blob(readme.sha256, limit=MAX_CARD_BYTES)).body
        html = render_markdown(
            body, link_base=links.blob_path(repo, commit.sha, ""), raw_base=links.resolve_path(repo, commit.sha, "")
        )
        cache.set(key, html, CARD_CACHE_SECONDS)
    return html


def _relation_counts(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """(relation, label, count) in a stable order, only those present."""
    return [(r.value, str(r.label), counts[r.value]) for r in Relation if counts.get(r.value)]


@repo_page()
def lineage(request: HttpRequest, repo: Repo) -> HttpResponse:
    context = repo_context(request, repo, "lineage")
    children = selectors.children(request.user, repo)
    groups = []
    for relation, label, count in _relation_counts(selectors.children_counts(request.user, repo)):
        nodes = [n for n in children if n.relation == relation]
        more_url = f"/models?tags=base_model:{relation}:{repo.full_name}"
        groups.append({"relation": relation, "label": label, "count": count, "nodes": nodes[:CHILDREN_SHOWN],
                       "more": count - min(count, CHILDREN_SHOWN), "more_url": more_url})  # fmt: skip
    context |= {"ancestry": _ancestry(request, repo), "groups": groups, "child_total": sum(g["count"] for g in groups)}
    return render(request, "catalog/repo/lineage.html", context)


def _ancestry(request: HttpRequest, repo: Repo) -> list[list[selectors.LineageNode]]:
    """Levels above this repo, nearest last: each level holds the parents of the first readable one below."""
    levels: list[list[selectors.LineageNode]] = []
    current, seen = repo, {repo.pk}
    for _ in range(LINEAGE_DEPTH):
        parents = selectors.parents(request.user, current)
        if not parents:
            break
        levels.insert(0, parents)
        following = next((p.repo for p in parents if p.repo is not None and p.repo.pk not in seen), None)
        if following is None:
            break
        seen.add(following.pk)
        current = following
    return levels


@require_POST
@repo_page()
def like(request: HttpRequest, repo: Repo) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(links.repo_path(repo))
    if request.POST.get("action") == "unlike":
        repo_services.unlike(repo=repo, user=request.user)
    else:
        repo_services.like(repo=repo, user=request.user)
    return HttpResponseRedirect(links.repo_path(repo))
