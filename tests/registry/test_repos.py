import pytest

from hub.registry.models import Repo

pytestmark = pytest.mark.django_db


def test_create_repo_makes_main_with_a_first_commit(alice_api):
    response = alice_api.post("/api/v1/repos", {"name": "bert-tiny"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == "alice/bert-tiny" and body["type"] == "model" and len(body["sha"]) == 40
    refs = alice_api.get("/api/v1/models/alice/bert-tiny/refs").json()
    assert [(r["kind"], r["name"]) for r in refs] == [("branch", "main")]


@pytest.mark.parametrize("name", ["", "-x", "x-", ".x", "x.", "a--b", "a..b", "a/b", "a b", "ü", "x" * 97, "a\x00b"])
def test_invalid_names_are_rejected(alice_api, name):
    response = alice_api.post("/api/v1/repos", {"name": name}, format="json")
    assert response.status_code == 400, response.content
    assert Repo.objects.count() == 0


def test_valid_name_edge_cases(alice_api):
    for name in ["a", "A_b.c-d", "x" * 96, "v1.0"]:
        assert alice_api.post("/api/v1/repos", {"name": name}, format="json").status_code == 201


def test_duplicate_repo_is_409_case_insensitively(alice_api):
    alice_api.post("/api/v1/repos", {"name": "m"}, format="json")
    response = alice_api.post("/api/v1/repos", {"name": "M"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "repo_exists"


def test_same_name_for_model_and_dataset(alice_api):
    assert alice_api.post("/api/v1/repos", {"name": "x"}, format="json").status_code == 201
    assert alice_api.post("/api/v1/repos", {"name": "x", "type": "dataset"}, format="json").status_code == 201
    assert alice_api.get("/api/v1/datasets/alice/x").json()["type"] == "dataset"


def test_cannot_create_in_someone_elses_namespace(alice_api, make_user):
    make_user("bob")
    response = alice_api.post("/api/v1/repos", {"name": "m", "owner": "bob"}, format="json")
    assert response.status_code == 403


def test_org_write_member_can_create_read_member_cannot(alice_api, make_user, make_token, api):
    bob, carol = make_user("bob"), make_user("carol")
    alice_api.post("/api/v1/orgs", {"name": "acme"}, format="json")
    alice_api.post("/api/v1/orgs/acme/members", {"username": "bob", "role": "write"}, format="json")
    alice_api.post("/api/v1/orgs/acme/members", {"username": "carol", "role": "read"}, format="json")
    assert api(make_token(bob)).post("/api/v1/repos", {"name": "m", "owner": "acme"}, format="json").status_code == 201
    response = api(make_token(carol)).post("/api/v1/repos", {"name": "n", "owner": "acme"}, format="json")
    assert response.status_code == 403


def test_private_repo_is_404_to_others_and_listed_only_for_owner(alice_api, make_user, make_token, api):
    alice_api.post("/api/v1/repos", {"name": "secret", "private": True}, format="json")
    eve = api(make_token(make_user("eve")))
    for client in (eve, api()):
        assert client.get("/api/v1/models/alice/secret").status_code == 404
        assert client.get("/api/v1/models/alice/secret/tree").status_code == 404
        assert client.get("/api/v1/models/alice/secret/files/.gitattributes").status_code == 404
        assert client.get("/api/v1/models?q=secret").json()["count"] == 0
    assert alice_api.get("/api/v1/models?q=secret").json()["count"] == 1


def test_visibility_change_and_delete_need_admin(alice_api, make_user, make_token, api):
    alice_api.post("/api/v1/repos", {"name": "m"}, format="json")
    bob = api(make_token(make_user("bob")))
    assert bob.patch("/api/v1/models/alice/m", {"private": True}, format="json").status_code == 403
    assert bob.delete("/api/v1/models/alice/m").status_code == 403
    assert alice_api.patch("/api/v1/models/alice/m", {"private": True}, format="json").json()["private"] is True
    assert bob.get("/api/v1/models/alice/m").status_code == 404
    assert alice_api.delete("/api/v1/models/alice/m").status_code == 204
    assert alice_api.get("/api/v1/models/alice/m").status_code == 404


def test_rename_redirects_old_name(alice_api):
    alice_api.post("/api/v1/repos", {"name": "old"}, format="json")
    response = alice_api.post("/api/v1/models/alice/old/move", {"to": "alice/new"}, format="json")
    assert response.status_code == 200 and response.json()["id"] == "alice/new"
    redirect = alice_api.get("/api/v1/models/alice/old/tree?recursive=1")
    assert redirect.status_code == 307
    assert redirect["Location"] == "/api/v1/models/alice/new/tree?recursive=1"
    assert alice_api.get(redirect["Location"]).status_code == 200


def test_new_repo_can_reclaim_a_redirected_name(alice_api):
    alice_api.post("/api/v1/repos", {"name": "old"}, format="json")
    alice_api.post("/api/v1/models/alice/old/move", {"to": "alice/new"}, format="json")
    assert alice_api.post("/api/v1/repos", {"name": "old"}, format="json").status_code == 201
    assert alice_api.get("/api/v1/models/alice/old").json()["id"] == "alice/old"


def test_read_token_cannot_create_or_commit(api, alice, make_token, make_repo):
    make_repo(alice, "m")
    reader = api(make_token(alice, "read"))
    assert reader.post("/api/v1/repos", {"name": "x"}, format="json").status_code == 403
    ops = {"operations": [{"op": "add", "path": "a.txt", "content": "a"}]}
    assert reader.post("/api/v1/models/alice/m/commits", ops, format="json").status_code == 403
    assert reader.get("/api/v1/models/alice/m").status_code == 200


def test_likes_are_counted_once_per_user(alice_api, alice, make_repo):
    make_repo(alice, "m")
    assert alice_api.post("/api/v1/models/alice/m/like").json()["likes"] == 1
    assert alice_api.post("/api/v1/models/alice/m/like").json()["likes"] == 1
    assert alice_api.delete("/api/v1/models/alice/m/like").json()["likes"] == 0


def test_unknown_repo_and_kind(alice_api):
    assert alice_api.get("/api/v1/models/alice/nope").json()["code"] == "repo_not_found"
    assert alice_api.get("/api/v1/spaces/alice/nope").status_code == 404
