"""Fault (f): the database connection drops. Between requests the hub reconnects (persistent connections are
health-checked); during a request the client gets a clean 503 in JSON, nothing is half-stored, and a retry lands."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from tests.reliability.conftest import assert_nothing_landed, lock_branch, lock_holder, sha256, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _ndjson_commit(path: str, content: bytes) -> bytes:
    import base64

    header = {"key": "header", "value": {"summary": f"add {path}", "description": ""}}
    file = {"key": "file", "value": {"path": path, "encoding": "base64", "content": base64.b64encode(content).decode()}}
    lines = [header, file]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


@pytest.mark.fault("f")
def test_connections_terminated_between_requests_are_replaced(hub_server, hf_api, alice, make_repo):
    repo = make_repo(alice, "steady", files={"README.md": b"# steady\n"})
    info_url = f"{hub_server.url}/api/models/{repo.full_name}"
    session = requests.Session()  # keep-alive, as clients do
    for _ in range(16):
        assert session.get(info_url, timeout=30).status_code == 200
    killed = hub_server.terminate_backends()
    assert killed, "the server holds no persistent connection (DB_CONN_MAX_AGE)"
    wait_for(lambda: not set(killed) & set(hub_server.backends()), timeout=30, what="the backends to end")

    statuses = [session.get(info_url, timeout=30).status_code for _ in range(16)]
    statuses += [requests.get(info_url, timeout=30).status_code for _ in range(16)]  # new connections too
    assert set(statuses) == {200}, statuses
    hub_server.terminate_backends()
    info = hf_api.upload_file(path_or_fileobj=b"after the drop", path_in_repo="after.txt", repo_id=repo.full_name)
    assert info.oid


@pytest.mark.fault("f")
def test_connection_terminated_during_a_commit_answers_503_and_stores_nothing(hub_server, hf_api, alice, make_repo):
    """The commit waits inside its transaction (on the branch lock) when its backend is terminated."""
    repo = make_repo(alice, "dropped", files={"README.md": b"# dropped\n"})
    head, commits = repo.head_sha, repo.commits.count()
    content = b"state " + sha256(repo.head_sha.encode()).encode()
    holder = lock_branch(repo)
    answer: list[requests.Response] = []
    commit = threading.Thread(
        target=lambda: answer.append(
            requests.post(
                f"{hub_server.url}/api/models/{repo.full_name}/commit/main",
                data=_ndjson_commit("s.txt", content),
                headers={"Authorization": f"Bearer {hf_api.token}", "Content-Type": "application/x-ndjson"},
                timeout=120,
            )
        )
    )
    commit.start()
    try:
        waiting = wait_for(
            lambda: answer or hub_server.backends(wait_event_type="Lock"), timeout=60, what="the commit to wait"
        )
        assert not answer, answer[0].text
        hub_server.terminate_backends(waiting)
        commit.join(timeout=60)
    finally:
        holder.rollback()
        holder.close()

    response = answer[0]
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json" and response.headers["Retry-After"]
    assert response.json()["code"] == "database_unavailable" and "retry" in response.json()["error"]
    assert_nothing_landed(repo, head=head, commits=commits, path="s.txt", sha=sha256(content), url=hub_server.url)

    info = hf_api.upload_file(path_or_fileobj=content, path_in_repo="s.txt", repo_id=repo.full_name)
    assert requests.get(f"{hub_server.url}/{repo.full_name}/resolve/{info.oid}/s.txt", timeout=30).content == content


@pytest.mark.fault("f")
def test_connection_terminated_during_a_native_api_write_answers_503(hub_server, alice, make_token, make_repo):
    """The same drop on the native REST API (DRF views): 503 JSON, no branch created."""
    from hub.registry.models import Ref

    repo = make_repo(alice, "native", files={"README.md": b"# native\n"})
    token = make_token(alice, "write")
    holder = lock_holder()  # a new branch is an INSERT into the refs table: it waits on this lock
    holder.execute(f"LOCK TABLE {Ref._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
    answer: list[requests.Response] = []
    request = threading.Thread(
        target=lambda: answer.append(
            requests.post(
                f"{hub_server.url}/api/v1/models/{repo.full_name}/branches",
                json={"name": "feature", "revision": "main"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            )
        )
    )
    request.start()
    try:
        waiting = wait_for(
            lambda: answer or hub_server.backends(wait_event_type="Lock"), timeout=60, what="the write to wait"
        )
        assert not answer, answer[0].text
        hub_server.terminate_backends(waiting)
        request.join(timeout=60)
    finally:
        holder.rollback()
        holder.close()

    response = answer[0]
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
    assert not Ref.objects.filter(repo=repo, name="feature").exists()
