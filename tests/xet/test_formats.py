"""Xet binary formats: hash strings, Merkle hashes (xet-core's reference vectors), xorbs, shards."""

import hashlib
import io
import os

import pytest

from hub.xet import formats
from tests.xet.builders import build_shard, build_xorb, split

A = "cfc5d07f6f03c29bbf424132963fe08d19a37d5757aaf520bf08119f05cd56d6"
B = "c3e67584b5c4fc2a89837ec39e40f2c8a6bb0b2987ac94cd4b31e5fbdd210a72"
C = "0d2beb91b9196929a5ddec9f6e306924ddf4a24268e3e59fd8464738d525af37"
D = "adf8773496a9b7319b2e50dc98093f344053b17d8ad37100b9c07d9805988784"


def test_hash_string_reverses_each_8_byte_group():
    raw = bytes(range(32))
    text = formats.hash_to_str(raw)
    assert text == "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    assert formats.str_to_hash(text) == raw
    with pytest.raises(formats.FormatError):
        formats.str_to_hash("zz" * 32)


@pytest.mark.parametrize(
    ("chunks", "root", "file_hash"),
    [
        ([(A, 100)], A, "8e16257caa3fe079d484d872a8975264b2ff683b0d6db9028cc7c0f968a45661"),
        ([(A, 100), (B, 200), (C, 300)], "71ec1275fca074724e2dd666921b3277c7cee603e4d025bcab2d4050015be2bc",
         "54e55dccc6653c612bdb5576c5d3cb34bb31bc4e100248abccf4c908b3ef7715"),
        ([(A, 100)] * 4, "89f2ada89ff8c96763c6b25010e6dd76a4c05b1466207633ea559acf2093211b",
         "2cdba690d0e09563596e0cda626d43eb4c96ef1e994fe72d9b2f5a83cfcd36dd"),
        ([(A, 100), (B, 200), (A, 100), (B, 200), (C, 300), (D, 400)],
         "52c826f99507aa05d0b45e9837fa1709e0485425cfbcb1e80db3905cf98b3ee9",
         "91d21684db364c8883ab8209fa5eb2e781cf07f37e1fa43e731c30839afe422f"),
    ],
)  # fmt: skip
def test_merkle_hashes_match_xet_core_reference(chunks, root, file_hash):
    pairs = [(formats.str_to_hash(h), n) for h, n in chunks]
    assert formats.hash_to_str(formats.merkle_root(pairs)) == root
    assert formats.hash_to_str(formats.file_hash(pairs)) == file_hash


def test_xorb_index_walks_every_compression_scheme():
    data = os.urandom(100_000) + b"\0" * 150_000 + bytes(range(256)) * 400
    pieces = split(data, 60_000)
    xorb = build_xorb(pieces)
    index = formats.index_xorb(io.BytesIO(xorb.body), len(xorb.body))
    assert formats.hash_to_str(index.merkle_hash()) == xorb.hash
    assert [c.size for c in index.chunks] == [len(p) for p in pieces]
    assert index.data_end == len(xorb.body)
    assert b"".join(formats.iter_chunk_data(xorb.body)) == data
    # round trip of the compact index kept in the database
    again = formats.XorbIndex.unpack(index.pack())
    assert again.chunks == index.chunks and again.data_end == index.data_end
    # a footer after the chunks is ignored
    footer = formats.XORB_FOOTER_IDENT + b"\x01" + b"\0" * 40 + (48).to_bytes(4, "little")
    index2 = formats.index_xorb(io.BytesIO(xorb.body + footer), len(xorb.body) + len(footer))
    assert index2.chunks == index.chunks and index2.data_end == len(xorb.body)


def test_xorb_index_rejects_garbage():
    with pytest.raises(formats.FormatError):
        formats.index_xorb(io.BytesIO(b"\x07" * 100), 100)
    xorb = build_xorb([os.urandom(1000)], [1])
    with pytest.raises(formats.FormatError):
        formats.index_xorb(io.BytesIO(xorb.body[:-5]), len(xorb.body) - 5)


def test_upload_shard_parses_files_terms_and_sha256():
    content = os.urandom(200_000)
    xorb = build_xorb(split(content))
    shard, hashes = build_shard([([(xorb, 0, 2), (xorb, 2, 4)], content)])
    f = io.BytesIO(shard)
    assert formats.read_shard_header(f) == 0
    (info,) = list(formats.iter_file_infos(f))
    assert formats.hash_to_str(info.hash) == hashes[0]
    assert info.size == len(content)
    assert [(t.chunk_start, t.chunk_end) for t in info.terms] == [(0, 2), (2, 4)]
    assert info.terms[0].verification == formats.verification_hash(h for h, _ in xorb.chunks[0:2])
    assert info.sha256_hex == hashlib.sha256(content).hexdigest()
    assert list(formats.iter_cas_infos(f)) == []


def test_dedup_shard_is_a_full_shard_with_keyed_lookup():
    xorb = build_xorb(split(os.urandom(300_000)))
    chunks, offset = [], 0
    for h, n in xorb.chunks:
        chunks.append((h, offset, n))
        offset += n
    key = os.urandom(32)
    info = formats.CasInfo(formats.str_to_hash(xorb.hash), chunks, offset, len(xorb.body))
    shard = formats.serialize_dedup_shard([info], hmac_key=key)
    f = io.BytesIO(shard)
    assert formats.read_shard_header(f) == formats.SHARD_FOOTER_SIZE
    assert list(formats.iter_file_infos(f)) == []
    (cas,) = list(formats.iter_cas_infos(f))
    assert cas.xorb == formats.str_to_hash(xorb.hash)
    assert [h for h, _, _ in cas.chunks] == [formats.keyed_hash(h, key) for h, _ in xorb.chunks]
    footer = shard[-formats.SHARD_FOOTER_SIZE :]
    assert int.from_bytes(footer[:8], "little") == 1
    assert footer[72:104] == key
    chunk_lookup_offset, chunk_lookup_n = (int.from_bytes(footer[i : i + 8], "little") for i in (56, 64))
    assert chunk_lookup_n == len(xorb.chunks)
    keys = [int.from_bytes(shard[chunk_lookup_offset + 16 * i :][:8], "little") for i in range(chunk_lookup_n)]
    assert keys == sorted(keys)
