import base64
import hashlib

import pytest

from hub.registry.models import Blob, Commit, Tree

pytestmark = pytest.mark.django_db


def commit(client, repo="alice/m", ops=(), **extra):
    body = {"title": "t", "operations": list(ops), **extra}
    return client.post(f"/api/v1/models/{repo}/commits", body, format="json")


def add(path, text="x"):
    return {"op": "add", "path": path, "content": text}


@pytest.fixture
def repo(alice, make_repo):
    return make_repo(alice, "m", files={"README.md": b"# hi\n", "weights/a.bin": b"\x00\x01", "weights/b.bin": b"b"})


def files_at(client, rev="main", repo="alice/m"):
    body = client.get(f"/api/v1/models/{repo}/tree?recursive=1&revision={rev}").json()
    return {e["path"]: e["size"] for e in body["results"] if e["type"] == "file"}


def test_operations_apply_atomically(alice_api, repo):
    response = commit(
        alice_api,
        ops=[
            add("new.txt", "new"),
            {"op": "delete", "path": "README.md"},
            {"op": "copy", "src_path": "weights/a.bin", "path": "copy.bin"},
            {"op": "delete_folder", "path": "weights"},
            {"op": "add", "path": "b64.bin", "content_base64": base64.b64encode(b"\xff\xfe").decode()},
        ],
    )
    assert response.status_code == 201, response.content
    assert files_at(alice_api) == {".gitattributes": 390, "new.txt": 3, "copy.bin": 2, "b64.bin": 2}


def test_failing_operation_stores_nothing(alice_api, repo):
    before = Commit.objects.count(), repo.refs.get(name="main").commit_id
    response = commit(alice_api, ops=[add("ok.txt"), {"op": "delete", "path": "missing.txt"}])
    assert response.status_code == 404
    assert (Commit.objects.count(), repo.refs.get(name="main").commit_id) == before


@pytest.mark.parametrize(
    "path",
    ["/abs", "../x", "a/../b", "a/./b", "a\\b", "a//b", "a/", ".git/config", "x/.git/y", "a\x00b", "", "a\nb"],
)
def test_invalid_paths_are_rejected(alice_api, repo, path):
    count = Commit.objects.count()
    response = commit(alice_api, ops=[add(path)])
    assert response.status_code == 400, (path, response.content)
    assert Commit.objects.count() == count


def test_file_and_folder_clash_is_rejected(alice_api, repo):
    response = commit(alice_api, ops=[add("weights")])
    assert response.status_code == 400 and response.json()["code"] == "path_conflict"


def test_stale_parent_commit_is_rejected_with_412(alice_api, repo):
    head = alice_api.get("/api/v1/models/alice/m").json()["sha"]
    assert commit(alice_api, ops=[add("1.txt")], parent_commit=head).status_code == 201
    count = Commit.objects.count()
    response = commit(alice_api, ops=[add("2.txt")], parent_commit=head)
    assert response.status_code == 412
    assert response.json()["code"] == "stale_parent"
    assert Commit.objects.count() == count
    assert "2.txt" not in files_at(alice_api)


def test_bad_base64_and_unknown_op_are_400(alice_api, repo):
    assert commit(alice_api, ops=[{"op": "add", "path": "x", "content_base64": "!!!"}]).status_code == 400
    assert commit(alice_api, ops=[{"op": "rename", "path": "x"}]).status_code == 400
    assert commit(alice_api, ops=[]).status_code == 400
    assert commit(alice_api, ops=[{"op": "add", "path": "x"}]).status_code == 400


def test_commit_to_unknown_branch_is_404(alice_api, repo):
    response = commit(alice_api, ops=[add("x")], branch="nope")
    assert response.status_code == 404 and response.json()["code"] == "revision_not_found"


def test_blobs_are_stored_once_across_repos(alice_api, alice, make_repo):
    make_repo(alice, "one", files={"big.bin": b"same bytes" * 1000})
    make_repo(alice, "two", files={"copy/big.bin": b"same bytes" * 1000})
    digest = hashlib.sha256(b"same bytes" * 1000).hexdigest()
    assert Blob.objects.filter(sha256=digest).count() == 1


