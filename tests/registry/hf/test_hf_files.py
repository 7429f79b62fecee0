"""Downloads, uploads, refs and history through the real huggingface_hub client."""

import io
import os

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RevisionNotFoundError

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def repo(hf, tmp_path):
    hf.create_repo("m")
    folder = tmp_path / "src"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# m\n")
    (folder / "sub" / "x.txt").write_text("x")
    (folder / "weights.bin").write_bytes(os.urandom(4096))
    hf.upload_folder(repo_id="alice/m", folder_path=folder, commit_message="first upload")
    return folder


def test_model_info_at_revisions(hf, repo):
    info = hf.model_info("alice/m", files_metadata=True)
    assert len(info.sha) == 40 and info.card_data["license"] == "mit"
    sizes = {s.rfilename: s.size for s in info.siblings}
    assert sizes["weights.bin"] == 4096 and sizes["sub/x.txt"] == 1
    assert all(s.blob_id for s in info.siblings)
    hf.upload_file(path_or_fileobj=b"new", path_in_repo="new.txt", repo_id="alice/m")
    assert "new.txt" not in {s.rfilename for s in hf.model_info("alice/m", revision=info.sha).siblings}
    assert info.last_modified is not None


def test_tree_files_and_paths_info(hf, repo):
    assert hf.list_repo_files("alice/m") == [".gitattributes", "README.md", "config.json", "sub/x.txt", "weights.bin"]
    top = {e.path: type(e).__name__ for e in hf.list_repo_tree("alice/m")}
    assert top["sub"] == "RepoFolder" and "sub/x.txt" not in top
    assert [e.path for e in hf.list_repo_tree("alice/m", path_in_repo="sub")] == ["sub/x.txt"]
    expanded = list(hf.list_repo_tree("alice/m", path_in_repo="sub", expand=True))
    assert expanded[0].last_commit.title == "first upload"
    infos = hf.get_paths_info("alice/m", ["config.json", "sub", "missing"])
    assert [i.path for i in infos] == ["config.json", "sub"]
    with pytest.raises(EntryNotFoundError):
        list(hf.list_repo_tree("alice/m", path_in_repo="nope"))


def test_downloads_and_snapshot_patterns(hf, repo, hub_url, alice_token, tmp_path):
    path = hf_hub_download("alice/m", "weights.bin", endpoint=hub_url, token=alice_token, cache_dir=tmp_path / "c")
    assert open(path, "rb").read() == (repo / "weights.bin").read_bytes()
    folder = snapshot_download("alice/m", endpoint=hub_url, token=alice_token, cache_dir=tmp_path / "s",
                               allow_patterns=["*.json", "sub/*"], ignore_patterns=["sub/ignored*"])  # fmt: skip
    got = sorted(str(p.relative_to(folder)) for p in __import__("pathlib").Path(folder).rglob("*") if p.is_file())
    assert got == ["config.json", "sub/x.txt"]
    assert hf.model_info("alice/m").downloads == 1  # one snapshot (config.json), whatever the number of files


