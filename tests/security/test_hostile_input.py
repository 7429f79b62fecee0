"""Hostile input answers a clear 4xx and stores nothing: path traversal, absurd sizes, malformed NDJSON and JSON,
invalid UTF-8, huge headers, JSON nested 10,000 deep, YAML alias bombs, compression bombs in data sets."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

DEEP_ARRAY = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000
TRAVERSALS = ["../x", "a/../../x", "/etc/passwd", "a\\..\\x", "a\x00b", ".git/config", "a/.git/HEAD", "a//b", "./a",
              "x" * 2000]  # fmt: skip


@pytest.fixture
def repo(alice, make_repo):
    return make_repo(alice, "m", files={"README.md": b"# m\n"})


@pytest.fixture
def stored(db):
    """A snapshot of what hostile requests must not add to."""
    from hub.registry.models import Blob, Commit, Repo

    def take():
        return Repo.objects.count(), Commit.objects.count(), Blob.objects.count()

    return take


def _ndjson(*lines: object) -> bytes:
    return b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)


HEADER = {"key": "header", "value": {"summary": "hostile"}}


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_paths_are_refused_by_both_commit_routes(repo, alice_api, stored, path):
    before = stored()
    native = alice_api.post("/api/v1/models/alice/m/commits",
                            {"operations": [{"op": "add", "path": path, "content": "x"}]}, format="json")  # fmt: skip
    assert native.status_code == 400, native.content
    file_line = {"key": "file", "value": {"path": path, "content": "eA==", "encoding": "base64"}}
    hf = alice_api.generic("POST", "/api/models/alice/m/commit/main", _ndjson(HEADER, file_line),
                           content_type="application/x-ndjson")  # fmt: skip
    assert hf.status_code == 400, hf.content
    assert stored()[:2] == before[:2]


@pytest.mark.parametrize(
    "url",
    ["/alice/m/resolve/main/../../etc/passwd", "/alice/m/resolve/main/%2e%2e/%2e%2e/etc/passwd",
     "/alice/m/resolve/main/a%00b", "/alice/m/resolve/main/%FF%FE", "/api/v1/models/alice/m/files/..%2F..%2Fx",
     "/api/v1/models/alice/m/files/.git/config", "/api/v1/models/alice/m/tree?path=../..",
     "/api/models/alice/m/tree/main/..%2F..", "/alice/m/blob/main/%00", "/alice/m/tree/main/..%5C.."],
)  # fmt: skip
def test_traversal_reads_answer_4xx(repo, alice_api, url):
    response = alice_api.get(url)
    assert 400 <= response.status_code < 500, (url, response.status_code)


@pytest.mark.parametrize(
    "lines, code",
    [
        ([b"not json"], "malformed"),
        ([b"[1, 2]"], "malformed"),
        ([{"key": "file", "value": {"path": "a", "content": "eA=="}}], "malformed"),  # no header
        ([HEADER, HEADER], "malformed"),
        ([HEADER, {"key": "file", "value": {"path": "a", "content": "not base64!"}}], "bad_base64"),
        ([HEADER, {"key": "rm -rf", "value": {"path": "a"}}], "unknown_operation"),
        ([HEADER, {"key": "file", "value": {"content": "eA=="}}], "malformed"),
        ([HEADER, b'{"key": "file", "value": {"path": "\xff", "content": "eA=="}}'], "malformed"),
        ([HEADER, b'{"key":' + DEEP_OBJECT.encode() + b"}"], "too_deep"),
    ],
    ids=["not-json", "not-object", "no-header", "two-headers", "bad-base64", "unknown-op", "no-path", "bad-utf8",
         "deep"],
)  # fmt: skip
def test_malformed_ndjson_commits_store_nothing(repo, alice_api, stored, lines, code):
    before = stored()
    response = alice_api.generic("POST", "/api/models/alice/m/commit/main", _ndjson(*lines),
                                 content_type="application/x-ndjson")  # fmt: skip
    assert response.status_code == 400, response.content
    assert stored()[:2] == before[:2]


def test_an_overlong_ndjson_line_is_refused(repo, alice_api, stored, settings):
    settings.HF_MAX_NDJSON_LINE = 1024
    before = stored()
    line = {"key": "file", "value": {"path": "big", "content": base64.b64encode(b"x" * 4096).decode()}}
    response = alice_api.generic("POST", "/api/models/alice/m/commit/main", _ndjson(HEADER, line),
                                 content_type="application/x-ndjson")  # fmt: skip
    assert response.status_code == 400 and "longer than" in response.json()["error"]
    assert stored() == before


@pytest.mark.parametrize(
    "path",
    ["/api/v1/repos", "/api/v1/models/alice/m/commits", "/api/repos/create", "/api/validate-yaml",
     "/api/models/alice/m/preupload/main", "/api/models/alice/m/paths-info/main", "/alice/m.git/info/lfs/objects/batch",
     "/api/v1/models/alice/m/branches", "/v1/chat/completions", "/api/v1/jobs", "/api/v1/endpoints"],
)  # fmt: skip
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, b'{"name": "\xff\xfe"}', b"{", b"\x00" * 10],
                         ids=["deep-array", "deep-object", "bad-utf8", "truncated", "nul"])  # fmt: skip
def test_malformed_json_bodies_answer_400(repo, alice_api, stored, path, body):
    before = stored()
    response = alice_api.generic("POST", path, body, content_type="application/json")
    assert 400 <= response.status_code < 500, (path, response.status_code, response.content[:200])
    assert stored()[:2] == before[:2]


@pytest.mark.parametrize("length", ["100000000000000000000000", "-1", "abc", str(2**63)])
def test_absurd_content_lengths(repo, alice_api, stored, length):
    before = stored()
    response = alice_api.generic("POST", "/api/v1/blobs", b"x", content_type="application/octet-stream",
                                 CONTENT_LENGTH=length)  # fmt: skip
    assert 400 <= response.status_code < 500, (length, response.status_code)
    assert stored() == before


def test_absurd_declared_sizes(repo, alice_api, stored):
    before = stored()
    files = {"files": [{"path": "huge.bin", "size": 2**70, "sample": ""}]}
    preupload = alice_api.post("/api/models/alice/m/preupload/main", files, format="json")
    assert preupload.status_code == 413
    batch = alice_api.generic(
        "POST", "/alice/m.git/info/lfs/objects/batch",
        json.dumps({"operation": "upload", "objects": [{"oid": "a" * 64, "size": 10**30}]}),
        content_type="application/vnd.git-lfs+json",
    )  # fmt: skip
    assert 400 <= batch.status_code < 500 or all("error" in o for o in batch.json().get("objects", []))
    assert stored() == before


def test_huge_headers_do_not_break_anything(repo, api, alice_api):
    assert api("x" * 100_000).get("/api/v1/models").status_code == 401
    assert alice_api.get("/api/v1/models", HTTP_X_PADDING="x" * 1_000_000).status_code == 200
    assert alice_api.get("/alice/m/resolve/main/README.md", HTTP_RANGE="bytes=" + "1-2," * 10_000).status_code in (
        200, 206, 416,
    )  # fmt: skip
    response = alice_api.generic("POST", "/api/v1/blobs", b"x", content_type="application/octet-stream",
                                 HTTP_X_CONTENT_SHA256="f" * 100_000)  # fmt: skip
    assert response.status_code == 400


def test_yaml_alias_bomb_in_a_card_is_refused_not_expanded(repo, alice_api):
    bomb = '---\na: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 12):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        bomb += f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]\n"
    bomb += "---\n# bomb\n"
    response = alice_api.post("/api/validate-yaml", {"content": bomb, "repoType": "model"}, format="json")
    assert response.status_code == 400 and "aliases" in response.content.decode()
    operations = {"operations": [{"op": "add", "path": "README.md", "content": bomb}]}
    commit = alice_api.post("/api/v1/models/alice/m/commits", operations, format="json")
    assert commit.status_code == 201  # the commit lands; the card is reported invalid and nothing is expanded
    info = alice_api.get("/api/v1/models/alice/m").json()
    assert info["card_data"] == {} and "aliases" in info["card_error"]


@pytest.mark.parametrize("front_matter", ["---\n: : [\n---\n", "---\n- just\n- a list\n---\n", "---\n\x00\n---\n"])
def test_malformed_front_matter_is_reported(repo, alice_api, front_matter):
    response = alice_api.post("/api/validate-yaml", {"content": front_matter + "# x\n"}, format="json")
    assert response.status_code == 400


def test_gzip_bomb_in_a_dataset_is_refused(alice, alice_api, make_repo, monkeypatch):
    from hub.datasets import tables

    monkeypatch.setattr(tables, "MAX_BYTES", 1024 * 1024)
    monkeypatch.setattr(tables, "SCAN_BYTES", 4 * 1024 * 1024)
    line = b'{"text": "' + b"a" * 1000 + b'"}\n'
    bomb = gzip.compress(line * 20_000, compresslevel=9)  # 20 MB of rows in ~60 KB
    make_repo(alice, "bombs", type="dataset", files={"data/train.jsonl.gz": bomb})
    for url in ("/api/v1/datasets/alice/bombs/rows", "/api/v1/datasets/alice/bombs/viewer"):
        response = alice_api.get(url)
        assert response.status_code < 500, (url, response.status_code)