def test_unchanged_snapshots_share_one_tree(alice_api, repo):
    commit(alice_api, ops=[add("tmp.txt")])
    commit(alice_api, ops=[{"op": "delete", "path": "tmp.txt"}])
    commits = list(Commit.objects.filter(repo=repo).order_by("created_at"))
    assert commits[-1].tree_id == commits[-3].tree_id
    assert Tree.objects.count() == len({c.tree_id for c in Commit.objects.all()})


def test_commit_ids_are_40_hex_and_parents_chain(alice_api, repo):
    first = alice_api.get("/api/v1/models/alice/m").json()["sha"]
    body = commit(alice_api, ops=[add("x")]).json()
    assert len(body["id"]) == 40 and int(body["id"], 16) >= 0
    assert body["parents"] == [first]


def test_branches_and_tags(alice_api, repo):
    head = alice_api.get("/api/v1/models/alice/m").json()["sha"]
    assert alice_api.post("/api/v1/models/alice/m/branches", {"name": "dev"}, format="json").status_code == 201
    assert alice_api.post("/api/v1/models/alice/m/tags", {"name": "v1.0"}, format="json").status_code == 201
    assert alice_api.post("/api/v1/models/alice/m/tags", {"name": "v1.0"}, format="json").status_code == 409
    assert commit(alice_api, ops=[add("dev.txt")], branch="dev").status_code == 201
    assert "dev.txt" in files_at(alice_api, "dev")
    assert "dev.txt" not in files_at(alice_api, "main")
    assert "dev.txt" not in files_at(alice_api, "v1.0")
    assert "dev.txt" not in files_at(alice_api, head[:7])
    assert alice_api.delete("/api/v1/models/alice/m/branches/dev").status_code == 204
    assert alice_api.delete("/api/v1/models/alice/m/branches/main").status_code == 400
    assert alice_api.delete("/api/v1/models/alice/m/tags/v1.0").status_code == 204
    assert alice_api.get("/api/v1/models/alice/m/tree?revision=dev").status_code == 404


@pytest.mark.parametrize("name", ["a..b", "-x", "refs/heads/x", "x.lock", "a b", "a~1", "0" * 40])
def test_invalid_ref_names(alice_api, repo, name):
    assert alice_api.post("/api/v1/models/alice/m/branches", {"name": name}, format="json").status_code == 400


def test_slashes_in_branch_names(alice_api, repo):
    assert alice_api.post("/api/v1/models/alice/m/branches", {"name": "feat/x"}, format="json").status_code == 201
    assert commit(alice_api, ops=[add("f.txt")], branch="feat/x").status_code == 201
    assert "f.txt" in files_at(alice_api, "feat%2Fx")
    assert alice_api.delete("/api/v1/models/alice/m/branches/feat/x").status_code == 204


def test_oversized_file_is_413(alice_api, repo, settings):
    settings.MAX_FILE_SIZE = 10
    count = Commit.objects.count()
    assert commit(alice_api, ops=[add("big.txt", "x" * 11)]).status_code == 413
    assert Commit.objects.count() == count
    response = alice_api.generic("POST", "/api/v1/blobs", b"x" * 11, content_type="application/octet-stream")
    assert response.status_code == 413


def test_copy_from_another_readable_repo(alice_api, alice, make_repo, repo, make_user, make_token, api):
    make_repo(alice, "other", files={"w.bin": b"www"})
    ops = [{"op": "copy", "src_repo": "alice/other", "src_path": "w.bin", "path": "w.bin"}]
    assert commit(alice_api, ops=ops).status_code == 201
    assert files_at(alice_api)["w.bin"] == 3
    bob = make_user("bob")
    make_repo(bob, "bm")
    alice_api.patch("/api/v1/models/alice/other", {"private": True}, format="json")
    response = commit(api(make_token(bob)), repo="bob/bm", ops=ops)
    assert response.status_code == 404
