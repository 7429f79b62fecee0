"""/models and /datasets: search, facets with counts, sorts, pagination; the home page."""

import re

import pytest

from tests.catalog.pages import facet, names

pytestmark = pytest.mark.django_db


def test_models_lists_public_models_with_total(hub, client):
    response = client.get("/models")
    assert set(names(response)) == {
        "alice/sentiment-bert", "alice/sentiment-bert-ft", "alice/sentiment-lora", "bob/embedder", "acme/acme-model"
    }  # fmt: skip
    assert re.search(r'id="result-count">5<', response.content.decode())


def test_facet_counts(hub, client):
    response = client.get("/models")
    assert facet(response, "task") == {"text-classification": 2, "feature-extraction": 1}
    assert facet(response, "library") == {"transformers": 3, "peft": 1, "sentence-transformers": 1}
    assert facet(response, "license") == {"apache-2.0": 2, "mit": 1}
    assert facet(response, "base_model") == {"alice/sentiment-bert": 2}
    assert facet(response, "owner") == {"alice": 3, "acme": 1, "bob": 1}
    tags = facet(response, "tags")
    assert tags["sentiment"] == 1 and "transformers" not in tags and not any(t.startswith("license:") for t in tags)


def test_search_and_filters_combine(hub, client):
    assert names(client.get("/models?q=movie reviews")) == ["alice/sentiment-bert"]
    assert names(client.get("/models?q=embedder")) == ["bob/embedder"]
    assert set(names(client.get("/models?task=text-classification"))) == {
        "alice/sentiment-bert", "alice/sentiment-bert-ft"
    }  # fmt: skip
    filtered = client.get("/models?task=text-classification&license=apache-2.0")
    assert names(filtered) == ["alice/sentiment-bert-ft"]
    assert facet(filtered, "task") == {"text-classification": 1}
    assert set(names(client.get("/models?base_model=alice/sentiment-bert"))) == {
        "alice/sentiment-bert-ft", "alice/sentiment-lora"
    }  # fmt: skip
    assert names(client.get("/models?tags=sentiment")) == ["alice/sentiment-bert"]
    assert names(client.get("/models?owner=bob")) == ["bob/embedder"]
    assert names(client.get("/models?library=peft")) == ["alice/sentiment-lora"]


def test_active_filters_link_back_and_facet_toggles(hub, client):
    html = client.get("/models?task=text-classification&q=bert").content.decode()
    assert 'href="/models?q=bert"' in html  # removing the task filter keeps the search
    assert 'class="facet-value active"' in html


def test_sorts(hub, client):
    assert names(client.get("/models?sort=likes"))[0] == "bob/embedder"
    assert names(client.get("/models?sort=created"))[0] == "acme/acme-model"
    assert names(client.get("/models?sort=updated"))[0] == "acme/acme-model"
    assert names(client.get("/models?sort=bogus"))  # unknown sort falls back to trending


def test_pagination(hub, client, make_repo, monkeypatch):
    from hub.catalog import selectors

    monkeypatch.setattr(selectors, "PER_PAGE", 2)
    first, second, third = (names(client.get(f"/models?sort=created&page={n}")) for n in (1, 2, 3))
    assert len(first) == len(second) == 2 and len(third) == 1
    assert len(set(first + second + third)) == 5
    html = client.get("/models?sort=created&page=2").content.decode()
    assert 'rel="next"' in html and 'rel="prev"' in html and 'aria-current="page" class="current">2<' in html
    assert names(client.get("/models?sort=created&page=99")) == third  # past the end: the last page
    assert names(client.get("/models?page=abc"))


def test_datasets_page(hub, client):
    assert names(client.get("/datasets")) == ["alice/reviews"]


def test_home_sections(hub, client):
    html = client.get("/").content.decode()
    for heading in ("Trending", "Most downloaded", "Recently updated"):
        assert heading in html
    assert 'href="/bob/embedder"' in html and 'href="/datasets/alice/reviews"' in html
    assert "alice-secret" not in html


def test_counts_are_cached_but_private_counts_are_live(hub, client_for, make_repo):
    alice = hub["alice"]
    client = client_for(alice)
    assert facet(client.get("/models"), "owner")["alice"] == 4  # with her private model
    make_repo(alice, "brand-new", private=True)
    assert facet(client.get("/models"), "owner")["alice"] == 5  # private part counted live
