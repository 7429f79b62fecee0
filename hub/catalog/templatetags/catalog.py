"""Template helpers of the catalog: page URLs of a repo, compact numbers, pagination links."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template

from hub.catalog import links

register = template.Library()

register.filter("repo_url", links.repo_path)
register.simple_tag(links.tree_path, name="tree_url")
register.simple_tag(links.blob_path, name="blob_url")
register.simple_tag(links.resolve_path, name="resolve_url")
register.simple_tag(links.commits_path, name="commits_url")
register.simple_tag(links.commit_path, name="commit_url")


@register.filter
def compact(number: int | None) -> str:
    """1234 → 1.2k, 5600000 → 5.6M."""
    n = int(number or 0)
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if abs(n) >= size:
            text = f"{n / size:.1f}".removesuffix(".0")
            return f"{text}{suffix}"
    return str(n)


@register.filter
def short_sha(sha: str) -> str:
    return (sha or "")[:7]


@register.simple_tag(takes_context=True)
def query_page(context, page: int) -> str:
    request = context["request"]
    query = request.GET.copy()
    query["page"] = str(page)
    return f"{request.path}?{urlencode(query, doseq=True)}"


@register.filter
def basename(path: str) -> str:
    return (path or "").rsplit("/", 1)[-1]
