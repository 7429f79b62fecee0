"""History: commits, one commit's changes, and the difference between any two versions."""

import re

import pytest

pytestmark = pytest.mark.django_db


def shas(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'class="commit-row" data-sha="([0-9a-f]{40})"', response.content.decode())


def test_commits_newest_first(hub, client):
    listed = shas(client.get("/alice/sentiment-bert/commits/main"))
    expected = list(hub["base"].commits.order_by("-created_at").values_list("sha", flat=True))
    assert listed == expected and len(listed) == 3
    assert shas(client.get("/alice/sentiment-bert/commits/main/src")) == expected[:1]  # only commits touching src/
    assert client.get("/alice/sentiment-bert/commits?rev=main")["Location"] == "/alice/sentiment-bert/commits/main"


def test_commits_pagination(hub, client, monkeypatch):
    from hub.catalog.views import history

    monkeypatch.setattr(history, "PER_PAGE", 2)
    first = client.get("/alice/sentiment-bert/commits/main")
    assert len(shas(first)) == 2 and 'rel="next"' in first.content.decode()
    assert len(shas(client.get("/alice/sentiment-bert/commits/main?page=2"))) == 1


def test_commit_page_shows_its_diff(hub, client):
    latest = hub["base"].commits.order_by("-created_at").first()
    html = client.get(f"/alice/sentiment-bert/commit/{latest.sha}").content.decode()
    assert "Bigger model" in html and "2</strong> files changed" in html
    assert '<span class="line del">-{&quot;hidden_size&quot;: 8}</span>' in html
    assert '<span class="line add">+{&quot;hidden_size&quot;: 16}</span>' in html
    first = hub["base"].commits.order_by("created_at").first()
    assert ".gitattributes" in client.get(f"/alice/sentiment-bert/commit/{first.sha}").content.decode()


def test_compare_two_versions(hub, client):
    html = client.get("/alice/sentiment-bert/compare?base=v1&head=main").content.decode()
    assert 'data-path="config.json"' in html and 'data-path="src/train.py"' in html
    assert "README.md" not in html.split('class="diff-summary"', 1)[1]
    assert '<span class="line add">+def train(steps):</span>' in html
    reverse = client.get("/alice/sentiment-bert/compare?base=main&head=v1").content.decode()
    assert "status-removed" in reverse


def test_compare_form_and_errors(hub, client):
    html = client.get("/alice/sentiment-bert/compare").content.decode()
    assert 'id="compare-base"' in html and '<option value="v1">' in html
    assert client.get("/alice/sentiment-bert/compare?base=nope&head=main").status_code == 404
    assert client.get("/alice/sentiment-bert/compare?base=main&head=main").status_code == 400
