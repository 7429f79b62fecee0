import pytest
from django.core.management import call_command

from hub.accounts.models import ApiToken
from hub.accounts.services import hash_token

pytestmark = pytest.mark.django_db


def test_token_is_shown_once_and_stored_only_as_hash(alice_api, alice):
    response = alice_api.post("/api/v1/tokens", {"name": "laptop", "role": "read"}, format="json")
    assert response.status_code == 201
    plaintext = response.json()["token"]
    token = ApiToken.objects.get(pk=response.json()["id"])
    assert token.key_hash == hash_token(plaintext)
    assert plaintext not in {token.key_hash, token.prefix}
    listed = alice_api.get("/api/v1/tokens").json()
    assert all("token" not in t for t in listed)
    assert {t["name"] for t in listed} == {"test", "laptop"}


def test_bearer_token_authenticates_and_records_last_use(api, alice, make_token):
    plaintext = make_token(alice, "read")
    response = api(plaintext).get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert response.json()["token_role"] == "read"
    assert ApiToken.objects.get(key_hash=hash_token(plaintext)).last_used_at is not None


def test_revoked_token_is_refused(api, alice, make_token, alice_api):
    plaintext = make_token(alice, "write", name="doomed")
    token = ApiToken.objects.get(key_hash=hash_token(plaintext))
    assert alice_api.delete(f"/api/v1/tokens/{token.pk}").json()["active"] is False
    response = api(plaintext).get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_bad_token_gets_401_json(api):
    response = api("hf_not-a-real-token").get("/api/v1/me")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert "error" in response.json()


def test_anonymous_gets_401_on_private_api(api):
    response = api().get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_read_token_cannot_write(api, alice, make_token):
    response = api(make_token(alice, "read")).post("/api/v1/tokens", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "read_only_token"


def test_malformed_json_gets_400(alice_api):
    response = alice_api.generic("POST", "/api/v1/tokens", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed"


def test_invalid_role_gets_400(alice_api):
    response = alice_api.post("/api/v1/tokens", {"name": "x", "role": "root"}, format="json")
    assert response.status_code == 400
    assert "role" in response.json()["error"]


def test_other_users_token_is_not_found(alice_api, make_user, make_token):
    bob = make_user("bob")
    make_token(bob, "write", name="bobs")
    bob_token = bob.tokens.get(name="bobs")
    assert alice_api.delete(f"/api/v1/tokens/{bob_token.pk}").status_code == 404
    assert ApiToken.objects.get(pk=bob_token.pk).revoked_at is None


def test_issue_token_command_creates_user_and_org_and_prints_only_the_token(capsys, api):
    call_command("issue_token", "carol", "--role", "write", "--org", "acme")
    plaintext = capsys.readouterr().out.strip()
    assert plaintext.startswith("hf_") and "\n" not in plaintext
    me = api(plaintext).get("/api/v1/me").json()
    assert me["username"] == "carol" and me["token_role"] == "write"
    assert me["orgs"] == [{"name": "acme", "role": "admin"}]
    call_command("issue_token", "carol", "--role", "read")
    assert api(capsys.readouterr().out.strip()).get("/api/v1/me").json()["token_role"] == "read"


def test_issue_token_command_rejects_bad_username():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("issue_token", "bad name!")


def test_bootstrap_creates_admin_once_and_prints_a_write_token(capsys, api, monkeypatch):
    monkeypatch.setenv("HUB_ADMIN_PASSWORD", "a-long-admin-password")
    call_command("bootstrap")
    first = capsys.readouterr().out
    assert "Created admin user 'admin'" in first
    token = first.strip().splitlines()[-1].split(": ")[-1]
    me = api(token).get("/api/v1/me").json()
    assert me["username"] == "admin" and me["token_role"] == "write" and me["is_admin"] is True
    call_command("bootstrap")
    assert "exists (password unchanged)" in capsys.readouterr().out


def test_reserved_names_cannot_become_users_or_orgs(alice_api):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("issue_token", "models")
    assert alice_api.post("/api/v1/orgs", {"name": "settings"}, format="json").status_code == 400
