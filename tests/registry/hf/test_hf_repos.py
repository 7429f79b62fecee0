"""Identity and repo management through the real huggingface_hub client."""

import pytest
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

pytestmark = pytest.mark.django_db(transaction=True)


def test_whoami(hf):
    me = hf.whoami()
    assert me["name"] == "alice"
    assert me["auth"]["accessToken"]["role"] == "write"


def test_whoami_with_bad_token(hf_as):
    with pytest.raises(HfHubHTTPError):
        hf_as("hf_bogus").whoami()


def test_create_repo_409_and_exist_ok(hf, hub_url):
    url = hf.create_repo("m")
    assert str(url) == f"{hub_url}/alice/m" and url.repo_id == "alice/m"
    with pytest.raises(HfHubHTTPError) as info:
        hf.create_repo("m")
    assert info.value.response.status_code == 409
    assert hf.create_repo("m", exist_ok=True).repo_id == "alice/m"
    assert hf.create_repo("d", repo_type="dataset").repo_type == "dataset"


def test_private_repo_is_not_found_for_others(hf, hf_as, make_user, make_token):
    hf.create_repo("secret", private=True)
    assert hf.model_info("alice/secret").private is True
    for other in (hf_as(None), hf_as(make_token(make_user("eve"), "read"))):
        with pytest.raises(RepositoryNotFoundError):
            other.model_info("alice/secret")
        with pytest.raises(RepositoryNotFoundError):
            other.list_repo_commits("alice/secret")
        assert [m.id for m in other.list_models(search="secret")] == []
        assert other.repo_exists("alice/secret") is False


def test_update_visibility_move_and_delete(hf, hf_as):
    hf.create_repo("m")
    hf.update_repo_settings("alice/m", private=True)
    assert hf.model_info("alice/m").private is True
    with pytest.raises(RepositoryNotFoundError):
        hf_as(None).model_info("alice/m")
    hf.update_repo_settings("alice/m", private=False)
    hf.move_repo("alice/m", "alice/renamed")
    assert hf.model_info("alice/renamed").id == "alice/renamed"
    assert hf.model_info("alice/m").id == "alice/renamed"  # the old name redirects
    hf.delete_repo("alice/renamed")
    with pytest.raises(RepositoryNotFoundError):
        hf.model_info("alice/renamed")
    hf.delete_repo("alice/renamed", missing_ok=True)


def test_read_token_gets_403_on_writes(hf, hf_as, alice, make_token):
    hf.create_repo("m")
    reader = hf_as(make_token(alice, "read"))
    assert reader.model_info("alice/m").id == "alice/m"
    for call in (
        lambda: reader.create_repo("other"),
        lambda: reader.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id="alice/m"),
        lambda: reader.create_branch("alice/m", branch="dev"),
        lambda: reader.delete_repo("alice/m"),
    ):
        with pytest.raises(HfHubHTTPError) as info:
            call()
        assert info.value.response.status_code == 403


def test_list_models_search_author_filter_sort(hf, hf_as):
    readme = b"---\nlicense: mit\npipeline_tag: text-classification\ntags: [sentiment]\n---\n"
    for name in ("sentiment-a", "sentiment-b", "other"):
        hf.create_repo(name)
    hf.upload_file(path_or_fileobj=readme, path_in_repo="README.md", repo_id="alice/sentiment-a")
    assert sorted(m.id for m in hf.list_models(search="sentiment")) == ["alice/sentiment-a", "alice/sentiment-b"]
    assert [m.id for m in hf.list_models(filter="sentiment")] == ["alice/sentiment-a"]
    assert [m.id for m in hf.list_models(filter=["license:mit", "text-classification"])] == ["alice/sentiment-a"]
    assert len(list(hf.list_models(author="alice", limit=2))) == 2
    full = next(iter(hf.list_models(search="sentiment-a", full=True, cardData=True)))
    assert full.card_data["license"] == "mit" and len(full.sha) == 40
    assert full.last_modified is not None and full.pipeline_tag == "text-classification"
    assert [m.id for m in hf.list_models(sort="created_at", author="alice")][0] == "alice/other"


def test_list_pagination_link_header(client, alice, make_repo):
    for i in range(5):
        make_repo(alice, f"m{i}")
    response = client.get("/api/models?author=alice&limit=2")
    assert response.status_code == 200 and len(response.json()) == 2
    link = response["Link"]
    assert 'rel="next"' in link and "author=alice" in link and "limit=2" in link
    seen = [m["id"] for m in response.json()]
    while "Link" in response:
        response = client.get(response["Link"].split(";")[0].strip("<>"))
        seen += [m["id"] for m in response.json()]
    assert sorted(seen) == [f"alice/m{i}" for i in range(5)]
    assert all(m["lastModified"].endswith("Z") for m in response.json())


def test_validate_yaml_and_agent_harnesses(client):
    assert client.get("/api/agent-harnesses").json() == {"standardEnvVars": [], "harnesses": {}}
    ok = client.post("/api/validate-yaml", {"content": "---\nlicense: mit\n---\n", "repoType": "model"},
                     content_type="application/json")  # fmt: skip
    assert ok.json() == {"errors": [], "warnings": []}
    bad = client.post("/api/validate-yaml", {"content": "---\nlicense: [x\n---\n"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["errors"]
    garbage = client.post("/api/validate-yaml", "{nope", content_type="application/json")
    assert garbage.status_code == 400 and garbage["Content-Type"] == "application/json"


def test_409_body_carries_url(client, alice, make_token, make_repo):
    make_repo(alice, "m")
    response = client.post("/api/repos/create", {"name": "m"}, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {make_token(alice)}")  # fmt: skip
    assert response.status_code == 409 and response.json()["url"].endswith("/alice/m")
