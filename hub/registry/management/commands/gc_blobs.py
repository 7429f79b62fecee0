"""`manage.py gc_blobs`: delete trees no commit uses and blobs no tree names, past a grace period."""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand

from hub.registry.services.gc import collect_garbage


class Command(BaseCommand):
    help = "Garbage-collect unreferenced trees, blobs and stale upload temp files."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--grace-seconds",
            type=int,
            default=24 * 3600,
            help="Spare blobs uploaded or touched more recently than this (a commit may still name them).",
        )
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, grace_seconds: int, dry_run: bool, **options) -> None:
        started = time.monotonic()
        report = collect_garbage(grace=timedelta(seconds=grace_seconds), dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {report.trees} trees, {report.blobs} blobs ({report.bytes} bytes), "
            f"{report.temp_files} temp files in {time.monotonic() - started:.1f}s."
        )
        if report.xet is not None:
            self.stdout.write(f"Xet: {report.xet}")
