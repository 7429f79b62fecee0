"""A worker machine's local disk: what crashed processes leave behind, and the snapshot cache's size bound.

- `.staging-*` folders in the snapshot cache are downloads in progress; one older than STALE_S belongs to a
  process that died mid-download (a live one renames or removes it within seconds to minutes).
- `job-<id>-*` folders under the worker temp root are a running job's work; once the job is no longer running
  (it finished, or was re-delivered elsewhere after this worker died) they are garbage.
- Complete snapshots (commits are immutable) are kept until the cache outgrows HUB_WORKER_CACHE_MAX_GB; then the
  least recently used go first, never one used in the last STALE_S (a running job or a model load may be reading
  it). `fetch_snapshot` touches a snapshot's marker on every hit, so its mtime is its last use.

`sweep()` runs when a worker starts and after each job; it is idempotent and safe beside other worker processes.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)
STALE_S = 3600
COMPLETE = ".hub-complete"  # the same marker as workers.hubclient.COMPLETE
_JOB_DIR = re.compile(r"^job-(\d+)-")


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0


def sweep_staging(cache: Path, *, now: float, stale_s: float = STALE_S) -> int:
    removed = 0
    for entry in cache.glob(".staging-*"):
        if entry.is_dir() and _age(entry, now) >= stale_s:
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def sweep_job_dirs(tmp: Path, *, running: set[int]) -> int:
    """Remove work folders of jobs that are not running (`running`: ids of the running jobs)."""
    removed = 0
    for entry in tmp.glob("job-*"):
        match = _JOB_DIR.match(entry.name)
        if entry.is_dir() and match and int(match.group(1)) not in running:
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def trim_cache(cache: Path, *, max_bytes: int, now: float, stale_s: float = STALE_S) -> int:
    """Evict least recently used complete snapshots until the cache fits in max_bytes; returns how many."""
    snapshots = []
    for entry in cache.iterdir():
        marker = entry / COMPLETE
        if entry.is_dir() and not entry.name.startswith(".") and marker.exists():
            snapshots.append((_age(marker, now), entry))
    sizes = {entry: _size(entry) for _, entry in snapshots}
    total = sum(sizes.values())
    evicted = 0
    for age, entry in sorted(snapshots, key=lambda item: -item[0]):  # oldest use first
        if total <= max_bytes:
            break
        if age < stale_s:
            break  # everything left was used recently
        # Drop the marker first: a reader that checks it now downloads again instead of reading a half-removed copy.
        (entry / COMPLETE).unlink(missing_ok=True)
        shutil.rmtree(entry, ignore_errors=True)
        total -= sizes[entry]
        evicted += 1
    return evicted


def _running_jobs() -> set[int]:
    from hub.jobs.models import Job, JobStatus

    return set(Job.objects.filter(status=JobStatus.RUNNING).values_list("pk", flat=True))


def sweep(*, now: float | None = None) -> dict[str, int]:
    """One pass over this machine's worker folders (see the module docstring); never raises."""
    from django.conf import settings

    from workers.hubclient import cache_root
    from workers.jobs.runner import work_root

    now = time.time() if now is None else now
    stats = {"staging": 0, "job_dirs": 0, "evicted": 0}
    try:
        cache = cache_root()
        stats["staging"] = sweep_staging(cache, now=now)
        stats["job_dirs"] = sweep_job_dirs(work_root(), running=_running_jobs())
        max_gb = float(getattr(settings, "HUB_WORKER_CACHE_MAX_GB", 50) or 0)
        if max_gb > 0:
            stats["evicted"] = trim_cache(cache, max_bytes=int(max_gb * (1 << 30)), now=now)
    except Exception:  # housekeeping never takes a worker down
        log.exception("worker housekeeping failed")
    if any(stats.values()):
        log.info("worker housekeeping: %s", stats)
    return stats
