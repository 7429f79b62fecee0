"""Fault (c): the web process is SIGKILLed (master and workers) during an upload. Nothing half-done is visible,
and once the hub is back the client's retry lands the file intact."""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests

from tests.reliability.conftest import MB, assert_nothing_landed, lock_branch, sha256, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _open_stream(url: str, method: str, path: str, headers: dict[str, str]) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.putrequest(method, path)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    return conn


def _send_in_chunks(conn: http.client.HTTPConnection, body: bytes, chunk: int = MB) -> None:
    for start in range(0, len(body), chunk):
        conn.send(body[start : start + chunk])


def _finish_fails(conn: http.client.HTTPConnection, rest: bytes) -> None:
    """The rest of the body and the response: the server is gone, so this must fail on the socket."""
    with pytest.raises(OSError):
        _send_in_chunks(conn, rest)
        conn.getresponse().read()
    conn.close()


def _retry_with_huggingface_hub(hf_api, repo, path: str, content: bytes, tmp_path) -> None:
    info = hf_api.upload_file(path_or_fileobj=content, path_in_repo=path, repo_id=repo.full_name)
    assert info.oid
    downloaded = hf_api.hf_hub_download(repo_id=repo.full_name, filename=path, cache_dir=tmp_path / "hf-cache")
    with open(downloaded, "rb") as f:
        assert sha256(f.read()) == sha256(content)


@pytest.mark.fault("c")
def test_web_killed_mid_lfs_upload_leaves_nothing_and_the_retry_lands(
    hub_server, hf_api, alice, make_repo, settings, tmp_path
):
    from hub.registry import storage
    from hub.registry.models import Blob
    from hub.registry.services.gc import collect_garbage

    repo = make_repo(alice, "weights", files={"README.md": b"# weights\n"})
    head, commits = repo.head_sha, repo.commits.count()
    content = os.urandom(24 * MB)  # new bytes every run: nothing to deduplicate against
    oid = sha256(content)
    token = hf_api.token
    batch = requests.post(
        f"{hub_server.url}/{repo.full_name}.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfer": ["basic"], "objects": [{"oid": oid, "size": len(content)}]},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.git-lfs+json"},
        timeout=60,
    )
    assert batch.status_code == 200, batch.text
    href = urlsplit(batch.json()["objects"][0]["actions"]["upload"]["href"])
    spool = settings.UPLOAD_TMP_DIR
    before = set(spool.iterdir())
    conn = _open_stream(
        hub_server.url,
        "PUT",
        f"{href.path}?{href.query}",
        {"Content-Length": str(len(content)), "Content-Type": "application/octet-stream"},
    )
    half = len(content) // 2
    _send_in_chunks(conn, content[:half])
    # The server is mid-body: its spool file holds part of the upload.
    wait_for(lambda: any(p.stat().st_size > 0 for p in set(spool.iterdir()) - before), timeout=60, what="the spool")
    hub_server.kill()
    _finish_fails(conn, content[half:])

    assert not Blob.objects.filter(pk=oid).exists()
    assert not storage.blob_storage().exists(storage.blob_key(oid))
    # The half-written spool file is the one trace, private to the server; garbage collection removes it.
    leftover = [p for p in set(spool.iterdir()) - before if p.name.startswith("upload-")]
    assert len(leftover) == 1
    os.utime(leftover[0], (0, 0))
    assert collect_garbage(grace=timedelta(hours=1)).temp_files >= 1 and not leftover[0].exists()
    assert_nothing_landed(repo, head=head, commits=commits, path="big.bin", sha=oid)
    hub_server.start()
    assert_nothing_landed(repo, head=head, commits=commits, path="big.bin", sha=oid, url=hub_server.url)
    _retry_with_huggingface_hub(hf_api, repo, "big.bin", content, tmp_path)


@pytest.mark.fault("c")
def test_web_killed_mid_commit_body_leaves_nothing_and_the_retry_lands(hub_server, hf_api, alice, make_repo, tmp_path):
    """An HF commit (NDJSON, the file inline in base64) is cut off halfway through its body."""
    repo = make_repo(alice, "inline", files={"README.md": b"# inline\n"})
    head, commits = repo.head_sha, repo.commits.count()
    content = os.urandom(6 * MB)
    header = {"key": "header", "value": {"summary": "add weights", "description": ""}}
    line = {
        "key": "file",
        "value": {"path": "w.bin", "encoding": "base64", "content": base64.b64encode(content).decode()},
    }
    body = (json.dumps(header) + "\n" + json.dumps(line) + "\n").encode()
    conn = _open_stream(
        hub_server.url,
        "POST",
        f"/api/models/{repo.full_name}/commit/main",
        {
            "Content-Length": str(len(body)),
            "Content-Type": "application/x-ndjson",
            "Authorization": f"Bearer {hf_api.token}",
        },
    )
    half = len(body) // 2
    _send_in_chunks(conn, body[:half])  # returns once the server has read all but a socket buffer of it
    hub_server.kill()
    _finish_fails(conn, body[half:])

    assert_nothing_landed(repo, head=head, commits=commits, path="w.bin", sha=sha256(content))
    hub_server.start()
    assert_nothing_landed(repo, head=head, commits=commits, path="w.bin", sha=sha256(content), url=hub_server.url)
    _retry_with_huggingface_hub(hf_api, repo, "w.bin", content, tmp_path)


@pytest.mark.fault("c")
def test_web_killed_inside_the_commit_transaction_leaves_nothing(hub_server, hf_api, alice, make_repo, tmp_path):
    """The commit request is parked inside its transaction (waiting on the branch lock) when the hub dies: its
    transaction never commits, so the branch, the history and the listing stay as they were."""
    repo = make_repo(alice, "locked", files={"README.md": b"# locked\n"})
    head, commits = repo.head_sha, repo.commits.count()
    content = b"config " + os.urandom(16).hex().encode()
    holder = lock_branch(repo)
    outcome: list = []

    def commit() -> None:
        try:
            outcome.append(hf_api.upload_file(path_or_fileobj=content, path_in_repo="c.txt", repo_id=repo.full_name))
        except Exception as exc:  # noqa: BLE001
            outcome.append(exc)

    thread = threading.Thread(target=commit)
    thread.start()
    try:
        wait_for(lambda: hub_server.backends(wait_event_type="Lock"), timeout=60, what="the commit to wait")
        hub_server.kill()
    finally:
        holder.rollback()  # the orphaned backend now runs on, but its client never sends COMMIT
        holder.close()
    thread.join(timeout=120)
    assert outcome and isinstance(outcome[0], Exception), outcome
    wait_for(lambda: not hub_server.backends(), timeout=60, what="the dead server's backends to end")

    assert_nothing_landed(repo, head=head, commits=commits, path="c.txt", sha=sha256(content))
    hub_server.start()
    assert_nothing_landed(repo, head=head, commits=commits, path="c.txt", sha=sha256(content), url=hub_server.url)
    _retry_with_huggingface_hub(hf_api, repo, "c.txt", content, tmp_path)
