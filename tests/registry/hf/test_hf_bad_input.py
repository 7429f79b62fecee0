"""Hostile or malformed HF protocol requests: a clear 4xx with a message, and no commit."""

import base64
import json

import pytest

from hub.registry.models import Commit

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(alice, make_token, make_repo):
    make_repo(alice, "m")
    return {"HTTP_AUTHORIZATION": f"Bearer {make_token(alice)}"}


def post_commit(client, auth, lines, **kw):
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines).encode()
    return client.post("/api/models/alice/m/commit/main", body, content_type="application/x-ndjson", **auth, **kw)


HEADER = {"key": "header", "value": {"summary": "s", "description": ""}}
GOOD = {"key": "file", "value": {"path": "a.txt", "content": base64.b64encode(b"a").decode(), "encoding": "base64"}}


@pytest.mark.parametrize(
    "lines",
    [
        [HEADER, "{not json"],
        [HEADER, GOOD, {"key": "file", "value": {"path": "b.txt", "content": "%%%", "encoding": "base64"}}],
        [HEADER, GOOD, {"key": "renameFile", "value": {"path": "x"}}],
        [GOOD],
        [HEADER, GOOD, {"key": "file", "value": {"path": "../evil", "content": "YQ==", "encoding": "base64"}}],
        [HEADER, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "a" * 64, "size": 1}}],
        [HEADER, GOOD, {"key": "deletedFile", "value": {"path": "missing.txt"}}],
        [HEADER, GOOD, [1, 2]],
        [HEADER],
    ],
)
def test_malformed_commit_is_4xx_and_stores_nothing(client, auth, lines):
    before = Commit.objects.count()
    response = post_commit(client, auth, lines)
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["error"]
    assert Commit.objects.count() == before


def test_oversized_ndjson_line_is_rejected(client, auth, settings):
    settings.HF_MAX_NDJSON_LINE = 1000
    big = {"key": "file", "value": {"path": "big.txt", "content": base64.b64encode(b"x" * 2000).decode()}}
    before = Commit.objects.count()
    response = post_commit(client, auth, [HEADER, big])
    assert response.status_code == 400 and "longer than" in response.json()["error"]
    assert Commit.objects.count() == before


def test_good_commit_then_abbreviated_parent(client, auth):
    response = post_commit(client, auth, [HEADER, GOOD])
    assert response.status_code == 200
    oid = response.json()["commitOid"]
    assert len(oid) == 40 and response.json()["commitUrl"].endswith(f"/alice/m/commit/{oid}")
    header = {"key": "header", "value": {"summary": "s2", "parentCommit": oid[:7]}}
    assert post_commit(client, auth, [header, GOOD]).status_code == 200
    assert post_commit(client, auth, [header, GOOD]).status_code == 412


def test_every_error_has_x_error_code_or_message(client, auth):
    for response in (
        client.get("/api/models/alice/nope"),
        client.get("/api/models/alice/m/revision/nope", **auth),
        client.get("/api/models/alice/m/tree/main/nope", **auth),
        client.head("/alice/m/resolve/main/nope", **auth),
    ):
        assert response.status_code in (401, 404)
        assert response["X-Error-Code"] in {"RepoNotFound", "RevisionNotFound", "EntryNotFound"}
    assert client.post("/api/models/alice/m/preupload/main", "[]", content_type="application/json",
                       **auth).status_code == 400  # fmt: skip


def test_lfs_batch_rejects_bad_objects_and_signatures(client, auth):
    body = {"operation": "upload", "objects": [{"oid": "nothex", "size": 1}], "transfers": ["basic"]}
    response = client.post("/alice/m.git/info/lfs/objects/batch", body, content_type="application/json", **auth)
    assert response.status_code == 200 and response.json()["objects"][0]["error"]["code"] == 422
    assert client.put("/api/lfs/objects/" + "a" * 64 + "?t=forged", b"x",
                      content_type="application/octet-stream").status_code == 403  # fmt: skip


def test_spaces_are_not_found(client, auth):
    assert client.get("/api/spaces/alice/m", **auth)["X-Error-Code"] == "RepoNotFound"
    assert client.get("/api/spaces").json() == []


def test_lfs_batch_asks_for_bytes_of_a_blob_the_caller_cannot_read(client, alice, make_user, make_token, make_repo):
    import hashlib

    secret = b"secret bytes"
    make_repo(alice, "private", private=True, files={"w.bin": secret})
    eve = make_user("eve")
    make_repo(eve, "loot")
    body = {"operation": "upload", "objects": [{"oid": hashlib.sha256(secret).hexdigest(), "size": len(secret)}]}
    response = client.post("/eve/loot.git/info/lfs/objects/batch", body, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {make_token(eve)}")  # fmt: skip
    assert "upload" in response.json()["objects"][0]["actions"]


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("get", "/api/models/al%00ice/m", None),
        ("post", "/api/repos/create", '{"name": "x", "organization": 5}'),
        ("post", "/api/models/alice/m/branch/b", '{"startingPoint": 5}'),
    ],
)
def test_nul_bytes_and_wrong_types_are_4xx(client, auth, method, url, body):
    kwargs = {"data": body, "content_type": "application/json"} if body else {}
    response = getattr(client, method)(url, **kwargs, **auth)
    assert 400 <= response.status_code < 500, response.content


def test_nul_bytes_in_list_filters_match_nothing_or_are_ignored(client, auth):
    assert client.get("/api/models?author=%00").json() == []
    assert [m["id"] for m in client.get("/api/models?search=%00").json()] == ["alice/m"]  # an empty search
