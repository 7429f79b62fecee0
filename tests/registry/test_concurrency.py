"""Concurrent committers on one branch against the real Postgres: each commit lands or gets 412, none is lost."""

import threading

import pytest
from django.db import connection

from hub.core.errors import PreconditionFailed
from hub.registry import selectors
from hub.registry.services.commits import AddFile, create_commit


def run_in_threads(count: int, target) -> None:
    """Run target(i) in `count` threads, each with its own database connection."""

    def run(i: int) -> None:
        try:
            target(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.fault("d")
@pytest.mark.django_db(transaction=True)
def test_concurrent_commits_without_parent_all_land(alice, make_repo):
    repo = make_repo(alice, "busy")
    errors: list[Exception] = []

    def worker(i: int) -> None:
        try:
            create_commit(repo=repo, author=alice, title=f"c{i}", operations=[AddFile(path=f"f{i}.txt", content=b"x")])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    run_in_threads(20, worker)
    assert errors == []
    files = selectors.snapshot(selectors.resolve_revision(repo, "main")).files
    assert {f"f{i}.txt" for i in range(20)} <= files.keys()
    assert len(selectors.history(repo, selectors.resolve_revision(repo, "main"), limit=100)) == 21


@pytest.mark.fault("d")
@pytest.mark.django_db(transaction=True)
def test_concurrent_commits_with_same_parent_one_wins(alice, make_repo):
    repo = make_repo(alice, "race")
    head = repo.head_sha
    landed, rejected, other = [], [], []
    barrier = threading.Barrier(20)

    def worker(i: int) -> None:
        try:
            barrier.wait()
            c = create_commit(
                repo=repo, author=alice, title=f"c{i}", parent_commit=head,
                operations=[AddFile(path=f"f{i}.txt", content=b"x")],
            )  # fmt: skip
            landed.append((i, c.sha))
        except PreconditionFailed:
            rejected.append(i)
        except Exception as exc:  # noqa: BLE001
            other.append(exc)

    run_in_threads(20, worker)
    assert other == []
    assert len(landed) == 1 and len(rejected) == 19
    winner, sha = landed[0]
    main = selectors.resolve_revision(repo, "main")
    assert main.sha == sha
    assert set(selectors.snapshot(main).files) == {".gitattributes", f"f{winner}.txt"}
