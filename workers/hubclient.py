"""How workers read inputs from the hub and publish outputs to it.

Two transports, one interface:
- HTTP (the design's default for remote workers): set HUB_URL (e.g. http://web:8000) and the worker speaks the HF
  protocol with `huggingface_hub` like any user, with a short-lived token of the job's owner, revoked afterwards.
- Direct (HUB_URL unset: the embedded default and a worker on the web machine): the worker reads the snapshot from
  the database and the blob store it shares with the web process, and commits through the registry services.
Either way a snapshot is cached per commit under HUB_WORKER_CACHE (commits are immutable: a cached folder is final),
so repeated jobs and endpoint replicas on one model download nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

COMPLETE = ".hub-complete"


def cache_root() -> Path:
    root = Path(os.environ.get("HUB_WORKER_CACHE") or (settings.DATA_DIR / "worker-cache"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def hub_url() -> str:
    return (os.environ.get("HUB_URL") or getattr(settings, "HUB_URL", "") or "").rstrip("/")


@contextlib.contextmanager
def owner_token(user_id: int | None, *, role: str = "read", purpose: str = "worker") -> Iterator[str | None]:
    """A fresh token of `user_id` for the duration of the block, revoked after it (None without a user)."""
    if user_id is None:
        yield None
        return
    from hub.accounts.models import User
    from hub.accounts.services import issue_token, revoke_token

    token, plaintext = issue_token(user=User.objects.get(pk=user_id), name=f"{purpose} (automatic)", role=role)
    try:
        yield plaintext
    finally:
        revoke_token(token=token)


def fetch_snapshot(
    repo_id: str, commit: str, *, repo_type: str = "model", user_id: int | None = None, allow: list[str] | None = None
) -> Path:
    """A local folder holding the files of `repo_id` at `commit` (a full 40-hex id); cached, complete or absent."""
    import fnmatch

    key = f"{repo_type}s--{repo_id.replace('/', '--')}--{commit}"
    if allow:
        key += "--" + uuid.uuid5(uuid.NAMESPACE_OID, "|".join(sorted(allow))).hex[:8]
    target = cache_root() / key
    if (target / COMPLETE).exists():
        with contextlib.suppress(OSError):  # its last use, for the cache's LRU bound (workers.housekeeping)
            os.utime(target / COMPLETE)
        return target
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_root()))
    try:
        if hub_url():
            _download_http(repo_id, commit, repo_type, user_id, staging, allow)
        else:
            from hub.registry import selectors, storage
            from hub.registry.models import Repo

            repo = Repo.objects.get(type=repo_type, full_name__iexact=repo_id)
            snap = selectors.snapshot(selectors.resolve_revision(repo, commit))
            for path, ref in snap.files.items():
                if allow and not any(fnmatch.fnmatch(path, pattern) for pattern in allow):
                    continue
                destination = staging / path
                destination.parent.mkdir(parents=True, exist_ok=True)
                with storage.open_blob(ref.sha256) as source, open(destination, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
        (staging / COMPLETE).write_text(commit)
        try:
            staging.rename(target)
        except OSError:  # another process finished first: theirs is identical
            shutil.rmtree(staging, ignore_errors=True)
        return target
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _download_http(repo_id, commit, repo_type, user_id, folder: Path, allow) -> None:
    from huggingface_hub import snapshot_download

    with owner_token(user_id, purpose="download") as token:
        snapshot_download(
            repo_id=repo_id,
            repo_type=repo_type,
            revision=commit,
            endpoint=hub_url(),
            token=token or False,
            local_dir=str(folder),
            allow_patterns=allow,
        )
    shutil.rmtree(folder / ".cache", ignore_errors=True)


def publish_folder(
    repo_id: str,
    folder: Path,
    *,
    user_id: int,
    branch: str = "main",
    title: str,
    message: str = "",
    repo_type: str = "model",
    delete_missing: bool = False,
    create_branch_from: str | None = None,
) -> str:
    """Commit every file under `folder` to `branch` of `repo_id`; returns the new commit id.

    `create_branch_from` creates the branch (from that revision) when it does not exist yet; `delete_missing` removes
    files of the branch that the folder does not hold (a checkpoint replaces the previous one).
    """
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if hub_url():
        return _publish_http(
            repo_id, folder, files, user_id, branch, title, message, repo_type, delete_missing, create_branch_from
        )
    from hub.accounts.models import User
    from hub.core.errors import NotFound
    from hub.registry import selectors, storage
    from hub.registry.models import Repo
    from hub.registry.services import commits

    user = User.objects.get(pk=user_id)
    repo = Repo.objects.get(type=repo_type, full_name__iexact=repo_id)
    if create_branch_from is not None:
        commits.create_branch(repo=repo, name=branch, revision=create_branch_from, exist_ok=True)
    operations: list = []
    names = set()
    for path in files:
        name = path.relative_to(folder).as_posix()
        names.add(name)
        with open(path, "rb") as f:
            blob = storage.store_stream(iter(lambda f=f: f.read(1 << 20), b""), uploader=user)
        operations.append(commits.AddFile(path=name, blob_sha256=blob.sha256))
    if delete_missing:
        try:
            current = selectors.snapshot(selectors.resolve_revision(repo, branch)).files
        except NotFound:
            current = {}
        operations += [commits.DeleteFile(path=p) for p in current if p not in names]
    commit = commits.create_commit(
        repo=repo, author=user, operations=operations, title=title, message=message, branch=branch
    )
    return commit.sha


def _publish_http(repo_id, folder, files, user_id, branch, title, message, repo_type, delete_missing, branch_from):
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    with owner_token(user_id, role="write", purpose="publish") as token:
        api = HfApi(endpoint=hub_url(), token=token)
        if branch_from is not None:
            api.create_branch(repo_id, branch=branch, revision=branch_from, repo_type=repo_type, exist_ok=True)
        names = {p.relative_to(folder).as_posix() for p in files}
        operations: list = [CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(folder / n)) for n in sorted(names)]
        if delete_missing:
            existing = api.list_repo_files(repo_id, revision=branch, repo_type=repo_type)
            operations += [CommitOperationDelete(path_in_repo=p) for p in existing if p not in names]
        info = api.create_commit(
            repo_id, operations, commit_message=title, commit_description=message, revision=branch, repo_type=repo_type
        )
        return info.oid


def ensure_repo(repo_id: str, *, user_id: int, private: bool = False, repo_type: str = "model") -> None:
    """Create the output repo if it does not exist yet (as `user_id`, who must be able to write there)."""
    if hub_url():
        from huggingface_hub import HfApi

        with owner_token(user_id, role="write", purpose="create repo") as token:
            HfApi(endpoint=hub_url(), token=token).create_repo(
                repo_id, repo_type=repo_type, private=private, exist_ok=True
            )
        return
    from hub.accounts.models import User
    from hub.accounts.selectors import get_namespace
    from hub.registry.models import Repo
    from hub.registry.services.repos import create_repo

    if Repo.objects.filter(type=repo_type, full_name__iexact=repo_id).exists():
        return
    from hub.core.errors import Conflict

    owner, _, name = repo_id.partition("/")
    try:
        create_repo(
            namespace=get_namespace(owner),
            name=name,
            type=repo_type,
            private=private,
            author=User.objects.get(pk=user_id),
        )
    except Conflict:  # created meanwhile (a re-delivered job): fine
        pass
