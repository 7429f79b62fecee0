"""Create a repo from the browser, and the upload page's protocol: blobs streamed to the API, then one commit."""

import hashlib

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def csrf_client(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/new")
    return client, client.cookies["csrftoken"].value


def test_new_repo_form(alice, make_user):
    from hub.accounts import services

    services.create_organisation(name="acme", creator=alice)
    client, csrf = csrf_client(alice)
    html = client.get("/new").content.decode()
    assert '<option value="alice"' in html and '<option value="acme"' in html
    response = client.post("/new", {"owner": "acme", "name": "my-model", "type": "model", "private": "on",
                                    "csrfmiddlewaretoken": csrf})  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/acme/my-model/upload"
    from hub.registry.models import Repo

    repo = Repo.objects.get(full_name="acme/my-model")
    assert repo.private and repo.type == "model"


def test_new_repo_errors_are_shown(alice, make_repo, make_user):
    make_repo(alice, "taken")
    client, csrf = csrf_client(alice)
    taken = client.post("/new", {"owner": "alice", "name": "taken", "type": "model", "csrfmiddlewaretoken": csrf})
    assert taken.status_code == 400 and "already exists" in taken.content.decode()
    bad = client.post("/new", {"owner": "alice", "name": "bad name", "type": "model", "csrfmiddlewaretoken": csrf})
    assert bad.status_code == 400 and "may contain only" in bad.content.decode()
    make_user("mallory")
    other = client.post("/new", {"owner": "mallory", "name": "x", "type": "model", "csrfmiddlewaretoken": csrf})
    assert other.status_code == 400  # not one of the choices: another user's namespace


def test_new_dataset(alice, client_for):
    response = client_for(alice).post("/new", {"owner": "alice", "name": "data", "type": "dataset"})
    assert response["Location"] == "/datasets/alice/data/upload"


def test_new_needs_sign_in(client):
    assert client.get("/new")["Location"].startswith("/login")


def test_upload_page_needs_write_access(hub, client_for):
    assert client_for(hub["bob"]).get("/alice/sentiment-bert/upload").status_code == 403
    page = client_for(hub["alice"]).get("/alice/sentiment-bert/upload?branch=main")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-commit-url="/api/v1/models/alice/sentiment-bert/commits"' in html
    assert 'data-blobs-url="/alice/sentiment-bert/upload/blob"' in html and "catalog/upload.js" in html


def test_browser_upload_protocol_with_session_and_csrf(alice, make_repo):
    """What upload.js does: each file to the page's blob route with the session cookie and X-CSRFToken, then one
    commit through the native API."""
    make_repo(alice, "up")
    client, csrf = csrf_client(alice)
    content = b"weights" * 1000
    url = "/alice/up/upload/blob"
    refused = client.post(url, content, content_type="application/octet-stream")
    assert refused.status_code == 403  # no CSRF token: a cross-site page cannot upload with the session
    blob = client.post(url, content, content_type="application/octet-stream", HTTP_X_CSRFTOKEN=csrf)
    assert blob.status_code == 201 and blob.json()["sha256"] == hashlib.sha256(content).hexdigest()
    commit = client.post(
        "/api/v1/models/alice/up/commits",
        {"branch": "main", "title": "Upload 1 file", "operations": [
            {"op": "add", "path": "weights/model.bin", "blob": blob.json()["sha256"]}]},
        content_type="application/json", HTTP_X_CSRFTOKEN=csrf,
    )  # fmt: skip
    assert commit.status_code == 201, commit.content
    assert 'data-path="weights/model.bin"' in client.get("/alice/up/tree/main/weights").content.decode()


def test_blob_route_needs_write_access_and_checks_hashes(hub, client_for):
    bob = client_for(hub["bob"])
    assert (
        bob.post("/alice/sentiment-bert/upload/blob", b"x", content_type="application/octet-stream").status_code == 403
    )
    alice = client_for(hub["alice"])
    wrong = alice.post("/alice/sentiment-bert/upload/blob", b"x", content_type="application/octet-stream",
                       HTTP_X_CONTENT_SHA256="0" * 64)  # fmt: skip
    assert wrong.status_code == 400 and wrong.json()["code"] == "hash_mismatch"
    assert alice.get("/alice/sentiment-bert/upload/blob").status_code == 405


def test_upload_to_a_new_branch_through_the_api_with_the_session(alice, make_repo):
    """The upload form's "new branch" option: create the branch, then commit to it (session + CSRF header)."""
    make_repo(alice, "up")
    client, csrf = csrf_client(alice)
    branch = client.post("/api/v1/models/alice/up/branches", {"name": "exp/one", "revision": "main"},
                         content_type="application/json", HTTP_X_CSRFTOKEN=csrf)  # fmt: skip
    assert branch.status_code == 201, branch.content
    blob = client.post("/alice/up/upload/blob", b"new", content_type="application/octet-stream", HTTP_X_CSRFTOKEN=csrf)
    commit = client.post(
        "/api/v1/models/alice/up/commits",
        {"branch": "exp/one", "title": "On a branch", "operations": [
            {"op": "add", "path": "x.txt", "blob": blob.json()["sha256"]}]},
        content_type="application/json", HTTP_X_CSRFTOKEN=csrf,
    )  # fmt: skip
    assert commit.status_code == 201
    assert 'data-path="x.txt"' in client.get("/alice/up/tree/exp/one").content.decode()
    assert 'data-path="x.txt"' not in client.get("/alice/up/tree/main").content.decode()
