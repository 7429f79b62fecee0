"""Private repos never show to those who may not read them: lists, facet counts, search, lineage, pages (404)."""

import pytest

from tests.catalog.pages import names

pytestmark = pytest.mark.django_db

SECRETS = ("alice-secret", "secret-license", "secret-task", "secret-lib", "secret-tag", "bob-private-ft")
PAGES = ["/", "/models", "/models?q=hidden", "/models?base_model=alice/sentiment-bert", "/models?sort=likes",
         "/datasets", "/alice", "/bob", "/alice/sentiment-bert", "/alice/sentiment-bert/lineage"]  # fmt: skip
# These echo the secret in the search box or the active filters, so they are checked by their results.
SEARCHES = ["/models?q=secret", "/models?license=secret-license", "/models?task=secret-task",
            "/models?tags=secret-tag", "/models?library=secret-lib", "/models?owner=alice&q=hidden"]  # fmt: skip
PRIVATE_PAGES = ["", "/tree/main", "/blob/main/README.md", "/commits/main", "/compare",
                 "/lineage", "/upload", "/tree/main/missing"]  # fmt: skip


def visible_secrets(client) -> set[str]:
    found = set()
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
        found |= {s for s in SECRETS if s in response.content.decode()}
    return found


def test_anonymous_sees_no_private_repo_anywhere(hub, client):
    assert visible_secrets(client) == set()
    for url in SEARCHES:
        response = client.get(url)
        assert names(response) == [], url
        assert 'id="result-count">0<' in response.content.decode()


def test_other_users_see_only_their_own_private_repos(hub, client_for):
    assert visible_secrets(client_for(hub["bob"])) == {"bob-private-ft", "secret-license"}
    assert visible_secrets(client_for(hub["alice"])) >= {"alice-secret", "secret-task", "secret-lib", "secret-tag"}


@pytest.mark.parametrize("suffix", PRIVATE_PAGES)
def test_private_pages_are_404_for_others(hub, client_for, suffix):
    for client in (client_for(None), client_for(hub["bob"])):
        response = client.get(f"/alice/alice-secret{suffix}", HTTP_ACCEPT="text/html")
        if suffix == "/upload" and response.status_code == 302:
            assert "/login" in response["Location"]  # anonymous: sign in first
            continue
        assert response.status_code == 404, suffix
        assert b"alice-secret" not in response.content or b"not found" in response.content
    assert client_for(hub["alice"]).get(f"/alice/alice-secret{suffix.replace('/missing', '')}").status_code == 200


def test_private_and_missing_repos_answer_the_same(hub, client):
    private = client.get("/alice/alice-secret", HTTP_ACCEPT="text/html")
    missing = client.get("/alice/no-such-model", HTTP_ACCEPT="text/html")
    assert private.status_code == missing.status_code == 404
    assert private.content.replace(b"alice-secret", b"X") == missing.content.replace(b"no-such-model", b"X")


def test_private_child_hidden_from_lineage_counts(hub, client_for):
    anonymous = client_for(None).get("/alice/sentiment-bert/lineage").content.decode()
    bob = client_for(hub["bob"]).get("/alice/sentiment-bert/lineage").content.decode()
    assert "bob-private-ft" not in anonymous and "2 models derived" in anonymous
    assert "bob-private-ft" in bob and "3 models derived" in bob


def test_org_private_repo_visible_to_members(hub, client_for, make_repo, make_user):
    make_repo(hub["org"], "acme-internal", private=True)
    assert "acme-internal" in client_for(hub["bob"]).get("/acme").content.decode()
    assert "acme-internal" not in client_for(hub["alice"]).get("/acme").content.decode()
    assert client_for(hub["alice"]).get("/acme/acme-internal").status_code == 404
