"""Reading Xet content back: byte ranges of stored xorbs, and files rebuilt from their terms (streamed, seekable).

Memory stays bounded: a file is decoded a window of chunks at a time (at most READ_WINDOW serialized bytes).
"""

from __future__ import annotations

import bisect
import io
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from hub.registry.storage import blob_storage
from hub.xet import formats
from hub.xet.models import XetTerm, Xorb

READ_WINDOW = 8 * 1024 * 1024
_CACHE_LOCK = threading.Lock()
_XORB_CACHE: OrderedDict[str, formats.XorbIndex] = OrderedDict()
_XORB_CACHE_SIZE = 64


class XetDataMissing(Exception):
    """A xorb the database knows about is not in storage (or the database lost a xorb)."""


def xorb_key(xorb_hash: str) -> str:
    return f"xet/xorbs/{xorb_hash[:2]}/{xorb_hash}"


def read_xorb_range(xorb_hash: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of a stored xorb: a ranged GET on S3, a seek on local disk."""
    storage = blob_storage()
    key = xorb_key(xorb_hash)
    bucket = getattr(storage, "bucket", None)
    if bucket is not None:  # django-storages S3: its File object would download the whole object first
        from storages.utils import clean_name

        name = storage._normalize_name(clean_name(key))
        body = bucket.Object(name).get(Range=f"bytes={start}-{end - 1}")["Body"]
        try:
            return body.read()
        finally:
            body.close()
    try:
        f = storage.open(key, "rb")
    except FileNotFoundError as exc:
        raise XetDataMissing(f"xorb {xorb_hash} is missing from storage") from exc
    with f:
        f.seek(start)
        data = f.read(end - start)
    if len(data) != end - start:
        raise XetDataMissing(f"xorb {xorb_hash} is shorter than its index")
    return data


def iter_xorb_range(xorb_hash: str, start: int, end: int, block: int = 1024 * 1024) -> Iterator[bytes]:
    """Stream bytes [start, end) of a stored xorb in blocks (one open file, or one ranged GET on S3)."""
    storage = blob_storage()
    key = xorb_key(xorb_hash)
    bucket = getattr(storage, "bucket", None)
    if bucket is not None:
        from storages.utils import clean_name

        name = storage._normalize_name(clean_name(key))
        body = bucket.Object(name).get(Range=f"bytes={start}-{end - 1}")["Body"]
        try:
            yield from body.iter_chunks(block)
        finally:
            body.close()
        return
    with storage.open(key, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            data = f.read(min(block, left))
            if not data:
                raise XetDataMissing(f"xorb {xorb_hash} is shorter than its index")
            left -= len(data)
            yield data


def xorb_index(xorb_hash: str) -> formats.XorbIndex:
    with _CACHE_LOCK:
        cached = _XORB_CACHE.get(xorb_hash)
        if cached is not None:
            _XORB_CACHE.move_to_end(xorb_hash)
            return cached
    raw = Xorb.objects.filter(pk=xorb_hash).values_list("index", flat=True).first()
    if raw is None:
        raise XetDataMissing(f"xorb {xorb_hash} is unknown")
    index = formats.XorbIndex.unpack(bytes(raw))
    with _CACHE_LOCK:
        _XORB_CACHE[xorb_hash] = index
        while len(_XORB_CACHE) > _XORB_CACHE_SIZE:
            _XORB_CACHE.popitem(last=False)
    return index


def remember_xorb_index(xorb_hash: str, index: formats.XorbIndex) -> None:
    with _CACHE_LOCK:
        _XORB_CACHE[xorb_hash] = index
        while len(_XORB_CACHE) > _XORB_CACHE_SIZE:
            _XORB_CACHE.popitem(last=False)


@dataclass(frozen=True)
class TermRef:
    xorb: str
    chunk_start: int
    chunk_end: int
    offset: int  # in the file
    length: int


def load_terms(file_hash: str) -> list[TermRef]:
    rows = XetTerm.objects.filter(file_id=file_hash).order_by("seq")
    return [
        TermRef(xorb, cs, ce, off, n)
        for xorb, cs, ce, off, n in rows.values_list("xorb_id", "chunk_start", "chunk_end", "offset", "length")
    ]


def decode_chunks(xorb_hash: str, index: formats.XorbIndex, first: int, last: int) -> bytes:
    """Decompressed data of chunks [first, last) of a xorb (read in one ranged request)."""
    raw = read_xorb_range(xorb_hash, index.chunks[first].offset, index.chunks[last - 1].end)
    return b"".join(formats.iter_chunk_data(raw))


def _windows(index: formats.XorbIndex, first: int, last: int) -> Iterator[tuple[int, int]]:
    """Split chunks [first, last) into runs of at most READ_WINDOW serialized bytes (at least one chunk each)."""
    start = first
    while start < last:
        end = start + 1
        while end < last and index.chunks[end].end - index.chunks[start].offset <= READ_WINDOW:
            end += 1
        yield start, end
        start = end


def iter_terms_bytes(terms: list[TermRef], indexes: dict[str, formats.XorbIndex] | None = None) -> Iterator[bytes]:
    """The whole file's bytes, in order, a window at a time (`indexes`: xorb indexes already loaded)."""
    indexes = indexes or {}
    for term in terms:
        index = indexes.get(term.xorb) or xorb_index(term.xorb)
        for first, last in _windows(index, term.chunk_start, term.chunk_end):
            yield decode_chunks(term.xorb, index, first, last)


class XetFileReader(io.RawIOBase):
    """A read-only, seekable file object over a Xet file, for /resolve (Range) and any blob reader."""

    def __init__(self, terms: list[TermRef], size: int) -> None:
        super().__init__()
        self._terms = terms
        self._starts = [t.offset for t in terms]
        self._size = size
        self._pos = 0
        self._buf = b""
        self._buf_start = 0

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError("invalid whence")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def _fill(self) -> None:
        """Decode the window of chunks holding the current position."""
        pos = self._pos
        i = bisect.bisect_right(self._starts, pos) - 1
        term = self._terms[i]
        index = xorb_index(term.xorb)
        # skip whole chunks before the position
        within = pos - term.offset
        first = term.chunk_start
        while within >= index.chunks[first].size:
            within -= index.chunks[first].size
            first += 1
        _, last = next(_windows(index, first, term.chunk_end))
        self._buf = decode_chunks(term.xorb, index, first, last)
        self._buf_start = pos - within

    def read(self, size: int = -1) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if size is None or size < 0:
            size = self._size - self._pos
        out = []
        while size > 0 and self._pos < self._size:
            offset = self._pos - self._buf_start
            if not (0 <= offset < len(self._buf)):
                self._fill()
                offset = self._pos - self._buf_start
            piece = self._buf[offset : offset + size]
            out.append(piece)
            self._pos += len(piece)
            size -= len(piece)
        return b"".join(out)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._buf = b""
        super().close()


def open_file(file_hash: str, size: int) -> XetFileReader:
    return XetFileReader(load_terms(file_hash), size)
