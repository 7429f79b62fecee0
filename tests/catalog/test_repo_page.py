"""The model page: rendered and sanitised card, side panel, snippets, like button, lineage, renamed repos."""

import pytest

from tests.catalog.conftest import card

pytestmark = pytest.mark.django_db

EVIL = b"""---
license: mit
---
# Evil card

<script>document.title='pwned'</script>
<img src=x onerror="document.title='pwned'">

<a href="javascript:alert(1)">click</a> [md link](javascript:alert(1))
<div onmouseover="x()" style="position:fixed">hover</div>

<iframe src="https://example.org"></iframe>

See [the config](config.json) and ![a chart](images/chart.png).
"""


def test_card_rendered_from_markdown(hub, client):
    html = client.get("/alice/sentiment-bert").content.decode()
    assert "<h1>Sentiment BERT</h1>" in html and "<p>Classifies movie reviews.</p>" in html
    assert "pipeline_tag:" not in html  # front matter is not part of the body


def test_card_is_sanitised(alice, make_repo, client):
    make_repo(alice, "evil", files={"README.md": EVIL})
    html = client.get("/alice/evil").content.decode()
    card_html = html.split('id="model-card">', 1)[1].split("</article>", 1)[0]
    for bad in ("<script", "onerror", 'href="javascript:', "onmouseover", "<iframe", "style=", "pwned"):
        assert bad not in card_html, bad
    assert "<a rel=" in card_html  # the raw <a href="javascript:…"> lost its href
    assert "<h1>Evil card</h1>" in card_html
    sha = client.get("/alice/evil/commits/main").content.decode().split('data-sha="', 1)[1][:40]
    assert f'href="/alice/evil/blob/{sha}/config.json"' in card_html  # relative links point into the repo
    assert f'src="/alice/evil/resolve/{sha}/images/chart.png"' in card_html


def test_side_panel(hub, client):
    html = client.get("/alice/sentiment-bert").content.decode()
    panel = html.split('class="side-panel"', 1)[1]
    for text in ("text-classification", "mit", "transformers", "Downloads", "Likes", "Size"):
        assert text in panel
    assert "4 files" in panel
    assert "1 fine-tune" in panel and "1 adapter" in panel  # model tree: visible children only


def test_child_shows_its_base_model(hub, client):
    panel = client.get("/alice/sentiment-bert-ft").content.decode().split('class="side-panel"', 1)[1]
    assert 'href="/alice/sentiment-bert"' in panel and "finetune" in panel


def test_use_this_model_snippets_name_this_hub(hub, client):
    html = client.get("/alice/sentiment-bert").content.decode()
    assert "HF_ENDPOINT&quot;] = &quot;http://testserver&quot;" in html
    assert "pipeline(&quot;text-classification&quot;, model=&quot;alice/sentiment-bert&quot;)" in html
    assert "curl -L" in html and "http://testserver/alice/sentiment-bert/resolve/main/config.json" in html
    assert "Available once an inference endpoint serves this model." in html
    for feature in ("finetune", "compress", "deploy"):
        assert f'data-feature="{feature}"' in html
    assert 'href="/endpoints/new?model=alice/sentiment-bert"' in html


def test_dataset_page(hub, client):
    html = client.get("/datasets/alice/reviews").content.decode()
    assert "Movie reviews." in html and "load_dataset(&quot;alice/reviews&quot;)" in html
    assert "Lineage" not in html
    assert client.get("/alice/reviews").status_code == 404  # a dataset is not a model


def test_empty_repo_page(alice, make_repo, client_for):
    make_repo(alice, "empty")
    html = client_for(alice).get("/alice/empty").content.decode()
    assert "No model card yet" in html and 'href="/alice/empty/upload"' in html


def test_like_and_unlike(hub, client_for):
    bob = client_for(hub["bob"])
    response = bob.post("/alice/sentiment-bert/like", {"action": "like"})
    assert response.status_code == 302 and response["Location"] == "/alice/sentiment-bert"
    html = bob.get("/alice/sentiment-bert").content.decode()
    assert 'aria-pressed="true"' in html and 'id="like-count">1<' in html
    bob.post("/alice/sentiment-bert/like", {"action": "unlike"})
    assert 'id="like-count">0<' in bob.get("/alice/sentiment-bert").content.decode()


def test_like_needs_sign_in_and_post(hub, client):
    response = client.post("/alice/sentiment-bert/like")
    assert response.status_code == 302 and response["Location"].startswith("/login")
    assert client.get("/alice/sentiment-bert/like").status_code == 405


def test_like_needs_csrf(hub, client_for):
    assert client_for(hub["bob"], enforce_csrf_checks=True).post("/alice/sentiment-bert/like").status_code == 403


def test_lineage_tab(hub, client, make_repo):
    make_repo(hub["bob"], "ft-of-ft", files={"README.md": card("x", base_model="alice/sentiment-bert-ft")})
    html = client.get("/alice/sentiment-bert-ft/lineage").content.decode()
    above, below = html.split('aria-current="page">alice/sentiment-bert-ft<', 1)
    assert 'href="/alice/sentiment-bert"' in above
    assert 'href="/bob/ft-of-ft"' in below and "Fine-tunes <span" not in below  # one: "Fine-tune"
    base = client.get("/alice/sentiment-bert/lineage").content.decode()
    assert 'id="finetune"' in base and 'id="adapter"' in base and "2 models derived" in base


def test_lineage_with_a_base_model_outside_this_hub(alice, make_repo, client):
    make_repo(alice, "llama-ft", files={"README.md": card("x", base_model="meta-llama/Llama-3.2-1B")})
    html = client.get("/alice/llama-ft/lineage").content.decode()
    assert "meta-llama/Llama-3.2-1B" in html and "not on this hub" in html


def test_renamed_repo_redirects(hub, client):
    from hub.registry.services.repos import move_repo

    move_repo(repo=hub["base"], namespace=hub["alice"].namespace, name="sentiment-bert-v2")
    response = client.get("/alice/sentiment-bert/tree/main?x=1")
    assert response.status_code == 302 and response["Location"] == "/alice/sentiment-bert-v2/tree/main?x=1"
