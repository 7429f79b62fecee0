"""Sign-up, and user and organisation pages."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_signup_creates_account_and_signs_in():
    client = Client(enforce_csrf_checks=True)
    csrf = client.get("/signup").cookies["csrftoken"].value
    response = client.post("/signup", {"username": "carol", "email": "c@example.org", "password": "a-long-passphrase",
                                       "password2": "a-long-passphrase", "csrfmiddlewaretoken": csrf,
                                       "next": "/models"})  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/models"
    assert "Sign out carol" in client.get("/").content.decode()
    from hub.accounts.models import Namespace

    assert Namespace.objects.filter(name="carol").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": "bad name"}, "may contain only"),
        ({"username": "models"}, "reserved"),
        ({"username": "alice"}, "taken"),
        ({"password2": "different-passphrase"}, "differ"),
        ({"password": "short", "password2": "short"}, "too short"),
        ({"password": "password123", "password2": "password123"}, "too common"),
    ],
)
def test_signup_errors(alice, client, data, message):
    form = {"username": "dave", "password": "a-long-passphrase", "password2": "a-long-passphrase"} | data
    response = client.post("/signup", form)
    assert response.status_code == 400 and message in response.content.decode()


def test_signup_ignores_foreign_next(client):
    form = {"username": "erin", "password": "a-long-passphrase", "password2": "a-long-passphrase",
            "next": "https://evil.example/"}  # fmt: skip
    assert client.post("/signup", form)["Location"] == "/"


def test_signup_can_be_closed(client, settings):
    settings.HUB_ALLOW_SIGNUP = False
    assert client.get("/signup").status_code == 403


def test_user_page(hub, client):
    html = client.get("/alice").content.decode()
    assert 'href="/alice/sentiment-bert"' in html and 'href="/datasets/alice/reviews"' in html
    assert "3 models" in html and "1 dataset" in html


def test_organisation_page(hub, client):
    html = client.get("/acme").content.decode()
    assert "Organisation" in html and 'href="/acme/acme-model"' in html and 'href="/bob"' in html
    assert 'href="/acme"' in client.get("/bob").content.decode()


def test_unknown_owner_is_404(client):
    assert client.get("/nobody", HTTP_ACCEPT="text/html").status_code == 404
