"""Fault (e): blob storage refuses a write. The client gets 507 with a message; no commit, no listed file, no
blob any repository can see; once storage is back the same upload lands."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.reliability.conftest import MB, assert_nothing_landed, sha256

pytestmark = pytest.mark.django_db(transaction=True)


def _unwritable(content_size: int, prefix: bytes) -> tuple[bytes, Path]:
    """New content whose storage folder is blocked by a plain file: the filesystem refuses the write (ENOTDIR /
    EEXIST, as a full or read-only disk would refuse it) for these bytes alone, in the real server process."""
    from hub.registry import storage

    root = Path(storage.blob_storage().location)
    while True:
        content = prefix + os.urandom(content_size)
        shard = root / storage.blob_key(sha256(content)).rsplit("/", 1)[0]
        if not shard.exists():
            shard.parent.mkdir(parents=True, exist_ok=True)
            shard.write_bytes(b"")  # a file where the shard's folder must go
            return content, shard


def _assert_stored_nothing(repo, head: str, commits: int, path: str, content: bytes, url: str) -> None:
    from hub.registry import storage
    from hub.registry.models import Blob

    digest = sha256(content)
    assert not Blob.objects.filter(pk=digest).exists()
    assert not storage.blob_storage().exists(storage.blob_key(digest))
    assert_nothing_landed(repo, head=head, commits=commits, path=path, sha=digest, url=url)


@pytest.mark.fault("e")
def test_storage_failure_on_a_commit_answers_507_and_the_retry_lands(hub_server, hf_api, alice, make_repo):
    from huggingface_hub.errors import HfHubHTTPError

    repo = make_repo(alice, "full-disk", files={"README.md": b"# full disk\n"})
    head, commits = repo.head_sha, repo.commits.count()
    content, blocker = _unwritable(1024, b"small weights ")
    with pytest.raises(HfHubHTTPError) as failed:
        hf_api.upload_file(path_or_fileobj=content, path_in_repo="w.bin", repo_id=repo.full_name)
    assert failed.value.response.status_code == 507
    assert "blob storage" in failed.value.response.json()["error"]
    _assert_stored_nothing(repo, head, commits, "w.bin", content, hub_server.url)

    blocker.unlink()  # storage is back
    info = hf_api.upload_file(path_or_fileobj=content, path_in_repo="w.bin", repo_id=repo.full_name)
    assert requests.get(f"{hub_server.url}/{repo.full_name}/resolve/{info.oid}/w.bin", timeout=30).content == content


@pytest.mark.fault("e")
def test_storage_failure_on_an_lfs_upload_answers_507_and_stores_nothing(hub_server, hf_api, alice, make_repo):
    repo = make_repo(alice, "full-lfs", files={"README.md": b"# full lfs\n"})
    head, commits = repo.head_sha, repo.commits.count()
    content, blocker = _unwritable(2 * MB, b"")
    oid = sha256(content)
    batch = requests.post(
        f"{hub_server.url}/{repo.full_name}.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfer": ["basic"], "objects": [{"oid": oid, "size": len(content)}]},
        headers={"Authorization": f"Bearer {hf_api.token}", "Accept": "application/vnd.git-lfs+json"},
        timeout=60,
    )
    href = urlsplit(batch.json()["objects"][0]["actions"]["upload"]["href"])
    upload_url = f"{hub_server.url}{href.path}?{href.query}"
    failed = requests.put(upload_url, data=content, timeout=60)
    assert failed.status_code == 507 and failed.json()["error"], failed.text
    _assert_stored_nothing(repo, head, commits, "big.bin", content, hub_server.url)

    blocker.unlink()
    assert requests.put(upload_url, data=content, timeout=60).status_code == 200
