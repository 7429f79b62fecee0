"""Home and the browse pages (/models, /datasets): search box, facets with counts, sort, pagination."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from hub.catalog import selectors as catalog
from hub.registry.models import RepoType
from hub.registry.selectors import SearchQuery

SORTS = [
    ("trending", "Trending"),
    ("downloads", "Most downloads"),
    ("likes", "Most likes"),
    ("updated", "Recently updated"),
    ("created", "Recently created"),
]
FILTERS = ("task", "library", "license", "base_model", "owner")


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "catalog/home.html", {"sections": catalog.home_sections(request.user)})


def _page_number(value: str | None) -> int:
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1


def listing(request: HttpRequest, kind: str = RepoType.MODEL) -> HttpResponse:
    p = request.GET
    sort = p.get("sort", "trending")
    if sort not in dict(SORTS):
        sort = "trending"
    tags = tuple(dict.fromkeys(t.strip() for v in p.getlist("tags") for t in v.split(",") if t.strip()))[:10]
    query = SearchQuery(
        type=kind,
        q=p.get("q", "").strip()[:200],
        tags=tags,
        sort=sort,
        **{key: p.get(key, "").strip()[:200] for key in FILTERS},
    )
    result = catalog.browse(request.user, query, page=_page_number(p.get("page")))
    current = {"q": query.q, **{key: getattr(query, key) for key in FILTERS}, "tags": list(tags)}
    if sort != "trending":
        current["sort"] = sort
    links = _FacetLinks(request.path, current)
    active = [(key, value, links.toggle(key, value)) for key in FILTERS if (value := current[key])]
    active += [("tags", tag, links.toggle("tags", tag)) for tag in tags]
    facets = [
        {"key": f.key, "label": f.label,
         "values": [(v, n, links.toggle(f.key, v), links.is_active(f.key, v)) for v, n in f.values]}
        for f in result.facets if f.values
    ]  # fmt: skip
    context = {
        "kind": kind,
        "title": "Models" if kind == RepoType.MODEL else "Datasets",
        "query": query,
        "result": result,
        "facets": facets,
        "sorts": SORTS,
        "active": active,
        "hidden": [(k, v) for k, v in current.items() if v and k not in ("q", "sort", "tags")],
        "tags_value": ",".join(tags),
        "page_range": _page_range(result.page, result.pages),
    }
    return render(request, "catalog/list.html", context)


class _FacetLinks:
    """URLs that select or unselect one facet value, keeping the other filters (and resetting the page).

    Built from plain dicts: a page has ~60 facet links, and copying a QueryDict for each costs milliseconds."""

    def __init__(self, path: str, current: dict) -> None:
        self.path = path
        self.current = current

    def is_active(self, key: str, value: str) -> bool:
        return value in self.current["tags"] if key == "tags" else self.current.get(key) == value

    def toggle(self, key: str, value: str) -> str:
        params = {k: v for k, v in self.current.items() if k != "tags" and v}
        tags = list(self.current["tags"])
        if key == "tags":
            tags = [t for t in tags if t != value] if value in tags else [*tags, value]
        elif params.get(key) == value:
            del params[key]
        else:
            params[key] = value
        if tags:
            params["tags"] = ",".join(tags)
        return f"{self.path}?{urlencode(params)}" if params else self.path


def _page_range(page: int, pages: int) -> list[int | None]:
    """1 … 4 5 [6] 7 8 … 20, with None for the gaps."""
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    result: list[int | None] = []
    for number in shown:
        if result and number - result[-1] > 1:
            result.append(None)
        result.append(number)
    return result
