"""Garbage collection of storage that no commit can reach."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from hub.registry import storage, trees
from hub.registry.models import Blob, Commit, Tree


@dataclass
class GcReport:
    trees: int = 0
    blobs: int = 0
    bytes: int = 0
    temp_files: int = 0
    xet: object = None  # hub.xet.services.XetGcReport


def collect_garbage(*, grace: timedelta, dry_run: bool = False) -> GcReport:
    from hub.xet.services import collect_garbage as collect_xet_garbage

    report = GcReport()
    used_trees = set(Commit.objects.values_list("tree_id", flat=True).distinct())
    orphan_trees = Tree.objects.exclude(pk__in=used_trees)
    report.trees = orphan_trees.count()
    if not dry_run:
        orphan_trees.delete()
    referenced: set[str] = set()
    for tree_id in Tree.objects.values_list("id", flat=True).iterator():
        referenced.update(ref.sha256 for ref in trees.load(tree_id).files.values())
    cutoff = timezone.now() - grace
    for blob in Blob.objects.filter(touched_at__lt=cutoff).iterator():
        if blob.sha256 in referenced:
            continue
        report.blobs += 1
        if not blob.xet_hash:  # Xet content is freed below, chunk by chunk, once no file uses it
            report.bytes += blob.size
        if not dry_run:
            Blob.objects.filter(pk=blob.pk, touched_at__lt=cutoff).delete()
            if not blob.xet_hash:
                storage.delete_blob(blob.sha256)
    report.xet = collect_xet_garbage(grace=grace, dry_run=dry_run)
    tmp = settings.UPLOAD_TMP_DIR
    if tmp.is_dir():
        for path in tmp.iterdir():
            if path.is_file() and path.stat().st_mtime < time.time() - grace.total_seconds():
                report.temp_files += 1
                if not dry_run:
                    path.unlink(missing_ok=True)
    return report
