"""Tokens are stored as sha256 hashes and checked in constant time; sign-in, sign-up and token creation are
rate limited (429 with Retry-After)."""

from __future__ import annotations

import hashlib
import inspect

import pytest
from django.test import Client

from hub.accounts import services


@pytest.mark.django_db
def test_tokens_are_stored_as_sha256_only(alice):
    from django.db import connection

    token, plaintext = services.issue_token(user=alice, name="ci", role="write")
    assert token.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    with connection.cursor() as cursor:  # no column of any row holds the plaintext
        cursor.execute("SELECT * FROM accounts_apitoken WHERE id = %s", [token.pk])
        row = cursor.fetchone()
    assert all(plaintext not in str(value) for value in row)
    assert token.prefix == plaintext[:8] and len(token.prefix) < 12  # a hint, far from the 40+ secret characters


@pytest.mark.django_db
def test_token_lookup_is_by_hash_and_compared_in_constant_time(alice):
    """The lookup is an equality on sha256(plaintext): the database never compares the secret itself, and the
    time it takes leaks at most the hash prefix of a guess, which tells an attacker nothing about the token.
    The final comparison uses hmac.compare_digest."""
    source = inspect.getsource(services.authenticate_token)
    assert "hmac.compare_digest" in source and "key_hash=digest" in source
    _, plaintext = services.issue_token(user=alice, name="ci")
    assert services.authenticate_token(plaintext).user == alice
    assert services.authenticate_token(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None
    assert services.authenticate_token("x" * 10_000) is None


def test_bad_tokens_get_401_not_anonymous_access(alice, api):
    response = api("hf_not_a_token").get("/api/v1/models")
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"


def test_revoked_tokens_stop_working(alice, api):
    token, plaintext = services.issue_token(user=alice, name="ci", role="write")
    services.revoke_token(token=token)
    assert api(plaintext).get("/api/v1/me").status_code == 401


# --- rate limits ---------------------------------------------------------------------------------------


@pytest.fixture
def fresh_limits(settings):
    import uuid

    settings.CELERY_KEY_PREFIX = f"ratelimit-test-{uuid.uuid4().hex[:8]}:"  # new counters for this test
    return settings


def test_sign_in_is_limited_per_username(alice, fresh_limits):
    fresh_limits.HUB_RATE_LOGIN = "3/minute"
    client = Client()
    statuses = [client.post("/login", {"username": "alice", "password": "wrong"}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.post("/login", {"username": "alice", "password": "correct-horse-battery"})
    assert response.status_code == 429  # the right password does not help while limited
    assert 1 <= int(response["Retry-After"]) <= 60
    # another account from the same client is still fine
    assert client.post("/login", {"username": "bob", "password": "x"}).status_code == 200


def test_sign_up_is_limited_per_client(db, fresh_limits):
    fresh_limits.HUB_RATE_SIGNUP = "2/hour"
    client = Client()
    for i in range(2):
        form = {"username": f"newbie{i}", "email": "", "password": "a-long-passphrase"}
        assert Client().post("/signup", form).status_code in (200, 302, 400)
    response = client.post("/signup", {"username": "newbie9", "email": "", "password": "a-long-passphrase"})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    from hub.accounts.models import User

    assert not User.objects.filter(username="newbie9").exists()


def test_token_creation_is_limited_per_user(alice, make_token, api, fresh_limits):
    fresh_limits.HUB_RATE_TOKENS = "2/hour"
    client = api(make_token(alice, "write"))
    codes = [client.post("/api/v1/tokens", {"name": f"t{i}"}, format="json").status_code for i in range(3)]
    assert codes == [201, 201, 429]
    response = client.post("/api/v1/tokens", {"name": "t9"}, format="json")
    assert response.json()["code"] == "rate_limited" and int(response["Retry-After"]) > 0
    web = Client()
    web.force_login(alice)
    assert web.post("/settings/tokens", {"name": "web", "role": "read"}).status_code == 429
