"""Login and the token settings page with a session (the browser test drives the same pages in Chromium)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_login_and_token_page_with_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login")
    assert page.status_code == 200
    csrf = page.cookies["csrftoken"].value
    response = client.post("/login", {"username": "alice", "password": "correct-horse-battery",
                                      "csrfmiddlewaretoken": csrf})  # fmt: skip
    assert response.status_code == 302
    page = client.get("/settings/tokens")
    assert page.status_code == 200
    csrf = client.cookies["csrftoken"].value
    created = client.post("/settings/tokens", {"name": "ci", "role": "write", "csrfmiddlewaretoken": csrf})
    assert created.status_code == 302
    shown = client.get("/settings/tokens")
    assert b"hf_" in shown.content and b"will not be shown again" in shown.content
    assert shown["Cache-Control"] == "no-store"
    assert b"will not be shown again" not in client.get("/settings/tokens").content
    token = alice.tokens.get(name="ci")
    revoked = client.post(f"/settings/tokens/{token.pk}/revoke", {"csrfmiddlewaretoken": csrf})
    assert revoked.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_token_page_post_without_csrf_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/settings/tokens", {"name": "x"}).status_code == 403
    assert not alice.tokens.exists()


def test_token_page_requires_login():
    response = Client().get("/settings/tokens")
    assert response.status_code == 302 and response["Location"].startswith("/login")


def test_wrong_password_is_reported(alice):
    response = Client().post("/login", {"username": "alice", "password": "nope"})
    assert response.status_code == 200 and b"Wrong username or password" in response.content
