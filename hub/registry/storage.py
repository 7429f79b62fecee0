"""Content-addressed blob storage over Django's storage API (local disk by default, S3-compatible when set).

Uploads stream to a temp file while hashing, so server memory stays flat whatever the size; the file lands
under its sha256 only when complete and verified. Landing it on local disk is a rename.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.utils import timezone

from hub.core.errors import Invalid, StorageFailed, TooLarge
from hub.registry.models import Blob, BlobGrant

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


def blob_storage():
    return storages["blobs"]


def blob_key(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def is_local() -> bool:
    return isinstance(blob_storage(), FileSystemStorage)


class _SpooledFile(File):
    """A finished temp file; FileSystemStorage moves it into place instead of copying."""

    def temporary_file_path(self) -> str:
        return self.name


def _git_sha1_of_file(path: str, size: int) -> str:
    digest = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def store_stream(
    chunks: Iterable[bytes],
    *,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
    max_size: int | None = None,
    uploader=None,
) -> Blob:
    """Receive a stream of bytes into blob storage; returns its Blob. Nothing is kept on any error.

    `uploader` (a user) is recorded as holding these bytes, which lets them commit the blob by its hash.
    """
    max_size = settings.MAX_FILE_SIZE if max_size is None else max_size
    if expected_sha256 is not None:
        expected_sha256 = expected_sha256.lower()
        if len(expected_sha256) != 64 or any(c not in "0123456789abcdef" for c in expected_sha256):
            raise Invalid("sha256 must be 64 hexadecimal characters.", code="invalid_hash")
    if expected_size is not None and expected_size > max_size:
        raise TooLarge(f"File is {expected_size} bytes; the limit is {max_size}.")
    settings.UPLOAD_TMP_DIR.mkdir(parents=True, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=settings.UPLOAD_TMP_DIR, prefix="upload-")
    try:
        sha256 = hashlib.sha256()
        git_sha1 = hashlib.sha1(f"blob {expected_size}\0".encode()) if expected_size is not None else None
        size = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > max_size:
                    raise TooLarge(f"File is larger than the limit of {max_size} bytes.")
                sha256.update(chunk)
                if git_sha1 is not None:
                    git_sha1.update(chunk)
                out.write(chunk)
        if expected_size is not None and size != expected_size:
            raise Invalid(f"Received {size} bytes, expected {expected_size}.", code="size_mismatch")
        digest = sha256.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            raise Invalid(f"Content sha256 is {digest}, not the declared {expected_sha256}.", code="hash_mismatch")
        existing = Blob.objects.filter(sha256=digest).first()
        if existing is not None and (existing.xet_hash or blob_storage().exists(blob_key(digest))):
            Blob.objects.filter(pk=digest).update(touched_at=timezone.now())
            grant(uploader, digest)
            return existing
        git_id = git_sha1.hexdigest() if git_sha1 is not None else _git_sha1_of_file(tmp_path, size)
        try:
            with open(tmp_path, "rb") as f:
                blob_storage().save(blob_key(digest), _SpooledFile(f, name=tmp_path))
        except OSError as exc:
            log.exception("blob storage write failed")
            raise StorageFailed("Could not write to blob storage.") from exc
        blob, _ = Blob.objects.update_or_create(sha256=digest, defaults={"size": size, "git_sha1": git_id})
        grant(uploader, digest)
        return blob
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)


def grant(user, sha256: str) -> None:
    """Record that `user` holds the bytes of blob `sha256` (no-op for anonymous or system uploads)."""
    if user is not None and getattr(user, "is_authenticated", False):
        BlobGrant.objects.get_or_create(user=user, sha256=sha256)


def store_many(contents: list[bytes]) -> list[Blob]:
    """Store many small in-memory contents at once: one lookup and one insert instead of a transaction each."""
    digests = [hashlib.sha256(data).hexdigest() for data in contents]
    existing = {b.sha256: b for b in Blob.objects.filter(sha256__in=set(digests))}
    new: dict[str, Blob] = {}
    for data, digest in zip(contents, digests, strict=True):
        if digest in existing or digest in new:
            continue
        if len(data) > settings.MAX_FILE_SIZE:
            raise TooLarge(f"File is larger than the limit of {settings.MAX_FILE_SIZE} bytes.")
        git_id = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
        try:
            blob_storage().save(blob_key(digest), ContentFile(data))
        except OSError as exc:
            log.exception("blob storage write failed")
            raise StorageFailed("Could not write to blob storage.") from exc
        new[digest] = Blob(sha256=digest, size=len(data), git_sha1=git_id)
    Blob.objects.bulk_create(new.values(), ignore_conflicts=True)
    found = existing | new
    return [found[d] for d in digests]


def store_bytes(data: bytes, *, max_size: int | None = None, uploader=None) -> Blob:
    return store_stream([data], expected_size=len(data), max_size=max_size, uploader=uploader)


def read_chunks(stream: BinaryIO, limit: int | None = None) -> Iterable[bytes]:
    """Chunks from a file-like object (a request body), at most `limit` bytes when given."""
    remaining = limit
    while remaining is None or remaining > 0:
        chunk = stream.read(CHUNK if remaining is None else min(CHUNK, remaining))
        if not chunk:
            break
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def open_blob(sha256: str) -> BinaryIO:
    """A binary, seekable file object over the content. Content uploaded through Xet is rebuilt from its chunks."""
    row = Blob.objects.filter(pk=sha256).values_list("xet_hash", "size").first()
    if row is not None and row[0]:
        from hub.xet.services import open_xet_blob

        return open_xet_blob(row[0], row[1])
    return blob_storage().open(blob_key(sha256), "rb")


def read_blob(sha256: str, limit: int | None = None) -> bytes:
    with open_blob(sha256) as f:
        return f.read() if limit is None else f.read(limit)


def blob_url(sha256: str) -> str | None:
    """A direct (presigned) URL for remote storage; None for local files, which the hub serves itself."""
    if is_local() or Blob.objects.filter(pk=sha256).exclude(xet_hash="").exists():
        return None  # Xet-stored content is rebuilt from its chunks by the hub itself
    return blob_storage().url(blob_key(sha256))


def delete_blob(sha256: str) -> None:
    blob_storage().delete(blob_key(sha256))
