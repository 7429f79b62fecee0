"""Reads for the web catalog: the browse page (results, total, facet counts), home sections, owner pages.

Facet counts over 100,000 repos cost a few GROUP BY scans. They are computed in two parts: public repos,
shared by every visitor and cached for CACHE_SECONDS, plus the private repos this user may read, counted live
(few rows, found through the namespace index). The cache therefore never holds anything private.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache

from hub.accounts.models import Namespace, User
from hub.accounts.selectors import readable_namespace_ids
from hub.catalog import facets
from hub.registry.models import Ref, Repo, RepoType
from hub.registry.selectors import SearchQuery, search_repos, visible_repos

PER_PAGE = 30
MAX_PAGE = 100  # deep pages are slow everywhere and useless to people; refine the search instead
FACET_SIZE = 10
CACHE_SECONDS = getattr(settings, "CATALOG_CACHE_SECONDS", 60)
LISTING_DEFER = ("search_text", "card_data", "card_error")
FACETS = (
    ("task", "Tasks"),
    ("library", "Libraries"),
    ("license", "Licenses"),
    ("tags", "Tags"),
    ("base_model", "Base models"),
    ("owner", "Owners"),
)


@dataclass
class Facet:
    key: str
    label: str
    values: list[tuple[str, int]]


@dataclass
class Listing:
    repos: list[Repo]
    total: int
    page: int
    pages: int
    facets: list[Facet]


def browse(user: User | AnonymousUser, query: SearchQuery, *, page: int = 1) -> Listing:
    """One page of results, the total and the facet counts, all restricted to what `user` may read."""
    results = search_repos(user, query)  # validates type and sort
    public = _cached_counts(query)
    private = _private_counts(user, query)
    total = public["total"] + private["total"]
    pages = max(1, min(MAX_PAGE, math.ceil(total / PER_PAGE)))
    page = max(1, min(page, pages))
    offset = (page - 1) * PER_PAGE
    repos = list(results.defer(*LISTING_DEFER)[offset : offset + PER_PAGE])
    merged = {key: _merge(public[key], private[key]) for key, _ in FACETS}
    known = set(merged["task"]) | set(merged["library"])
    shown = []
    for key, label in FACETS:
        values = sorted(merged[key].items(), key=lambda kv: (-kv[1], kv[0]))
        if key == "tags":  # task and library names are tags too; they have facets of their own
            values = [kv for kv in values if kv[0] not in known]
        shown.append(Facet(key, label, values[:FACET_SIZE]))
    return Listing(repos, total, page, pages, shown)


def _merge(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    if not b:
        return a
    merged = Counter(a)
    merged.update(b)
    return dict(merged)


def _cache_key(query: SearchQuery) -> str:
    fields = asdict(query) | {"q": query.q.strip().lower(), "tags": sorted(query.tags), "sort": "", "descending": 0}
    digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    return f"catalog:counts:v1:{digest}"


def _cached_counts(query: SearchQuery) -> dict:
    key = _cache_key(query)
    counts = cache.get(key) if CACHE_SECONDS else None
    if counts is None:
        counts = facets.counts(search_repos(AnonymousUser(), query))  # public repos only
        if CACHE_SECONDS:
            cache.set(key, counts, CACHE_SECONDS)
    return counts


def _private_counts(user: User | AnonymousUser, query: SearchQuery) -> dict:
    if not user.is_authenticated:
        return facets.empty()
    qs = search_repos(user, query).filter(private=True)
    namespace_ids = readable_namespace_ids(user)
    if namespace_ids is not None:  # repeated as a plain AND, so that Postgres can use the namespace index
        qs = qs.filter(namespace_id__in=namespace_ids)
    if not qs.exists():
        return facets.empty()
    return facets.counts(qs)


# --- home and owner pages ------------------------------------------------------------------------------


def home_sections(user: User | AnonymousUser, *, size: int = 8) -> dict[str, list[Repo]]:
    models = visible_repos(user).filter(type=RepoType.MODEL).select_related("namespace").defer(*LISTING_DEFER)
    datasets = visible_repos(user).filter(type=RepoType.DATASET).select_related("namespace").defer(*LISTING_DEFER)
    return {
        "trending": list(models.order_by("-trending_score", "-id")[:size]),
        "downloads": list(models.order_by("-downloads", "-id")[:size]),
        "recent": list(models.order_by("-last_modified", "-id")[:size]),
        "datasets": list(datasets.order_by("-last_modified", "-id")[:size]),
    }


def owner_repos(user: User | AnonymousUser, namespace: Namespace, type: str, *, limit: int = 30) -> tuple[list, int]:
    qs = visible_repos(user).filter(type=type, namespace=namespace).select_related("namespace").defer(*LISTING_DEFER)
    return list(qs.order_by("-last_modified", "-id")[:limit]), qs.count()


# --- revisions in page URLs ----------------------------------------------------------------------------


def split_revision(repo: Repo, rest: str) -> tuple[str, str]:
    """Split 'rev/path…' from a page URL: the longest existing ref name wins (branches may hold '/')."""
    parts = rest.strip("/").split("/")
    if len(parts) > 1:
        names = set(Ref.objects.filter(repo=repo, name__startswith=parts[0] + "/").values_list("name", flat=True))
        for i in range(len(parts), 1, -1):
            candidate = "/".join(parts[:i])
            if candidate in names:
                return candidate, "/".join(parts[i:])
    return parts[0], "/".join(parts[1:])
