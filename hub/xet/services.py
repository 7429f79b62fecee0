"""The Xet CAS: store xorbs, register the files a shard describes, plan reconstructions, answer dedup queries.

Everything uploaded is verified before it is trusted: a xorb's bytes must hash to its name, a file's terms must
carry the verification hashes of the chunks they cite and hash to the file hash, and the content rebuilt from
them must have the sha256 the client claims. Only then does the file become a registry Blob (with git_sha1).
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import secrets
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from hub.core.errors import Invalid, StorageFailed, TooLarge
from hub.registry import storage as registry_storage
from hub.registry.models import Blob, BlobGrant
from hub.xet import formats, store
from hub.xet.models import DedupChunk, XetFile, XetTerm, Xorb

log = logging.getLogger(__name__)

# A dedup answer lists the xorb holding the queried chunk and those that follow it in the newest file using it,
# so a client re-uploading a modified version learns about the old version (up to ~8 GiB of it) from one query.
DEDUP_MAX_XORBS = 128
MAX_TERMS_PER_FILE = 1_000_000


def max_shard_bytes() -> int:
    return int(getattr(settings, "XET_MAX_SHARD_BYTES", 256 * 1024 * 1024))


# --- hooks for the registry --------------------------------------------------------------------------------


def xet_hashes_for(sha256s: list[str]) -> dict[str, str]:
    """Xet file hash for each sha256 whose content is stored as Xet chunks (absent: plain blob)."""
    if not sha256s:
        return {}
    rows = Blob.objects.filter(sha256__in=set(sha256s)).exclude(xet_hash="").values_list("sha256", "xet_hash")
    return dict(rows)


def open_xet_blob(xet_hash: str, size: int) -> store.XetFileReader:
    return store.open_file(xet_hash, size)


# --- temp files --------------------------------------------------------------------------------------------


def spool(chunks: Iterable[bytes], *, limit: int) -> tuple[str, int]:
    """Write a request body to a temp file (never held in memory); returns (path, size). Caller deletes it."""
    settings.UPLOAD_TMP_DIR.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=settings.UPLOAD_TMP_DIR, prefix="xet-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"Body is larger than the limit of {limit} bytes.")
                out.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    return path, size


# --- xorbs -------------------------------------------------------------------------------------------------


def store_xorb(xorb_hash: str, path: str, size: int) -> bool:
    """Verify the serialized xorb at `path` and keep it under its hash. Returns False if it was already stored."""
    if Xorb.objects.filter(pk=xorb_hash).exists():
        Xorb.objects.filter(pk=xorb_hash).update(touched_at=timezone.now())
        return False
    if size > formats.MAX_XORB_BYTES + 1024 * 1024:
        raise TooLarge("A xorb is at most 64 MiB.")
    with open(path, "rb") as f:
        try:
            index = formats.index_xorb(f, size)
        except formats.FormatError as exc:
            raise Invalid(f"Malformed xorb: {exc}", code="bad_xorb") from None
    if formats.hash_to_str(index.merkle_hash()) != xorb_hash:
        raise Invalid("The xorb's content does not hash to its name.", code="hash_mismatch")
    key = store.xorb_key(xorb_hash)
    backend = registry_storage.blob_storage()
    try:
        # Written even if the key exists (e.g. left by a failed attempt): the bytes just verified are known good.
        with open(path, "rb") as f:
            saved = backend.save(key, registry_storage._SpooledFile(f, name=path))
        if saved != key:  # a storage that does not overwrite kept the first copy and renamed ours
            backend.delete(saved)
    except OSError as exc:
        log.exception("xorb storage write failed")
        raise StorageFailed("Could not write to blob storage.") from exc
    try:
        with transaction.atomic():
            xorb = Xorb.objects.create(
                hash=xorb_hash, size=size, unpacked_size=index.unpacked_size, num_chunks=len(index.chunks),
                index=index.pack(),
            )  # fmt: skip
            DedupChunk.objects.bulk_create(
                [
                    DedupChunk(chunk_hash=formats.hash_to_str(c.hash), xorb=xorb, chunk_index=i)
                    for i, c in enumerate(index.chunks)
                    if formats.is_global_dedup_eligible(c.hash)
                ],
                ignore_conflicts=True,
            )
    except IntegrityError:
        return False  # the same xorb, registered concurrently
    store.remember_xorb_index(xorb_hash, index)
    return True


# --- shards and files --------------------------------------------------------------------------------------


def register_shard(f: BinaryIO, *, uploader_id: int | None = None) -> int:
    """Register every file a shard (upload form: no footer needed) describes. Returns 1 (HF's SyncPerformed).

    The shard's verification entries prove the uploader holds the chunks, so each file becomes a blob they
    may commit by its sha256 (a BlobGrant).
    """
    # One file at a time (registering is idempotent); the CAS info section that follows lists the client's new
    # xorbs, which were indexed when they were uploaded, so it is not needed.
    try:
        formats.read_shard_header(f)
        for info in formats.iter_file_infos(f, max_entries=MAX_TERMS_PER_FILE):
            xet_file = register_file(info)
            if uploader_id is not None:
                BlobGrant.objects.get_or_create(user_id=uploader_id, sha256=xet_file.sha256)
    except formats.FormatError as exc:
        raise Invalid(f"Malformed shard: {exc}", code="bad_shard") from None
    return 1


def _term_refs(info: formats.FileInfo) -> list[store.TermRef]:
    refs, offset = [], 0
    for t in info.terms:
        refs.append(store.TermRef(formats.hash_to_str(t.xorb), t.chunk_start, t.chunk_end, offset, t.unpacked))
        offset += t.unpacked
    return refs


def register_file(info: formats.FileInfo) -> XetFile:
    file_hash = formats.hash_to_str(info.hash)
    claimed_sha = info.sha256_hex
    existing = XetFile.objects.filter(pk=file_hash).first()
    if existing is not None:
        if claimed_sha is not None and claimed_sha != existing.sha256:
            raise Invalid(f"File {file_hash} was registered with another sha256.", code="hash_mismatch")
        _touch_xorbs({t.xorb_id for t in existing.terms.all().only("xorb_id")})
        _link_blob(existing, None)
        return existing

    size = info.size
    if size > settings.MAX_FILE_SIZE:
        raise TooLarge(f"File is {size} bytes; the limit is {settings.MAX_FILE_SIZE}.")
    if not info.terms:
        raise Invalid("A file needs at least one term.", code="bad_shard")
    refs = _term_refs(info)
    wanted = {r.xorb for r in refs}
    known = set(Xorb.objects.filter(pk__in=wanted).values_list("hash", flat=True))
    missing = wanted - known
    if missing:
        raise Invalid(f"Xorb {sorted(missing)[0]} was not uploaded.", code="xorb_missing")
    indexes = {h: store.xorb_index(h) for h in wanted}

    chunks: list[tuple[bytes, int]] = []
    for term, ref in zip(info.terms, refs, strict=True):
        index = indexes[ref.xorb]
        if term.chunk_end > len(index.chunks):
            raise Invalid(f"Term cites chunks past the end of xorb {ref.xorb}.", code="bad_shard")
        cited = index.chunks[term.chunk_start : term.chunk_end]
        if sum(c.size for c in cited) != term.unpacked:
            raise Invalid("A term's size does not match the chunks it cites.", code="bad_shard")
        # Proof that the uploader had these chunks, not merely the xorb's name.
        if term.verification is None or formats.verification_hash(c.hash for c in cited) != term.verification:
            raise Invalid("A term's verification hash is missing or wrong.", code="verification_failed")
        chunks.extend((c.hash, c.size) for c in cited)
    if formats.file_hash(chunks) != info.hash:
        raise Invalid(f"The terms of file {file_hash} do not hash to it.", code="hash_mismatch")

    sha256, git_sha1 = _content_digests(refs, indexes, size)
    if claimed_sha is not None and claimed_sha != sha256:
        raise Invalid(f"File {file_hash} has sha256 {sha256}, not the declared {claimed_sha}.", code="hash_mismatch")

    # Index the file's first chunk: a client's first dedup query for a new version of this file asks for it.
    first_chunk = formats.hash_to_str(indexes[refs[0].xorb].chunks[refs[0].chunk_start].hash)
    try:
        with transaction.atomic():
            xet_file = XetFile.objects.create(hash=file_hash, sha256=sha256, size=size, num_terms=len(refs))
            terms = [
                XetTerm(file=xet_file, seq=i, xorb_id=r.xorb, chunk_start=r.chunk_start, chunk_end=r.chunk_end,
                        offset=r.offset, length=r.length)
                for i, r in enumerate(refs)
            ]  # fmt: skip
            XetTerm.objects.bulk_create(terms, batch_size=1000)
            DedupChunk.objects.bulk_create(
                [DedupChunk(chunk_hash=first_chunk, xorb_id=refs[0].xorb, chunk_index=refs[0].chunk_start)],
                ignore_conflicts=True,
            )
    except IntegrityError:
        xet_file = XetFile.objects.get(pk=file_hash)  # registered concurrently by the same content
    _touch_xorbs(wanted)
    _link_blob(xet_file, git_sha1)
    return xet_file


def _touch_xorbs(hashes: set[str]) -> None:
    if hashes:
        Xorb.objects.filter(pk__in=hashes).update(touched_at=timezone.now())


def _content_digests(refs: list[store.TermRef], indexes: dict, size: int) -> tuple[str, str]:
    """(sha256, git blob sha1) of the file rebuilt from its terms: decoding runs ahead in a thread."""
    indexes = dict(indexes)
    for ref in refs:  # load them here: the decoding thread must not touch the database
        if ref.xorb not in indexes:
            indexes[ref.xorb] = store.xorb_index(ref.xorb)
    sha256 = hashlib.sha256()
    git_sha1 = hashlib.sha1(f"blob {size}\0".encode())
    pieces: queue.Queue = queue.Queue(maxsize=4)
    failure: list[BaseException] = []
    stop = threading.Event()

    def produce() -> None:
        try:
            for piece in store.iter_terms_bytes(refs, indexes):
                if stop.is_set():
                    return
                pieces.put(piece)
        except BaseException as exc:  # noqa: BLE001 — handed to the consumer
            failure.append(exc)
        finally:
            pieces.put(None)

    worker = threading.Thread(target=produce, name="xet-rebuild", daemon=True)
    worker.start()
    total = 0
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xet-sha1") as hasher:
            while (piece := pieces.get()) is not None:
                total += len(piece)
                pending = hasher.submit(git_sha1.update, piece)  # hashlib drops the GIL: both run at once
                sha256.update(piece)
                pending.result()
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                pieces.get_nowait()
            except queue.Empty:
                worker.join(0.05)
    if failure:
        if isinstance(failure[0], store.XetDataMissing):
            raise Invalid(str(failure[0]), code="xorb_missing")
        raise failure[0]
    if total != size:
        raise Invalid("The file's terms do not add up to its size.", code="bad_shard")
    return sha256.hexdigest(), git_sha1.hexdigest()


def _link_blob(xet_file: XetFile, git_sha1: str | None) -> None:
    """Make the content a registry Blob (keyed by sha256) that reads through Xet, unless a plain copy exists."""
    blob = Blob.objects.filter(pk=xet_file.sha256).first()
    if blob is not None:
        if blob.xet_hash == xet_file.hash:
            Blob.objects.filter(pk=blob.pk).update(touched_at=timezone.now())
            return
        if not blob.xet_hash and registry_storage.blob_storage().exists(registry_storage.blob_key(blob.sha256)):
            Blob.objects.filter(pk=blob.pk).update(touched_at=timezone.now())  # served from the plain copy
            return
        Blob.objects.filter(pk=blob.pk).update(xet_hash=xet_file.hash, touched_at=timezone.now())
        return
    if git_sha1 is None:
        # Known Xet file whose Blob was collected: its digests were verified when it was registered.
        _, git_sha1 = _content_digests(store.load_terms(xet_file.hash), {}, xet_file.size)
    try:
        Blob.objects.create(sha256=xet_file.sha256, size=xet_file.size, git_sha1=git_sha1, xet_hash=xet_file.hash)
    except IntegrityError:
        Blob.objects.filter(pk=xet_file.sha256, xet_hash="").update(xet_hash=xet_file.hash)


# --- reconstruction ----------------------------------------------------------------------------------------


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def parse_range(header: str | None, size: int) -> tuple[int, int]:
    """(start, end inclusive) of `Range: bytes=a-b` (whole file when absent). RangeNotSatisfiable past the end."""
    if not header:
        if size == 0:
            raise RangeNotSatisfiable(size)
        return 0, size - 1
    unit, _, spec = header.strip().partition("=")
    first, sep, last = spec.partition("-")
    if unit.strip().lower() != "bytes" or not sep or "," in spec:
        raise Invalid("Range must be a single 'bytes=start-end'.", code="bad_range")
    try:
        if first == "":
            length = int(last)
            start, end = max(size - length, 0), size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
    except ValueError:
        raise Invalid("Range must be a single 'bytes=start-end'.", code="bad_range") from None
    if start >= size or end < start:
        raise RangeNotSatisfiable(size)
    return start, min(end, size - 1)


def reconstruction(xet_file: XetFile, start: int, end: int, fetch_url) -> dict:
    """The v1 reconstruction answer for bytes [start, end] of a file.

    `fetch_url(xorb, byte_start, byte_end_inclusive)` builds the self-authorising URL for a xorb byte range.
    """
    rows = (
        XetTerm.objects.filter(file=xet_file, offset__lte=end)
        .annotate(term_end=F("offset") + F("length"))
        .filter(term_end__gt=start)
        .order_by("seq")
        .values_list("xorb_id", "chunk_start", "chunk_end", "offset")
    )
    terms = []
    fetch: dict[str, list[dict]] = {}
    offset_into_first = 0
    for i, (xorb, cs, ce, term_offset) in enumerate(rows):
        index = store.xorb_index(xorb)
        pos = term_offset
        if i == 0:  # drop whole chunks before the range
            while pos + index.chunks[cs].size <= start:
                pos += index.chunks[cs].size
                cs += 1
            offset_into_first = start - pos
        # drop whole chunks after the range
        last, run = cs, pos
        while last < ce and run <= end:
            run += index.chunks[last].size
            last += 1
        ce = last
        length = sum(c.size for c in index.chunks[cs:ce])
        terms.append({"hash": xorb, "unpacked_length": length, "range": {"start": cs, "end": ce}})
        entries = fetch.setdefault(xorb, [])
        if not any(e["range"]["start"] <= cs and ce <= e["range"]["end"] for e in entries):
            b0, b1 = index.chunks[cs].offset, index.chunks[ce - 1].end - 1
            entries.append({"range": {"start": cs, "end": ce}, "url": fetch_url(xorb, b0, b1),
                            "url_range": {"start": b0, "end": b1}})  # fmt: skip
    return {"offset_into_first_range": offset_into_first, "terms": terms, "fetch_info": fetch}


# --- global dedup ------------------------------------------------------------------------------------------


def dedup_shard(chunk_hash: str) -> bytes | None:
    """A shard listing the xorbs a client may dedup against, given a chunk it has; None if the chunk is unknown."""
    hit = DedupChunk.objects.filter(chunk_hash=chunk_hash).order_by("-xorb__created_at").first()
    if hit is None:
        return None
    chosen = [hit.xorb_id]
    # The newest file using that xorb: the likeliest base of the version being uploaded.
    term = XetTerm.objects.filter(xorb_id=hit.xorb_id).order_by("-file__created_at", "seq").first()
    if term is not None:
        following = (
            XetTerm.objects.filter(file_id=term.file_id, seq__gte=term.seq)
            .order_by("seq")
            .values_list("xorb_id", flat=True)
        )
        for xorb in following.iterator():
            if xorb not in chosen:
                chosen.append(xorb)
                if len(chosen) >= DEDUP_MAX_XORBS:
                    break
    infos = []
    for xorb in chosen:
        index = store.xorb_index(xorb)
        chunks, offset = [], 0
        for c in index.chunks:
            chunks.append((c.hash, offset, c.size))
            offset += c.size
        infos.append(formats.CasInfo(formats.str_to_hash(xorb), chunks, offset, index.data_end))
    _touch_xorbs(set(chosen))
    return formats.serialize_dedup_shard(infos, hmac_key=secrets.token_bytes(32))


# --- garbage collection ------------------------------------------------------------------------------------


@dataclass
class XetGcReport:
    files: int = 0
    xorbs: int = 0
    bytes: int = 0


def collect_garbage(*, grace: timedelta, dry_run: bool = False) -> XetGcReport:
    """Drop Xet files no Blob uses, then xorbs no file uses, both older than `grace` (run after blob GC)."""
    report = XetGcReport()
    cutoff = timezone.now() - grace
    used = Exists(Blob.objects.filter(xet_hash=OuterRef("hash")))
    orphan_files = XetFile.objects.filter(created_at__lt=cutoff).exclude(used)
    for file_hash in orphan_files.values_list("hash", flat=True).iterator():
        report.files += 1
        if not dry_run:
            with transaction.atomic():  # re-checked at delete time: an upload may have linked it meanwhile
                XetFile.objects.filter(pk=file_hash).exclude(used).delete()  # its terms cascade
    orphan_xorbs = Xorb.objects.filter(touched_at__lt=cutoff).exclude(
        Exists(XetTerm.objects.filter(xorb=OuterRef("hash")))
    )
    for xorb_hash, size in orphan_xorbs.values_list("hash", "size").iterator():
        report.xorbs += 1
        report.bytes += size
        if not dry_run:
            with transaction.atomic():
                deleted, _ = Xorb.objects.filter(pk=xorb_hash, touched_at__lt=cutoff).delete()
            if deleted:
                registry_storage.blob_storage().delete(store.xorb_key(xorb_hash))
    return report


def storage_bytes() -> int:
    """Bytes the Xet store keeps (all xorbs, serialized)."""
    from django.db.models import Sum

    return Xorb.objects.aggregate(total=Sum("size"))["total"] or 0
