import pytest

pytestmark = pytest.mark.django_db


def test_org_creator_is_admin_and_can_add_members(alice_api, make_user):
    make_user("bob")
    assert alice_api.post("/api/v1/orgs", {"name": "acme"}, format="json").status_code == 201
    response = alice_api.post("/api/v1/orgs/acme/members", {"username": "bob", "role": "write"}, format="json")
    assert response.status_code == 200
    members = alice_api.get("/api/v1/orgs/acme/members").json()
    assert members == [{"username": "alice", "role": "admin"}, {"username": "bob", "role": "write"}]


def test_org_name_cannot_take_a_user_name(alice_api):
    response = alice_api.post("/api/v1/orgs", {"name": "ALICE"}, format="json")
    assert response.status_code == 409


def test_non_admin_member_cannot_manage_members(alice_api, make_user, make_token, api):
    bob = make_user("bob")
    make_user("carol")
    alice_api.post("/api/v1/orgs", {"name": "acme"}, format="json")
    alice_api.post("/api/v1/orgs/acme/members", {"username": "bob", "role": "write"}, format="json")
    bob_api = api(make_token(bob))
    response = bob_api.post("/api/v1/orgs/acme/members", {"username": "carol", "role": "admin"}, format="json")
    assert response.status_code == 403


def test_outsider_sees_org_as_not_found(alice_api, make_user, make_token, api):
    alice_api.post("/api/v1/orgs", {"name": "acme"}, format="json")
    eve = api(make_token(make_user("eve")))
    assert eve.get("/api/v1/orgs/acme").status_code == 404
    assert eve.get("/api/v1/orgs/acme/members").status_code == 404


def test_adding_unknown_user_is_404(alice_api):
    alice_api.post("/api/v1/orgs", {"name": "acme"}, format="json")
    response = alice_api.post("/api/v1/orgs/acme/members", {"username": "ghost"}, format="json")
    assert response.status_code == 404
    assert "ghost" in response.json()["error"]
