"""A worker machine's leftovers are swept and the snapshot cache stays within its bound (workers.housekeeping)."""

import os
import time

import pytest

from hub.jobs.models import Job
from workers import housekeeping
from workers.hubclient import COMPLETE

NOW = time.time()


def _folder(path, *, size: int = 0, age: float = 0.0, marker: bool = False):
    path.mkdir(parents=True)
    (path / "weights.bin").write_bytes(b"x" * size)
    if marker:
        (path / COMPLETE).write_text("sha")
    for item in (path, path / COMPLETE) if marker else (path,):
        os.utime(item, (NOW - age, NOW - age))
    return path


def test_stale_staging_folders_go_and_fresh_ones_stay(tmp_path):
    old = _folder(tmp_path / ".staging-old", age=2 * housekeeping.STALE_S)
    fresh = _folder(tmp_path / ".staging-new", age=10)
    snapshot = _folder(tmp_path / "models--a--b--sha", age=5 * housekeeping.STALE_S, marker=True)
    assert housekeeping.sweep_staging(tmp_path, now=NOW) == 1
    assert not old.exists() and fresh.exists() and snapshot.exists()


def test_work_folders_of_jobs_that_are_not_running_go(tmp_path):
    running = _folder(tmp_path / "job-7-abc")
    finished = _folder(tmp_path / "job-8-def")
    other = _folder(tmp_path / "notes")
    assert housekeeping.sweep_job_dirs(tmp_path, running={7}) == 1
    assert running.exists() and not finished.exists() and other.exists()


def test_cache_evicts_least_recently_used_snapshots_first(tmp_path):
    hour = housekeeping.STALE_S
    oldest = _folder(tmp_path / "models--a--x--1", size=1000, age=30 * hour, marker=True)
    older = _folder(tmp_path / "models--a--x--2", size=1000, age=20 * hour, marker=True)
    recent = _folder(tmp_path / "models--a--x--3", size=1000, age=2 * hour, marker=True)
    assert housekeeping.trim_cache(tmp_path, max_bytes=1500, now=NOW) == 2
    assert not oldest.exists() and not older.exists() and recent.exists()


def test_cache_never_evicts_a_snapshot_used_within_the_hour(tmp_path):
    busy = _folder(tmp_path / "models--a--x--1", size=1000, age=60, marker=True)
    assert housekeeping.trim_cache(tmp_path, max_bytes=10, now=NOW) == 0
    assert busy.exists()


def test_fetching_a_cached_snapshot_marks_its_use(tmp_path, monkeypatch):
    from workers import hubclient

    monkeypatch.setenv("HUB_WORKER_CACHE", str(tmp_path))
    folder = _folder(tmp_path / ("models--a--b--" + "0" * 40), age=10 * housekeeping.STALE_S, marker=True)
    assert hubclient.fetch_snapshot("a/b", "0" * 40) == folder
    assert time.time() - (folder / COMPLETE).stat().st_mtime < housekeeping.STALE_S


@pytest.mark.django_db
def test_sweep_uses_the_database_for_running_jobs(tmp_path, monkeypatch, settings):
    monkeypatch.setenv("HUB_WORKER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HUB_WORKER_TMP", str(tmp_path / "tmp"))
    settings.HUB_WORKER_CACHE_MAX_GB = 0  # no bound: nothing evicted
    _folder(tmp_path / "cache" / ".staging-x", age=2 * housekeeping.STALE_S)
    _folder(tmp_path / "tmp" / "job-999999-x")
    assert not Job.objects.filter(pk=999999).exists()
    assert housekeeping.sweep() == {"staging": 1, "job_dirs": 1, "evicted": 0}
    assert list((tmp_path / "cache").iterdir()) == [] and list((tmp_path / "tmp").iterdir()) == []