def test_download_errors(hf, repo, hub_url, alice_token, tmp_path):
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("alice/m", "nope.bin", endpoint=hub_url, token=alice_token, cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("alice/m", "config.json", revision="nope", endpoint=hub_url, token=alice_token,
                        cache_dir=tmp_path)  # fmt: skip
    assert hf.file_exists("alice/m", "config.json") and not hf.file_exists("alice/m", "nope")


def test_resolve_headers_range_and_errors(client, hf, repo):
    sha = hf.model_info("alice/m").sha
    head = client.head("/alice/m/resolve/main/weights.bin")
    assert head["X-Repo-Commit"] == sha and head["ETag"] and head["Content-Length"] == "4096"
    part = client.get(f"/alice/m/resolve/{sha}/weights.bin", HTTP_RANGE="bytes=100-")
    assert part.status_code == 206 and part["Content-Range"] == "bytes 100-4095/4096"
    assert b"".join(part.streaming_content) == (repo / "weights.bin").read_bytes()[100:]
    missing = client.head("/alice/m/resolve/main/nope")
    assert missing.status_code == 404 and missing["X-Error-Code"] == "EntryNotFound"
    assert missing["X-Repo-Commit"] == sha
    assert client.get("/alice/m/resolve/zzz/config.json")["X-Error-Code"] == "RevisionNotFound"
    nobody = client.get("/alice/nope/resolve/main/config.json")
    assert nobody.status_code == 401 and nobody["X-Error-Code"] == "RepoNotFound"


def test_commit_operations_and_parent_commit(hf, repo):
    head = hf.model_info("alice/m").sha
    hf.create_commit(
        "alice/m",
        operations=[
            CommitOperationAdd(path_in_repo="added.txt", path_or_fileobj=b"added"),
            CommitOperationDelete(path_in_repo="README.md"),
            CommitOperationDelete(path_in_repo="sub/"),
            CommitOperationCopy(src_path_in_repo="config.json", path_in_repo="copy/config.json"),
        ],
        commit_message="ops",
        parent_commit=head,
    )
    assert hf.list_repo_files("alice/m") == [".gitattributes", "added.txt", "config.json", "copy/config.json",
                                              "weights.bin"]  # fmt: skip
    with pytest.raises(HfHubHTTPError) as info:
        hf.create_commit("alice/m", operations=[CommitOperationAdd(path_in_repo="late.txt", path_or_fileobj=b"l")],
                         commit_message="stale", parent_commit=head)  # fmt: skip
    assert info.value.response.status_code == 412
    assert "late.txt" not in hf.list_repo_files("alice/m")
    hf.delete_file("added.txt", "alice/m")
    assert "added.txt" not in hf.list_repo_files("alice/m")


def test_refs_branches_tags_and_commits(hf, repo):
    hf.create_branch("alice/m", branch="dev")
    hf.create_branch("alice/m", branch="dev", exist_ok=True)
    hf.create_tag("alice/m", tag="v1", tag_message="first")
    hf.upload_file(path_or_fileobj=b"d", path_in_repo="dev.txt", repo_id="alice/m", revision="dev")
    refs = hf.list_repo_refs("alice/m")
    assert {b.name for b in refs.branches} == {"main", "dev"} and [t.name for t in refs.tags] == ["v1"]
    assert "dev.txt" in hf.list_repo_files("alice/m", revision="dev")
    assert "dev.txt" not in hf.list_repo_files("alice/m", revision="v1")
    commits = hf.list_repo_commits("alice/m", revision="dev")
    assert [c.title for c in commits][:2] == ["Upload dev.txt with huggingface_hub", "first upload"]
    assert all(len(c.commit_id) == 40 and c.created_at.tzinfo for c in commits)
    hf.delete_tag("alice/m", tag="v1")
    hf.delete_branch("alice/m", branch="dev")
    assert [b.name for b in hf.list_repo_refs("alice/m").branches] == ["main"]


def test_branch_with_slash_and_percent_encoded_revisions(hf, repo, hub_url, alice_token, tmp_path):
    hf.create_branch("alice/m", branch="feat/x")
    hf.upload_file(path_or_fileobj=b"f", path_in_repo="sub/f.txt", repo_id="alice/m", revision="feat/x")
    path = hf_hub_download("alice/m", "sub/f.txt", revision="feat/x", endpoint=hub_url, token=alice_token,
                           cache_dir=tmp_path)  # fmt: skip
    assert open(path).read() == "f"
    assert "sub/f.txt" in [e.path for e in hf.list_repo_tree("alice/m", path_in_repo="sub", revision="feat/x")]
    with pytest.raises(RevisionNotFoundError):
        hf.model_info("alice/m", revision="refs/pr/1")


def test_file_object_upload_goes_through_git_lfs(hf, hub_url, alice_token, tmp_path, settings):
    settings.HUB_LFS_MULTIPART_CHUNK = 5 * 1024 * 1024
    settings.HF_LFS_THRESHOLD = 1024 * 1024
    hf.create_repo("big")
    small, big = os.urandom(4 * 1024 * 1024), os.urandom(12 * 1024 * 1024 + 1)
    # A file object is never sent through Xet: these take the LFS batch API, basic and multipart.
    hf.upload_file(path_or_fileobj=io.BytesIO(small), path_in_repo="basic.bin", repo_id="alice/big")
    hf.upload_file(path_or_fileobj=io.BytesIO(big), path_in_repo="multi.bin", repo_id="alice/big")
    info = {s.rfilename: s for s in hf.model_info("alice/big", files_metadata=True).siblings}
    assert info["multi.bin"].lfs.size == len(big) and info["basic.bin"].lfs.size == len(small)
    got = hf_hub_download("alice/big", "multi.bin", endpoint=hub_url, token=alice_token, cache_dir=tmp_path)
    assert open(got, "rb").read() == big
