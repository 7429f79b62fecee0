import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def repo(alice, make_repo):
    return make_repo(alice, "m", files={"data.bin": bytes(range(256)) * 4, "a/b/c.txt": b"deep\n", "a/x.txt": b"x"})


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_range_requests(alice_api, repo):
    url = "/api/v1/models/alice/m/files/data.bin"
    full = alice_api.get(url)
    assert full.status_code == 200 and full["Accept-Ranges"] == "bytes" and len(body(full)) == 1024
    part = alice_api.get(url, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206
    assert part["Content-Range"] == "bytes 10-19/1024" and body(part) == bytes(range(10, 20))
    suffix = alice_api.get(url, HTTP_RANGE="bytes=-4")
    assert body(suffix) == bytes(range(252, 256))
    open_ended = alice_api.get(url, HTTP_RANGE="bytes=1020-")
    assert body(open_ended) == bytes(range(252, 256))
    assert alice_api.get(url, HTTP_RANGE="bytes=5000-").status_code == 416
    head = alice_api.head(url)
    assert head.status_code == 200 and head["Content-Length"] == "1024" and head["X-Repo-Commit"] == repo.head_sha


def test_tree_listing_recursive_and_not(alice_api, repo):
    root = alice_api.get("/api/v1/models/alice/m/tree").json()["results"]
    assert [(e["type"], e["path"]) for e in root] == [
        ("file", ".gitattributes"), ("directory", "a"), ("file", "data.bin"),
    ]  # fmt: skip
    sub = alice_api.get("/api/v1/models/alice/m/tree?path=a").json()["results"]
    assert [(e["type"], e["path"]) for e in sub] == [("directory", "a/b"), ("file", "a/x.txt")]
    deep = alice_api.get("/api/v1/models/alice/m/tree?recursive=1").json()["results"]
    assert [e["path"] for e in deep] == [".gitattributes", "a", "a/b", "a/b/c.txt", "a/x.txt", "data.bin"]
    assert alice_api.get("/api/v1/models/alice/m/tree?path=nope").status_code == 404
    assert alice_api.get("/api/v1/models/alice/m/tree?path=../x").status_code == 400


def test_tree_pagination_with_cursor(alice_api, alice, make_repo):
    make_repo(alice, "many", files={f"f{i:03}.txt": b"x" for i in range(25)})
    seen, url = [], "/api/v1/models/alice/many/tree?limit=10"
    while url:
        page = alice_api.get(url).json()
        seen += [e["path"] for e in page["results"]]
        url = page["next"]
    assert seen == sorted([".gitattributes"] + [f"f{i:03}.txt" for i in range(25)])


def test_unknown_revision_and_file(alice_api, repo):
    response = alice_api.get("/api/v1/models/alice/m/files/data.bin?revision=nope")
    assert response.status_code == 404 and response.json()["code"] == "revision_not_found"
    response = alice_api.get("/api/v1/models/alice/m/files/nope.bin")
    assert response.status_code == 404 and response.json()["code"] == "entry_not_found"
    assert alice_api.get("/api/v1/models/alice/m/tree?revision=" + "0" * 40).status_code == 404


def test_history_newest_first_paginated_and_by_path(alice_api, repo):
    for i in range(3):
        ops = [{"op": "add", "path": f"a/n{i}.txt", "content": str(i)}]
        alice_api.post("/api/v1/models/alice/m/commits", {"title": f"c{i}", "operations": ops}, format="json")
    alice_api.post(
        "/api/v1/models/alice/m/commits",
        {"title": "readme", "operations": [{"op": "add", "path": "README.md", "content": "hi"}]},
        format="json",
    )
    titles = [c["title"] for c in alice_api.get("/api/v1/models/alice/m/commits").json()["results"]]
    assert titles == ["readme", "c2", "c1", "c0", "add files", "initial commit"]
    page2 = alice_api.get("/api/v1/models/alice/m/commits?limit=2&page=2").json()
    assert [c["title"] for c in page2["results"]] == ["c1", "c0"] and page2["next"]
    by_path = alice_api.get("/api/v1/models/alice/m/commits?path=a").json()["results"]
    assert [c["title"] for c in by_path] == ["c2", "c1", "c0", "add files"]
    one_file = alice_api.get("/api/v1/models/alice/m/commits?path=README.md").json()["results"]
    assert [c["title"] for c in one_file] == ["readme"]
    old = alice_api.get(f"/api/v1/models/alice/m/commits?revision={by_path[1]['id']}").json()["results"]
    assert [c["title"] for c in old] == ["c1", "c0", "add files", "initial commit"]


def test_commit_detail_lists_changes(alice_api, repo):
    detail = alice_api.get(f"/api/v1/models/alice/m/commits/{repo.head_sha}").json()
    assert {c["path"]: c["change"] for c in detail["changes"]} == {
        "a/b/c.txt": "added", "a/x.txt": "added", "data.bin": "added",
    }  # fmt: skip


def test_compare_two_revisions(alice_api, repo):
    base = repo.head_sha
    ops = [
        {"op": "add", "path": "a/x.txt", "content": "x\ny\n"},
        {"op": "delete", "path": "a/b/c.txt"},
        {"op": "add", "path": "new.bin", "content_base64": "AAEC"},
    ]
    alice_api.post("/api/v1/models/alice/m/commits", {"operations": ops}, format="json")
    result = alice_api.get(f"/api/v1/models/alice/m/compare?base={base}&head=main").json()
    files = {f["path"]: f for f in result["files"]}
    assert files["a/x.txt"]["status"] == "modified" and files["a/x.txt"]["new_size"] == 4
    assert "+y" in files["a/x.txt"]["diff"]
    assert files["a/b/c.txt"]["status"] == "removed" and files["a/b/c.txt"]["old_size"] == 5
    assert files["new.bin"]["status"] == "added" and files["new.bin"]["diff"] is None  # binary: no text diff
    assert alice_api.get("/api/v1/models/alice/m/compare").status_code == 400


def test_downloads_counted_once_per_snapshot(api, alice, make_repo):
    make_repo(alice, "m", files={"config.json": b"{}", "model.bin": b"w"})
    client = api()
    for path in ("config.json", "model.bin", "README.md"):
        client.get(f"/api/v1/models/alice/m/files/{path}")
    client.get("/api/v1/models/alice/m/files/config.json", HTTP_RANGE="bytes=0-0")
    client.head("/api/v1/models/alice/m/files/config.json")
    assert client.get("/api/v1/models/alice/m").json()["downloads"] == 1
