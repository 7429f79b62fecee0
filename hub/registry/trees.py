"""Snapshots (trees): encode, decode, list folders, diff. Pure functions over an immutable mapping."""

from __future__ import annotations

import bisect
import hashlib
import json
import zlib
from dataclasses import dataclass
from typing import NamedTuple

from hub.registry.models import Tree


class FileRef(NamedTuple):
    sha256: str
    size: int
    git_sha1: str  # the git blob id, which HF clients use as the ETag of small files


# path -> FileRef
Manifest = dict[str, FileRef]


@dataclass(frozen=True)
class Snapshot:
    """A decoded tree: the manifest and its sorted paths (for prefix scans)."""

    id: str
    files: Manifest
    paths: tuple[str, ...]

    def folder_range(self, folder: str) -> tuple[int, int]:
        """Index range of paths under `folder` ('' = everything)."""
        if not folder:
            return 0, len(self.paths)
        prefix = folder + "/"
        start = bisect.bisect_left(self.paths, prefix)
        end = bisect.bisect_left(self.paths, prefix + "\U0010ffff")
        return start, end

    def is_folder(self, folder: str) -> bool:
        start, end = self.folder_range(folder)
        return end > start


def encode(files: Manifest) -> tuple[str, bytes]:
    canonical = json.dumps(sorted((p, *ref) for p, ref in files.items()), separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest(), zlib.compress(canonical, 6)


def save_tree(files: Manifest) -> Tree:
    tree_id, data = encode(files)
    tree = Tree.objects.filter(pk=tree_id).only("id").first()
    if tree is None:
        tree, _ = Tree.objects.get_or_create(
            pk=tree_id,
            defaults={"data": data, "file_count": len(files), "total_size": sum(ref.size for ref in files.values())},
        )
    return tree


def _decode(tree_id: str, data: bytes) -> Snapshot:
    rows = json.loads(zlib.decompress(data))
    files = {row[0]: FileRef(*row[1:]) for row in rows}
    return Snapshot(id=tree_id, files=files, paths=tuple(row[0] for row in rows))


_by_id: dict[str, Snapshot] = {}


def load(tree_id: str) -> Snapshot:
    snapshot = _by_id.get(tree_id)
    if snapshot is None:
        data = Tree.objects.values_list("data", flat=True).get(pk=tree_id)
        snapshot = _decode(tree_id, bytes(data))
        if len(_by_id) > 256:
            _by_id.clear()
        _by_id[tree_id] = snapshot
    return snapshot


@dataclass(frozen=True)
class Entry:
    type: str  # "file" or "directory"
    path: str
    size: int = 0
    sha256: str = ""
    git_sha1: str = ""


def list_folder(snapshot: Snapshot, folder: str, *, recursive: bool) -> list[Entry]:
    """Entries under `folder`, sorted by path. Non-recursive listings show immediate files and sub-folders."""
    start, end = snapshot.folder_range(folder)
    prefix_len = len(folder) + 1 if folder else 0
    entries: list[Entry] = []
    paths = snapshot.paths
    if not recursive:
        # A sub-folder's paths are contiguous in sorted order: list it once, then jump past all of them.
        i = start
        while i < end:
            path = paths[i]
            slash = path.find("/", prefix_len)
            if slash < 0:
                ref = snapshot.files[path]
                entries.append(Entry("file", path, ref.size, ref.sha256, ref.git_sha1))
                i += 1
            else:
                sub = path[:slash]
                entries.append(Entry("directory", sub))
                i = bisect.bisect_left(paths, sub + "/\U0010ffff", i, end)
        entries.sort(key=lambda e: e.path)
        return entries
    seen_dirs: set[str] = set()
    for path in paths[start:end]:
        # Every folder between `folder` and the file, once.
        slash = path.find("/", prefix_len)
        while slash >= 0:
            sub = path[:slash]
            if sub not in seen_dirs:
                seen_dirs.add(sub)
                entries.append(Entry("directory", sub))
            slash = path.find("/", slash + 1)
        ref = snapshot.files[path]
        entries.append(Entry("file", path, ref.size, ref.sha256, ref.git_sha1))
    entries.sort(key=lambda e: e.path)
    return entries


@dataclass(frozen=True)
class Change:
    path: str
    status: str  # added, removed, modified
    old: FileRef | None
    new: FileRef | None


def diff(old: Manifest, new: Manifest) -> list[Change]:
    changes = []
    for path in sorted(old.keys() | new.keys()):
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        status = "added" if a is None else "removed" if b is None else "modified"
        changes.append(Change(path, status, a, b))
    return changes
