"""The Xet wire formats: hashes, xorbs (chunk containers) and shards (file reconstructions + xorb listings).

Pure functions over bytes and file objects; no Django. Follows the public Xet spec (xet-core `spec/`), checked
against what hf_xet 1.8.0 sends.

Hashes are 32 raw bytes. Their string form (URLs, JSON, X-Xet-Hash, and also the sha256 kept in a shard's
FileMetadataExt) reverses each 8-byte group before hex-encoding: see `hash_to_str`.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import lz4.frame
from blake3 import blake3

HASH_LEN = 32
DATA_KEY = bytes(
    [102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28,
     157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41]
)  # fmt: skip
INTERNAL_NODE_KEY = bytes(
    [1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230,
     93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63]
)  # fmt: skip
VERIFICATION_KEY = bytes(
    [127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243,
     164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195]
)  # fmt: skip
ZERO_KEY = bytes(32)

MAX_XORB_BYTES = 64 * 1024 * 1024  # serialized size limit of a xorb (the spec's)
MAX_CHUNK_BYTES = 128 * 1024 * 2  # an uncompressed chunk is ≤ 128 KiB; leave room for odd clients
CHUNK_HEADER = struct.Struct("<B3sB3s")  # version, compressed size (u24), compression type, uncompressed size (u24)
XORB_FOOTER_IDENT = b"XETBLOB"

SHARD_HEADER_TAG = bytes(
    [72, 70, 82, 101, 112, 111, 77, 101, 116, 97, 68, 97, 116, 97, 0, 85,
     105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169]
)  # fmt: skip
SHARD_HEADER_VERSION = 2
SHARD_FOOTER_VERSION = 1
SHARD_FOOTER_SIZE = 200
ENTRY = 48  # every shard record (headers, entries, bookends) is 48 bytes
BOOKEND = b"\xff" * 32 + b"\x00" * 16
FLAG_VERIFICATION = 1 << 31
FLAG_METADATA_EXT = 1 << 30
GLOBAL_DEDUP_MODULUS = 1024


class FormatError(ValueError):
    """The bytes are not a valid xorb / shard / hash."""


# --- hashes ------------------------------------------------------------------------------------------------


def hash_to_str(raw: bytes) -> str:
    """Xet's string form of a 32-byte hash: each 8-byte group as a little-endian u64 in 16 hex digits."""
    if len(raw) != HASH_LEN:
        raise FormatError("a hash is 32 bytes")
    return "".join(raw[i : i + 8][::-1].hex() for i in range(0, HASH_LEN, 8))


def str_to_hash(text: str) -> bytes:
    if len(text) != 64:
        raise FormatError("a hash is 64 hexadecimal characters")
    try:
        return b"".join(bytes.fromhex(text[i : i + 16])[::-1] for i in range(0, 64, 16))
    except ValueError:
        raise FormatError("a hash is 64 hexadecimal characters") from None


