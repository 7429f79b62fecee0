"""Build Xet objects the way a client does (xorbs, upload shards), for tests that talk to the CAS directly."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import lz4.frame

from hub.xet import formats


def group4(data: bytes) -> bytes:
    return b"".join(data[i::4] for i in range(4))


def serialize_chunk(data: bytes, scheme: int) -> bytes:
    if scheme == 0:
        payload = data
    elif scheme == 1:
        payload = lz4.frame.compress(data)
    else:
        payload = lz4.frame.compress(group4(data))
    size = len(payload).to_bytes(3, "little")
    return struct.pack("<B3sB3s", 0, size, scheme, len(data).to_bytes(3, "little")) + payload


@dataclass
class BuiltXorb:
    hash: str
    body: bytes
    chunks: list[tuple[bytes, int]]  # (chunk hash, size)


def build_xorb(pieces: list[bytes], schemes: list[int] | None = None) -> BuiltXorb:
    schemes = schemes or [i % 3 for i in range(len(pieces))]
    body = b"".join(serialize_chunk(p, s) for p, s in zip(pieces, schemes, strict=True))
    chunks = [(formats.chunk_hash(p), len(p)) for p in pieces]
    return BuiltXorb(formats.hash_to_str(formats.merkle_root(chunks)), body, chunks)


def split(data: bytes, size: int = 64 * 1024) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def build_shard(
    files: list[tuple[list[tuple[BuiltXorb, int, int]], bytes]], *, verify: bool = True
) -> tuple[bytes, list[str]]:
    """files: [(terms [(xorb, chunk_start, chunk_end)], content)] → (upload shard bytes, file hash strings)."""
    out = bytearray(formats.SHARD_HEADER_TAG + struct.pack("<QQ", 2, 0))
    hashes = []
    for terms, content in files:
        all_chunks = [c for x, s, e in terms for c in x.chunks[s:e]]
        fh = formats.file_hash(all_chunks)
        hashes.append(formats.hash_to_str(fh))
        flags = formats.FLAG_METADATA_EXT | (formats.FLAG_VERIFICATION if verify else 0)
        out += fh + struct.pack("<II", flags, len(terms)) + bytes(8)
        for x, s, e in terms:
            out += formats.str_to_hash(x.hash) + struct.pack("<IIII", 0, sum(n for _, n in x.chunks[s:e]), s, e)
        if verify:
            for x, s, e in terms:
                out += formats.verification_hash(h for h, _ in x.chunks[s:e]) + bytes(16)
        out += formats.str_to_hash(hashlib.sha256(content).hexdigest()) + bytes(16)
    out += formats.BOOKEND + formats.BOOKEND  # empty CAS info section
    return bytes(out), hashes
