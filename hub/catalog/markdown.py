"""Model cards to safe HTML: markdown-it-py renders (CommonMark + tables), nh3 sanitises.

Cards may hold raw HTML (many public cards do); nh3 keeps a conservative set of tags and attributes, drops
every event handler and `style`, allows only http(s)/mailto URLs, and rewrites relative links and images so
that they point into the repo at the commit being shown.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote, urlsplit

import nh3
from markdown_it import MarkdownIt
from pygments.token import STANDARD_TYPES

from hub.catalog.highlight import highlight_snippet

TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area"}
ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
ATTRIBUTES["*"] = {"title", "lang", "dir"}
ATTRIBUTES["a"] = {"href", "hreflang"}
ATTRIBUTES["img"] = {"src", "alt", "width", "height", "align"}
for _tag in ("div", "p", "h1", "h2", "h3", "h4", "h5", "h6"):
    ATTRIBUTES.setdefault(_tag, set()).add("align")
# Syntax-highlighted code keeps Pygments' short class names and nothing else (no `id`, no free `class`:
# a card must not be able to restyle or clobber the page around it).
CLASSES = {"span": {c for c in STANDARD_TYPES.values() if c}}
URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": True, "highlight": highlight_snippet}).enable(["table", "strikethrough"])


def _is_relative(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith(("/", "#", "?"))


def _rewriter(link_base: str | None, raw_base: str | None):
    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        target = None
        if tag == "a" and attribute == "href" and link_base:
            target = link_base
        elif tag == "img" and attribute == "src" and raw_base:
            target = raw_base
        if target is None or not _is_relative(value):
            return value
        parts = urlsplit(value)
        path = posixpath.normpath(parts.path).lstrip("/")
        if path.startswith(".."):
            return None
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        return f"{target}/{quote(path)}{fragment}"

    return rewrite


def render_markdown(text: str, *, link_base: str | None = None, raw_base: str | None = None) -> str:
    """Sanitised HTML for a card body. `link_base`/`raw_base` prefix relative links and images."""
    html = _markdown.render(text)
    return nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        allowed_classes=CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_rewriter(link_base, raw_base),
        strip_comments=True,
    )
