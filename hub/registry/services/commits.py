"""Commits: a list of operations applied atomically, landing on a branch by compare-and-swap."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from hub.accounts.models import User
from hub.core.errors import Conflict, Invalid, NotFound, PreconditionFailed, TooLarge
from hub.registry import storage, trees
from hub.registry.models import Blob, Commit, CommitChange, Ref, Repo, RepoBlob
from hub.registry.paths import validate_folder, validate_path
from hub.registry.services.metadata import refresh_metadata
from hub.security.services import scan_committed_files

MAX_OPERATIONS = 100_000
CAS_RETRIES = 8


@dataclass(frozen=True)
class AddFile:
    """Add or replace a file, from bytes or from a blob uploaded beforehand (by sha256)."""

    path: str
    content: bytes | None = None
    blob_sha256: str | None = None


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


@dataclass(frozen=True)
class CopyFile:
    """Copy a file from a revision of this repo, or of another repo the caller may read."""

    src_path: str
    path: str
    src_revision: str | None = None
    src_repo: Repo | None = None


Operation = AddFile | DeleteFile | DeleteFolder | CopyFile


class _Retry(Exception):
    """The branch moved between our read and our compare-and-swap."""


def _validate(operations: list[Operation]) -> None:
    if not operations:
        raise Invalid("A commit needs at least one operation.", code="empty_commit")
    if len(operations) > MAX_OPERATIONS:
        raise TooLarge(f"A commit may hold at most {MAX_OPERATIONS} operations.")
    for op in operations:
        if isinstance(op, AddFile):
            validate_path(op.path)
            if (op.content is None) == (op.blob_sha256 is None):
                raise Invalid(f"add '{op.path}': give either content or a blob sha256.", code="invalid_operation")
            if op.content is not None and len(op.content) > settings.MAX_FILE_SIZE:
                raise TooLarge(f"'{op.path}' is larger than the limit of {settings.MAX_FILE_SIZE} bytes.")
        elif isinstance(op, DeleteFile):
            validate_path(op.path)
        elif isinstance(op, DeleteFolder):
            if validate_folder(op.path) == "":
                raise Invalid("Deleting the root folder is not allowed; delete the repo instead.", code="invalid_path")
        elif isinstance(op, CopyFile):
            validate_path(op.src_path, what="source path")
            validate_path(op.path)
        else:
            raise Invalid("Unknown operation.", code="invalid_operation")


def _store_blobs(operations: list[Operation], author: User | None) -> dict[str, Blob]:
    """Blobs for the add operations, keyed by path; inline content is stored first (content-addressed).

    A blob named by hash must be one the author may use (selectors.usable_blobs), else it is 'unknown'.
    """
    from hub.registry.selectors import usable_blobs

    wanted = {op.blob_sha256.lower() for op in operations if isinstance(op, AddFile) and op.blob_sha256}
    known = usable_blobs(author, wanted) if wanted else {}
    missing = wanted - known.keys()
    if missing:
        raise Invalid(f"Unknown blob(s): {', '.join(sorted(missing)[:5])}. Upload them first.", code="unknown_blob")
    inline = [op for op in operations if isinstance(op, AddFile) and op.content is not None]
    stored = storage.store_many([op.content for op in inline])
    by_path: dict[str, Blob] = {op.path: blob for op, blob in zip(inline, stored, strict=True)}
    for op in operations:
        if isinstance(op, AddFile) and op.content is None:
            by_path[op.path] = known[op.blob_sha256.lower()]
    return by_path


def _apply(
    repo: Repo, files: trees.Manifest, operations: list[Operation], blobs: dict[str, Blob], base: Commit | None
) -> trees.Manifest:
    from hub.registry.selectors import resolve_revision

    files = dict(files)
    for op in operations:
        if isinstance(op, AddFile):
            blob = blobs[op.path]
            files[op.path] = trees.FileRef(blob.sha256, blob.size, blob.git_sha1)
        elif isinstance(op, DeleteFile):
            if files.pop(op.path, None) is None:
                raise NotFound(f"Cannot delete '{op.path}': no such file.", code="entry_not_found")
        elif isinstance(op, DeleteFolder):
            prefix = validate_folder(op.path) + "/"
            doomed = [p for p in files if p.startswith(prefix)]
            if not doomed:
                raise NotFound(f"Cannot delete folder '{op.path}': no such folder.", code="entry_not_found")
            for p in doomed:
                del files[p]
        elif isinstance(op, CopyFile):
            src_repo = op.src_repo or repo
            if op.src_revision is None and src_repo.pk == repo.pk:
                source = files if base is None else trees.load(base.tree_id).files
            else:
                source = trees.load(resolve_revision(src_repo, op.src_revision or "main").tree_id).files
            if op.src_path not in source:
                raise NotFound(f"Cannot copy '{op.src_path}': no such file.", code="entry_not_found")
            files[op.path] = source[op.src_path]
    _check_file_folder_clash(files)
    return files


def _check_file_folder_clash(files: trees.Manifest) -> None:
    folders = {p[:i] for p in files for i, ch in enumerate(p) if ch == "/"}
    clash = folders & files.keys()
    if clash:
        raise Invalid(f"'{sorted(clash)[0]}' cannot be both a file and a folder.", code="path_conflict")


def _commit_sha(repo: Repo, tree_id: str, parent: str | None, author: str, when: str, message: str) -> str:
    body = (
        f"repo {repo.pk}\ntree {tree_id}\nparent {parent or ''}\nauthor {author} {when}\nnonce {secrets.token_hex(8)}"
    )
    return hashlib.sha1(f"{body}\n\n{message}".encode()).hexdigest()


def create_commit(
    *,
    repo: Repo,
    author: User | None,
    operations: list[Operation],
    title: str,
    message: str = "",
    branch: str = "main",
    parent_commit: str | None = None,
) -> Commit:
    """Apply `operations` on top of `branch` and move the branch to the new commit, atomically.

    With `parent_commit`, the branch must still point there, else PreconditionFailed (412) and nothing is stored.
    Without it, a commit that races another is re-applied on the new head, so neither is lost.
    """
    _validate(operations)
    title = (title or "").strip() or "Update files"
    if len(title) > 500:
        raise Invalid("Commit title is longer than 500 characters.", code="invalid")
    if parent_commit is not None:
        parent_commit = parent_commit.lower()
    blobs = _store_blobs(operations, author)
    for _ in range(CAS_RETRIES):
        try:
            commit = _commit_once(repo, author, operations, blobs, title, message or "", branch, parent_commit)
        except _Retry:
            if parent_commit is not None:
                break
            continue
        # Once the commit has landed (outside its transaction): pickle-based weights get their import scan.
        scan_committed_files({path: blob.sha256 for path, blob in blobs.items()})
        return commit
    raise PreconditionFailed(
        f"Branch '{branch}' moved while committing; fetch its new head and try again.",
        code="stale_parent",
    )


@transaction.atomic
def _commit_once(
    repo: Repo,
    author: User | None,
    operations: list[Operation],
    blobs: dict[str, Blob],
    title: str,
    message: str,
    branch: str,
    parent_commit: str | None,
) -> Commit:
    ref = Ref.objects.select_for_update().filter(repo=repo, kind=Ref.BRANCH, name=branch).first()
    head = Commit.objects.select_related("tree").get(pk=ref.commit_id) if ref else None
    if ref is None and (branch != "main" or Commit.objects.filter(repo=repo).exists()):
        raise NotFound(f"Branch '{branch}' not found.", code="revision_not_found")
    if parent_commit is not None and (head is None or head.sha != parent_commit):
        raise PreconditionFailed(
            f"parent_commit {parent_commit} is not the head of '{branch}'"
            + (f" ({head.sha})." if head else " (the branch is empty)."),
            code="stale_parent",
        )
    base_files = trees.load(head.tree_id).files if head else {}
    files = _apply(repo, base_files, operations, blobs, head)
    tree = trees.save_tree(files)
    now = timezone.now()
    author_name = author.username if author else "hub"
    full_message = f"{title}\n\n{message}".strip()
    commit = Commit.objects.create(
        repo=repo,
        sha=_commit_sha(repo, tree.pk, head.sha if head else None, author_name, now.isoformat(), full_message),
        parent=head,
        parent_shas=[head.sha] if head else [],
        tree=tree,
        author=author,
        author_name=author_name,
        title=title,
        message=message,
        created_at=now,
    )
    changes = trees.diff(base_files, files)
    status = {"added": CommitChange.ADDED, "removed": CommitChange.DELETED, "modified": CommitChange.MODIFIED}
    CommitChange.objects.bulk_create(
        [CommitChange(commit=commit, path=c.path, change=status[c.status]) for c in changes], batch_size=1000
    )
    new_blobs = {c.new.sha256 for c in changes if c.new is not None}
    RepoBlob.objects.bulk_create([RepoBlob(repo=repo, sha256=sha) for sha in new_blobs], ignore_conflicts=True)
    if ref is not None:
        moved = Ref.objects.filter(pk=ref.pk, commit_id=head.pk).update(commit=commit, updated_at=now)
        if moved != 1:
            raise _Retry
    else:
        try:
            with transaction.atomic():
                Ref.objects.create(repo=repo, kind=Ref.BRANCH, name=branch, commit=commit)
        except IntegrityError as exc:
            raise _Retry from exc
    if branch == "main":
        readme_changed = any(c.path == "README.md" for c in changes) or head is None
        refresh_metadata(repo=repo, files=files, commit=commit, readme_changed=readme_changed)
    return commit


# --- refs ----------------------------------------------------------------------------------------------


def _validate_ref_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 255:
        raise Invalid("A branch or tag name is required (at most 255 characters).", code="invalid_ref")
    if (
        name.startswith(("/", "-", "refs/"))
        or name.endswith(("/", ".lock", "."))
        or any(bad in name for bad in ("..", "//", "@{", "\\", " ", "~", "^", ":", "?", "*", "["))
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)
    ):
        raise Invalid(f"'{name}' is not a valid branch or tag name.", code="invalid_ref")
    if len(name) == 40 and all(c in "0123456789abcdef" for c in name):
        raise Invalid("A branch or tag name may not look like a commit id.", code="invalid_ref")
    return name


def _create_ref(repo: Repo, kind: str, name: str, revision: str, *, exist_ok: bool = False) -> Ref:
    from hub.registry.selectors import resolve_revision

    _validate_ref_name(name)
    commit = resolve_revision(repo, revision or "main")
    try:
        with transaction.atomic():
            return Ref.objects.create(repo=repo, kind=kind, name=name, commit=commit)
    except IntegrityError as exc:
        if exist_ok:
            return Ref.objects.get(repo=repo, kind=kind, name=name)
        raise Conflict(f"{kind.capitalize()} '{name}' already exists.", code=f"{kind}_exists") from exc


def create_branch(*, repo: Repo, name: str, revision: str = "main", exist_ok: bool = False) -> Ref:
    return _create_ref(repo, Ref.BRANCH, name, revision, exist_ok=exist_ok)


def create_tag(*, repo: Repo, name: str, revision: str = "main", exist_ok: bool = False) -> Ref:
    return _create_ref(repo, Ref.TAG, name, revision, exist_ok=exist_ok)


def delete_branch(*, repo: Repo, name: str) -> None:
    if name == "main":
        raise Invalid("The main branch cannot be deleted.", code="invalid_ref")
    if not Ref.objects.filter(repo=repo, kind=Ref.BRANCH, name=name).delete()[0]:
        raise NotFound(f"Branch '{name}' not found.", code="revision_not_found")


def delete_tag(*, repo: Repo, name: str) -> None:
    if not Ref.objects.filter(repo=repo, kind=Ref.TAG, name=name).delete()[0]:
        raise NotFound(f"Tag '{name}' not found.", code="revision_not_found")