def is_hash_str(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def chunk_hash(data: bytes) -> bytes:
    return blake3(data, key=DATA_KEY).digest()


def keyed_hash(raw: bytes, key: bytes) -> bytes:
    """Xet's HMAC of a hash: blake3 keyed by `key` (used for file hashes with a zero key and for dedup shards)."""
    return blake3(raw, key=key).digest()


def hash_mod(raw: bytes, modulus: int) -> int:
    """`hash % n` as xet-core computes it: the last u64 (little-endian) of the hash."""
    return int.from_bytes(raw[24:32], "little") % modulus


def truncate_hash(raw: bytes) -> int:
    """The u64 key of shard lookup tables: the first 8 bytes, little-endian."""
    return int.from_bytes(raw[:8], "little")


def is_global_dedup_eligible(raw: bytes) -> bool:
    return hash_mod(raw, GLOBAL_DEDUP_MODULUS) == 0


def _node_hash(children: list[tuple[bytes, int]]) -> tuple[bytes, int]:
    text = "".join(f"{hash_to_str(h)} : {size}\n" for h, size in children)
    return blake3(text.encode(), key=INTERNAL_NODE_KEY).digest(), sum(size for _, size in children)


def _next_cut(nodes: list[tuple[bytes, int]], start: int) -> int:
    """End (exclusive) of the group starting at `start`: xet-core's variable branching (mean 4, at most 9)."""
    remaining = len(nodes) - start
    if remaining <= 2:
        return len(nodes)
    end = min(start + 9, len(nodes))
    for i in range(start + 2, end):
        if hash_mod(nodes[i][0], 4) == 0:
            return i + 1
    return end


def merkle_root(chunks: list[tuple[bytes, int]]) -> bytes:
    """The aggregated Merkle root of (chunk hash, size) pairs: a xorb's hash, or a file hash before its salt."""
    if not chunks:
        return bytes(32)
    nodes = list(chunks)
    while len(nodes) > 1:
        merged = []
        i = 0
        while i < len(nodes):
            cut = _next_cut(nodes, i)
            merged.append(_node_hash(nodes[i:cut]))
            i = cut
        nodes = merged
    return nodes[0][0]


def file_hash(chunks: list[tuple[bytes, int]]) -> bytes:
    if not chunks:
        return bytes(32)
    return keyed_hash(merkle_root(chunks), ZERO_KEY)


def verification_hash(chunk_hashes: Iterable[bytes]) -> bytes:
    return blake3(b"".join(chunk_hashes), key=VERIFICATION_KEY).digest()


# --- xorbs -------------------------------------------------------------------------------------------------


def _u24(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def decompress_chunk(scheme: int, payload: bytes, size: int) -> bytes:
    if scheme == 0:
        data = payload
    elif scheme == 1:
        data = lz4.frame.decompress(payload)
    elif scheme == 2:
        data = _ungroup4(lz4.frame.decompress(payload))
    else:
        raise FormatError(f"unknown chunk compression {scheme}")
    if len(data) != size:
        raise FormatError("a chunk's size does not match its header")
    return data


def _ungroup4(grouped: bytes) -> bytes:
    """Undo byte-grouping: 4 groups of sizes ⌈n/4⌉… back to interleaved order."""
    n = len(grouped)
    base, extra = divmod(n, 4)
    sizes = [base + (1 if i < extra else 0) for i in range(4)]
    out = bytearray(n)
    pos = 0
    for g in range(4):
        out[g::4] = grouped[pos : pos + sizes[g]]
        pos += sizes[g]
    return bytes(out)


@dataclass
class XorbChunk:
    offset: int  # of its header in the serialized xorb
    end: int  # end of its data in the serialized xorb
    size: int  # uncompressed
    hash: bytes


@dataclass
class XorbIndex:
    """What the server keeps about a xorb: per chunk its hash, where it sits in the serialized bytes, and its size."""

    chunks: list[XorbChunk]
    data_end: int  # end of the chunk data (any footer follows)

    @property
    def unpacked_size(self) -> int:
        return sum(c.size for c in self.chunks)

    def merkle_hash(self) -> bytes:
        return merkle_root([(c.hash, c.size) for c in self.chunks])

    # compact binary form for the database: n × (hash[32], offset u32, size u32), then data_end u32
    def pack(self) -> bytes:
        parts = [struct.pack("<II", len(self.chunks), self.data_end)]
        parts += [c.hash + struct.pack("<III", c.offset, c.end, c.size) for c in self.chunks]
        return b"".join(parts)

    @classmethod
    def unpack(cls, blob: bytes) -> XorbIndex:
        n, data_end = struct.unpack_from("<II", blob, 0)
        chunks = []
        pos = 8
        for _ in range(n):
            h = blob[pos : pos + 32]
            offset, end, size = struct.unpack_from("<III", blob, pos + 32)
            chunks.append(XorbChunk(offset, end, size, h))
            pos += 44
        return cls(chunks, data_end)


def read_chunk_header(raw: bytes) -> tuple[int, int, int, int]:
    """(version, compressed size, scheme, uncompressed size)."""
    version, csize, scheme, usize = CHUNK_HEADER.unpack(raw)
    return version, _u24(csize), scheme, _u24(usize)


def index_xorb(f: BinaryIO, total: int) -> XorbIndex:
    """Walk a serialized xorb (a file object at offset 0 of `total` bytes): decompress and hash every chunk.

    Memory stays at one chunk. Raises FormatError if the bytes are not a xorb.
    """
    chunks: list[XorbChunk] = []
    pos = 0
    while pos < total:
        header = f.read(CHUNK_HEADER.size)
        if header[:7] == XORB_FOOTER_IDENT[: len(header)] and chunks:
            break  # the optional footer (XorbObjectInfo): chunk data is over
        if len(header) < CHUNK_HEADER.size:
            raise FormatError("truncated chunk header")
        version, csize, scheme, usize = read_chunk_header(header)
        if version != 0:
            raise FormatError(f"unknown chunk version {version}")
        if csize > MAX_CHUNK_BYTES or usize > MAX_CHUNK_BYTES or usize == 0:
            raise FormatError("chunk too large")
        payload = f.read(csize)
        if len(payload) != csize:
            raise FormatError("truncated chunk")
        try:
            data = decompress_chunk(scheme, payload, usize)
        except RuntimeError as exc:  # lz4 errors
            raise FormatError(f"bad chunk compression: {exc}") from None
        end = pos + CHUNK_HEADER.size + csize
        chunks.append(XorbChunk(pos, end, usize, chunk_hash(data)))
        pos = end
    if not chunks:
        raise FormatError("empty xorb")
    return XorbIndex(chunks, pos)


def iter_chunk_data(raw: bytes) -> Iterator[bytes]:
    """Decompressed chunks from serialized chunk bytes (a contiguous run of whole chunks)."""
    pos = 0
    n = len(raw)
    while pos < n:
        _, csize, scheme, usize = read_chunk_header(raw[pos : pos + CHUNK_HEADER.size])
        start = pos + CHUNK_HEADER.size
        yield decompress_chunk(scheme, raw[start : start + csize], usize)
        pos = start + csize


# --- shards ------------------------------------------------------------------------------------------------


@dataclass
class Term:
    xorb: bytes
    unpacked: int
    chunk_start: int
    chunk_end: int  # exclusive
    verification: bytes | None = None


@dataclass
class FileInfo:
    hash: bytes
    terms: list[Term] = field(default_factory=list)
    sha256: bytes | None = None  # raw bytes as the shard holds them (see `sha256_hex`)

    @property
    def size(self) -> int:
        return sum(t.unpacked for t in self.terms)

    @property
    def sha256_hex(self) -> str | None:
        """The normal sha256 hex: FileMetadataExt stores it in the same 8-byte-group order as Xet hashes."""
        return hash_to_str(self.sha256) if self.sha256 is not None else None


@dataclass
class CasInfo:
    xorb: bytes
    chunks: list[tuple[bytes, int, int]]  # (chunk hash, unpacked start offset, unpacked size)
    bytes_in_cas: int = 0
    bytes_on_disk: int = 0


def _read_entry(f: BinaryIO) -> bytes:
    raw = f.read(ENTRY)
    if len(raw) != ENTRY:
        raise FormatError("truncated shard")
    return raw


def read_shard_header(f: BinaryIO) -> int:
    """Validate the 48-byte header; returns the footer size it declares."""
    raw = _read_entry(f)
    if raw[:32] != SHARD_HEADER_TAG:
        raise FormatError("not a shard (bad magic)")
    version, footer_size = struct.unpack_from("<QQ", raw, 32)
    if version != SHARD_HEADER_VERSION:
        raise FormatError(f"unsupported shard version {version}")
    return footer_size


def iter_file_infos(f: BinaryIO, *, max_entries: int = 10_000_000) -> Iterator[FileInfo]:
    """File infos from the file info section (the reader sits right after the header); stops at the bookend."""
    while True:
        raw = _read_entry(f)
        file_hash_raw = raw[:32]
        if file_hash_raw == b"\xff" * 32:
            return
        flags, n = struct.unpack_from("<II", raw, 32)
        if n > max_entries:
            raise FormatError("too many terms in a file")
        info = FileInfo(hash=file_hash_raw)
        for _ in range(n):
            e = _read_entry(f)
            _cas_flags, unpacked, start, end = struct.unpack_from("<IIII", e, 32)
            if end <= start:
                raise FormatError("empty or reversed chunk range")
            info.terms.append(Term(e[:32], unpacked, start, end))
        if flags & FLAG_VERIFICATION:
            for term in info.terms:
                term.verification = _read_entry(f)[:32]
        if flags & FLAG_METADATA_EXT:
            info.sha256 = _read_entry(f)[:32]
        yield info


def iter_cas_infos(f: BinaryIO, *, max_chunks: int = 1 << 20) -> Iterator[CasInfo]:
    """CAS infos from the CAS info section (the reader sits right after the file info bookend)."""
    while True:
        raw = _read_entry(f)
        if raw[:32] == b"\xff" * 32:
            return
        _flags, n, in_cas, on_disk = struct.unpack_from("<IIII", raw, 32)
        if n > max_chunks:
            raise FormatError("too many chunks in a xorb")
        chunks = []
        for _ in range(n):
            e = _read_entry(f)
            start, size = struct.unpack_from("<II", e, 32)
            chunks.append((e[:32], start, size))
        yield CasInfo(raw[:32], chunks, in_cas, on_disk)


def serialize_dedup_shard(
    xorbs: list[CasInfo], *, hmac_key: bytes = ZERO_KEY, expiry_seconds: int = 7 * 86400
) -> bytes:
    """A full shard (header, empty file info, CAS info, lookup tables, footer) answering a global dedup query.

    With a non-zero `hmac_key` the chunk hashes are keyed, so a client learns which xorb holds a chunk only for the
    chunks it already has (it keys its own hashes to compare).
    """
    out = bytearray()
    out += SHARD_HEADER_TAG + struct.pack("<QQ", SHARD_HEADER_VERSION, SHARD_FOOTER_SIZE)
    file_info_offset = len(out)
    out += BOOKEND
    cas_info_offset = len(out)
    cas_lookup: list[tuple[int, int]] = []
    chunk_lookup: list[tuple[int, int, int]] = []
    index = 0
    stored = 0
    for xorb in sorted(xorbs, key=lambda x: x.xorb):
        cas_lookup.append((truncate_hash(xorb.xorb), index))
        unpacked = sum(size for _, _, size in xorb.chunks)
        out += xorb.xorb + struct.pack("<IIII", 0, len(xorb.chunks), unpacked, xorb.bytes_on_disk)
        for i, (h, start, size) in enumerate(xorb.chunks):
            keyed = keyed_hash(h, hmac_key) if hmac_key != ZERO_KEY else h
            out += keyed + struct.pack("<II", start, size) + bytes(8)
            chunk_lookup.append((truncate_hash(keyed), index, i))
        index += 1 + len(xorb.chunks)
        stored += unpacked
    out += BOOKEND
    file_lookup_offset = len(out)
    cas_lookup_offset = len(out)
    for key, idx in cas_lookup:
        out += struct.pack("<QI", key, idx)
    chunk_lookup_offset = len(out)
    chunk_lookup.sort()
    for key, idx, offset in chunk_lookup:
        out += struct.pack("<QII", key, idx, offset)
    footer_offset = len(out)
    now = int(time.time())
    out += struct.pack(
        "<QQQQQQQQQ", SHARD_FOOTER_VERSION, file_info_offset, cas_info_offset,
        file_lookup_offset, 0, cas_lookup_offset, len(cas_lookup), chunk_lookup_offset, len(chunk_lookup),
    )  # fmt: skip
    out += hmac_key
    out += struct.pack("<QQ", now, now + expiry_seconds)
    out += bytes(48)
    out += struct.pack("<QQQQ", stored, stored, stored, footer_offset)
    assert len(out) - footer_offset == SHARD_FOOTER_SIZE
    return bytes(out)
