import hashlib
import os
import uuid

import pytest

from hub.registry import storage
from hub.registry.models import Blob

pytestmark = pytest.mark.django_db


def upload(client, data: bytes, sha=None):
    headers = {"HTTP_X_CONTENT_SHA256": sha} if sha else {}
    return client.generic("POST", "/api/v1/blobs", data, content_type="application/octet-stream", **headers)


def test_upload_then_commit_by_blob(alice_api, alice, make_repo):
    make_repo(alice, "m")
    data = os.urandom(3 * 1024 * 1024 + 5)
    response = upload(alice_api, data, hashlib.sha256(data).hexdigest())
    assert response.status_code == 201
    sha = response.json()["sha256"]
    ops = [{"op": "add", "path": "model.safetensors", "blob": sha}]
    assert alice_api.post("/api/v1/models/alice/m/commits", {"operations": ops}, format="json").status_code == 201
    got = alice_api.get("/api/v1/models/alice/m/files/model.safetensors")
    assert b"".join(got.streaming_content) == data


def test_declared_hash_mismatch_keeps_nothing(alice_api, settings):
    settings.UPLOAD_TMP_DIR.mkdir(parents=True, exist_ok=True)
    before = set(settings.UPLOAD_TMP_DIR.iterdir())  # other processes of the session may hold their own
    content = f"hello {uuid.uuid4()}".encode()  # storage is shared by the session: bytes no other test uploads
    response = upload(alice_api, content, "0" * 64)
    assert response.status_code == 400 and response.json()["code"] == "hash_mismatch"
    assert Blob.objects.count() == 0
    assert set(settings.UPLOAD_TMP_DIR.iterdir()) <= before
    assert not storage.blob_storage().exists(storage.blob_key(hashlib.sha256(content).hexdigest()))


def test_malformed_declared_hash_is_400(alice_api):
    assert upload(alice_api, b"x", "not-a-hash").status_code == 400


def test_unknown_blob_in_commit_is_400(alice_api, alice, make_repo):
    make_repo(alice, "m")
    ops = [{"op": "add", "path": "x", "blob": "a" * 64}]
    response = alice_api.post("/api/v1/models/alice/m/commits", {"operations": ops}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "unknown_blob"


def test_anonymous_cannot_upload(api):
    assert upload(api(), b"x").status_code == 401


def test_git_blob_id_matches_git(alice_api):
    sha = upload(alice_api, b"hello\n").json()["sha256"]
    assert Blob.objects.get(pk=sha).git_sha1 == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_gc_removes_only_unreferenced_blobs(alice_api, alice, make_repo):
    from django.core.management import call_command

    make_repo(alice, "m", files={"kept.txt": b"kept"})
    orphan = upload(alice_api, b"orphan").json()["sha256"]
    call_command("gc_blobs", "--grace-seconds", "3600")
    assert Blob.objects.filter(pk=orphan).exists()  # too recent: may belong to a commit in flight
    call_command("gc_blobs", "--grace-seconds", "0")
    assert not Blob.objects.filter(pk=orphan).exists()
    assert not storage.blob_storage().exists(storage.blob_key(orphan))
    kept = hashlib.sha256(b"kept").hexdigest()
    assert Blob.objects.filter(pk=kept).exists()
    assert b"".join(alice_api.get("/api/v1/models/alice/m/files/kept.txt").streaming_content) == b"kept"


def test_cannot_commit_someone_elses_private_blob_by_hash(alice_api, alice, make_repo, make_user, make_token, api):
    secret = b"private weights" * 100
    make_repo(alice, "secret", private=True, files={"w.bin": secret})
    sha = hashlib.sha256(secret).hexdigest()
    eve = make_user("eve")
    make_repo(eve, "loot")
    eve_api = api(make_token(eve))
    ops = [{"op": "add", "path": "w.bin", "blob": sha}]
    response = eve_api.post("/api/v1/models/eve/loot/commits", {"operations": ops}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "unknown_blob"  # same answer as a missing blob
    # Once eve proves she holds the bytes (uploads them), she may commit them.
    assert upload(eve_api, secret).status_code == 201
    assert eve_api.post("/api/v1/models/eve/loot/commits", {"operations": ops}, format="json").status_code == 201


def test_blob_in_a_readable_repo_can_be_committed_by_hash(alice_api, alice, make_repo, make_user, make_token, api):
    public = b"public weights"
    make_repo(alice, "pub", files={"w.bin": public})
    bob = make_user("bob")
    make_repo(bob, "fork")
    ops = [{"op": "add", "path": "w.bin", "blob": hashlib.sha256(public).hexdigest()}]
    assert (
        api(make_token(bob)).post("/api/v1/models/bob/fork/commits", {"operations": ops}, format="json").status_code
        == 201
    )
