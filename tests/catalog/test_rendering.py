"""Markdown rendering and sanitising, highlighting, snippets: pure functions."""

import pytest

from hub.catalog.highlight import highlight_file, is_text, stylesheet
from hub.catalog.markdown import render_markdown

ATTACKS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<svg onload="alert(1)"><circle/></svg>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="https://evil.example"><input name="password"></form>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    "<details open ontoggle=alert(1)>x</details>",
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<a href="https://example.org" target="_blank" id="new-token-value" class="topbar">x</a>',
    "[x](javascript:alert(1))",
    "![x](javascript:alert(1))",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_are_neutralised(attack):
    html = render_markdown(attack).lower()
    for bad in (
        "<script",
        "onerror",
        "onload",
        "ontoggle",
        'href="javascript',
        'src="javascript',
        "<iframe",
        "<object",
        "<embed",
        "<form",
        "<input",
        "style=",
        "<base",
        "<meta",
        "data:text",
        'id="',
        "class=",
    ):
        assert bad not in html, (attack, html)


def test_markdown_features():
    html = render_markdown(
        "# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ **bold** `code`\n\n```python\nx = 1\n```\n"
    )
    assert "<h1>T</h1>" in html and "<table>" in html and "<td>1</td>" in html
    assert "<s>old</s>" in html and "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert '<span class="n">x</span>' in html  # highlighted code keeps Pygments' classes


def test_links_are_rel_nofollow_and_relative_ones_point_into_the_repo():
    html = render_markdown(
        "[a](https://x.org) [b](docs/b.md) [c](#sec) [d](../../../etc/passwd)", link_base="/r/blob/s"
    )
    assert 'href="https://x.org" rel="noopener noreferrer nofollow"' in html
    assert 'href="/r/blob/s/docs/b.md"' in html and 'href="#sec"' in html and "etc/passwd" not in html


def test_is_text():
    assert is_text(b"hello\n") and not is_text(b"\x00\x01") and not is_text(b"\xff\xfe\xfa")


def test_highlight_escapes():
    html = highlight_file("a.html", "<script>x</script>")
    assert "<script" not in html and "&lt;" in html


def test_stylesheet_is_in_step_with_pygments():
    from pathlib import Path

    committed = Path(__file__).resolve().parents[2] / "static" / "catalog" / "highlight.css"
    assert committed.read_text() == stylesheet(), "run: python -m hub.catalog.highlight > static/catalog/highlight.css"


def test_snippets_for_private_repo_mention_a_token():
    from hub.catalog.snippets import usage_snippets
    from hub.registry.models import Repo

    repo = Repo(type="model", full_name="a/b", private=True, pipeline_tag="", library_name="peft")
    snippets = {s.key: s for s in usage_snippets(repo, "https://hub.example", files={"adapter_config.json"})}
    assert "HF_TOKEN" in snippets["hub"].code and "AutoPeftModel" in snippets["transformers"].code
    assert "https://hub.example/a/b/resolve/main/adapter_config.json" in snippets["curl"].code
    assert "Authorization: Bearer $HF_TOKEN" in snippets["curl"].code
    assert not snippets["openai"].available
    with_endpoint = usage_snippets(repo, "https://hub.example", files=set(), endpoint_url="https://hub.example/v1")
    assert with_endpoint[-1].available and 'base_url="https://hub.example/v1"' in with_endpoint[-1].code
