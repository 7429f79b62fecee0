"""Syntax highlighting with Pygments, for file views and code blocks in cards.

The colours live in static/catalog/highlight.css, generated from the Pygments style by
`python -m hub.catalog.highlight > static/catalog/highlight.css` (a test keeps the two in step).
"""

from __future__ import annotations

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name, get_lexer_for_filename
from pygments.util import ClassNotFound

STYLE = "default"
MAX_HIGHLIGHT_BYTES = 512 * 1024  # larger text files are shown plain
EXTRA_FILENAMES = {".gitattributes": "text", "LICENSE": "text", "Makefile": "make", "Dockerfile": "docker"}


def is_text(data: bytes) -> bool:
    if b"\0" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _lexer_for(path: str, text: str):
    name = path.rsplit("/", 1)[-1]
    try:
        if name in EXTRA_FILENAMES:
            return get_lexer_by_name(EXTRA_FILENAMES[name], stripnl=False)
        return get_lexer_for_filename(name, text[:4096], stripnl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False)


def highlight_file(path: str, text: str) -> str:
    """A <table> of line numbers (anchors #L1, #L2, …) and highlighted code; Pygments escapes the text."""
    lexer = _lexer_for(path, text) if len(text) <= MAX_HIGHLIGHT_BYTES else TextLexer(stripnl=False)
    formatter = HtmlFormatter(
        style=STYLE, linenos="table", lineanchors="L", anchorlinenos=True, wrapcode=True, cssclass="highlight"
    )
    return highlight(text, lexer, formatter)


def highlight_snippet(code: str, lang: str, attrs: str = "") -> str:
    """markdown-it `highlight` hook: spans only (markdown-it wraps them in <pre><code>); '' lets it escape."""
    if not lang:
        return ""
    try:
        lexer = get_lexer_by_name(lang.split()[0], stripnl=False)
    except ClassNotFound:
        return ""
    return highlight(code, lexer, HtmlFormatter(style=STYLE, nowrap=True))


def stylesheet() -> str:
    rules = HtmlFormatter(style=STYLE).get_style_defs([".highlight", ".markdown pre"])
    return f"/* Generated from Pygments' '{STYLE}' style by `python -m hub.catalog.highlight`. */\n{rules}\n"


if __name__ == "__main__":
    print(stylesheet(), end="")
