"""Fault (d) over HTTP: 20 huggingface_hub clients commit to one branch of a real multi-process server (two
gunicorn workers) at once. With a parent commit exactly one lands and the rest get 412; without one, all land."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

COMMITTERS = 20


def _commit_at_once(hf_api, repo, parent: str | None) -> tuple[list[str], list[int], list[Exception]]:
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    landed: list[str] = []
    refused: list[int] = []
    other: list[Exception] = []
    barrier = threading.Barrier(COMMITTERS)

    def commit(i: int) -> None:
        operation = CommitOperationAdd(path_in_repo=f"f{i}.txt", path_or_fileobj=f"file {i}".encode())
        barrier.wait()
        try:
            info = hf_api.create_commit(
                repo_id=repo.full_name, operations=[operation], commit_message=f"c{i}", parent_commit=parent
            )
            landed.append(info.oid)
        except HfHubHTTPError as exc:
            if exc.response.status_code == 412:
                refused.append(i)
            else:
                other.append(exc)
        except Exception as exc:  # noqa: BLE001
            other.append(exc)

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(COMMITTERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return landed, refused, other


@pytest.mark.fault("d")
def test_http_committers_with_the_same_parent_one_lands_the_rest_get_412(hub_server, hf_api, alice, make_repo):
    from hub.registry import selectors

    repo = make_repo(alice, "race", files={"README.md": b"# race\n"})
    before = set(selectors.snapshot(selectors.resolve_revision(repo, "main")).files)
    landed, refused, other = _commit_at_once(hf_api, repo, parent=repo.head_sha)
    assert other == [] and len(landed) == 1 and len(refused) == COMMITTERS - 1, (landed, refused, other)
    main = selectors.resolve_revision(repo, "main")
    assert main.sha == landed[0]
    assert len(set(selectors.snapshot(main).files) - before) == 1


@pytest.mark.fault("d")
def test_http_committers_without_a_parent_all_land(hub_server, hf_api, alice, make_repo):
    from hub.registry import selectors

    repo = make_repo(alice, "busy", files={"README.md": b"# busy\n"})
    commits = repo.commits.count()
    landed, refused, other = _commit_at_once(hf_api, repo, parent=None)
    assert other == [] and refused == [] and len(landed) == COMMITTERS, (refused, other)
    main = selectors.resolve_revision(repo, "main")
    assert {f"f{i}.txt" for i in range(COMMITTERS)} <= set(selectors.snapshot(main).files)
    assert repo.commits.count() == commits + COMMITTERS
    history = {c.sha for c in selectors.history(repo, main, limit=100)}
    assert set(landed) <= history  # every commit is on main's line, none overwritten
