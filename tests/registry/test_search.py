import pytest

pytestmark = pytest.mark.django_db


def card(**fields) -> bytes:
    lines = [f"{k}: {v}" for k, v in fields.items() if k != "body"]
    return ("---\n" + "\n".join(lines) + "\n---\n" + fields.get("body", "")).encode()


@pytest.fixture
def catalog(alice, make_user, make_repo, alice_api):
    bob = make_user("bob")
    make_repo(
        alice,
        "sentiment-bert",
        files={
            "README.md": card(
                license="mit",
                pipeline_tag="text-classification",
                library_name="transformers",
                tags="[sentiment]",
                body="Classifies movie reviews as positive or negative.",
            )
        },
    )
    make_repo(
        alice,
        "tiny-llama",
        files={
            "README.md": card(
                license="apache-2.0",
                pipeline_tag="text-generation",
                library_name="transformers",
                base_model="alice/sentiment-bert",
                body="A small chat model.",
            )
        },
    )
    make_repo(
        bob,
        "embedder",
        files={
            "README.md": card(
                license="apache-2.0",
                pipeline_tag="feature-extraction",
                library_name="sentence-transformers",
                body="Sentence embeddings for semantic search.",
            )
        },
    )
    make_repo(bob, "secret-reviews", private=True, files={"README.md": card(body="movie reviews")})
    make_repo(alice, "reviews", type="dataset", files={"README.md": card(body="movie reviews data")})
    for _ in range(3):
        alice_api.post("/api/v1/models/bob/embedder/like")
    alice_api.post("/api/v1/models/alice/tiny-llama/like")
    return alice_api


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [r["id"] for r in response.json()["results"]]


def test_full_text_over_card_and_name(catalog, api):
    assert ids(api().get("/api/v1/models?q=reviews")) == ["alice/sentiment-bert"]
    assert ids(api().get("/api/v1/models?q=llama")) == ["alice/tiny-llama"]
    assert ids(api().get("/api/v1/models?q=semantic search")) == ["bob/embedder"]
    assert ids(api().get("/api/v1/datasets?q=reviews")) == ["alice/reviews"]


def test_filters(catalog, api):
    assert ids(api().get("/api/v1/models?owner=bob")) == ["bob/embedder"]
    assert ids(api().get("/api/v1/models?task=text-generation")) == ["alice/tiny-llama"]
    assert set(ids(api().get("/api/v1/models?license=apache-2.0"))) == {"alice/tiny-llama", "bob/embedder"}
    assert ids(api().get("/api/v1/models?library=sentence-transformers")) == ["bob/embedder"]
    assert ids(api().get("/api/v1/models?tags=sentiment,license:mit")) == ["alice/sentiment-bert"]
    assert ids(api().get("/api/v1/models?base_model=alice/sentiment-bert")) == ["alice/tiny-llama"]


def test_sorts_and_pagination(catalog, api):
    assert ids(api().get("/api/v1/models?sort=likes"))[:2] == ["bob/embedder", "alice/tiny-llama"]
    assert ids(api().get("/api/v1/models?sort=created&direction=asc"))[0] == "alice/sentiment-bert"
    first = api().get("/api/v1/models?sort=name&direction=asc&limit=2")
    assert first.json()["count"] == 3 and 'rel="next"' in first["Link"]
    second = api().get(first.json()["next"])
    assert ids(first) + ids(second) == ["alice/sentiment-bert", "alice/tiny-llama", "bob/embedder"]


def test_private_repos_only_for_members(catalog, api, make_token):
    from hub.accounts.models import User

    assert "bob/secret-reviews" not in ids(api().get("/api/v1/models?q=reviews"))
    bob_api = api(make_token(User.objects.get(username="bob")))
    assert "bob/secret-reviews" in ids(bob_api.get("/api/v1/models?q=reviews"))


def test_bad_search_parameters_are_400(api, db):
    assert api().get("/api/v1/models?sort=bogus").status_code == 400
    assert api().get("/api/v1/models?limit=0").status_code == 400
    assert api().get("/api/v1/models?page=abc").status_code == 400


def test_search_text_with_sql_wildcards(catalog, api):
    assert ids(api().get("/api/v1/models?q=%25")) == []
    assert ids(api().get("/api/v1/models?q=_")) == []


def test_nul_bytes_in_search_and_revisions_are_4xx_or_empty(api, alice_api, alice, make_repo):
    make_repo(alice, "m")
    assert api().get("/api/v1/models?q=%00").json()["count"] == 1  # NUL alone is an empty search
    assert api().get("/api/v1/models?owner=%00").json()["count"] == 0
    assert alice_api.get("/api/v1/models/alice/m/commits?revision=%00").status_code == 400
