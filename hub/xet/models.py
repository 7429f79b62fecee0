"""The Xet store: xorbs (immutable chunk containers in blob storage), file reconstructions and a dedup index.

A file is a list of terms, each a chunk range of one xorb; chunks are shared by every file, version and repo that
contains them, so storage grows by the new chunks only. Hashes are kept in Xet's string form (64 hex).
"""

from __future__ import annotations

from django.db import models


class Xorb(models.Model):
    hash = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField(help_text="serialized bytes kept in blob storage")
    unpacked_size = models.BigIntegerField()
    num_chunks = models.IntegerField()
    index = models.BinaryField(help_text="per chunk: hash, byte range in the xorb, unpacked size (formats.XorbIndex)")
    created_at = models.DateTimeField(auto_now_add=True)
    touched_at = models.DateTimeField(auto_now=True, help_text="last referenced; GC spares recently touched xorbs")


class XetFile(models.Model):
    hash = models.CharField(max_length=64, primary_key=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.BigIntegerField()
    num_terms = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)


class XetTerm(models.Model):
    """One run of chunks [chunk_start, chunk_end) of a xorb, at `offset` in the file."""

    file = models.ForeignKey(XetFile, on_delete=models.CASCADE, related_name="terms")
    seq = models.IntegerField()
    xorb = models.ForeignKey(Xorb, on_delete=models.PROTECT, related_name="terms")
    chunk_start = models.IntegerField()
    chunk_end = models.IntegerField()
    offset = models.BigIntegerField()
    length = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "seq"], name="xet_term_unique_seq")]
        indexes = [models.Index(fields=["file", "offset"])]


class DedupChunk(models.Model):
    """Chunks a global dedup query may ask about: each file's first chunk and those whose hash % 1024 == 0."""

    chunk_hash = models.CharField(max_length=64, db_index=True)
    xorb = models.ForeignKey(Xorb, on_delete=models.CASCADE, related_name="dedup_chunks")
    chunk_index = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chunk_hash", "xorb"], name="xet_dedup_chunk_unique")]
