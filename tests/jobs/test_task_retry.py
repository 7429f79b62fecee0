"""A job message that meets a database outage is sent again with backoff, never dropped (workers.jobs.run)."""

import pytest
from django.db import OperationalError

from workers.tasks import jobs as job_tasks


def test_a_database_error_sends_the_job_again_instead_of_dropping_it(monkeypatch):
    calls = []

    def unreachable(job_id, **_kw):
        calls.append(job_id)
        raise OperationalError("connection failed: FATAL:  sorry, too many clients already")

    monkeypatch.setattr("workers.jobs.runner.run_job", unreachable)
    # apply() runs the task here and runs each retry at once (no countdown): every retry is one more attempt.
    result = job_tasks.run.apply(args=[7])
    assert calls == [7] * (job_tasks.DB_RETRIES + 1)
    assert isinstance(result.result, OperationalError)


def test_other_errors_are_not_retried(monkeypatch):
    calls = []

    def broken(job_id, **_kw):
        calls.append(job_id)
        raise RuntimeError("a bug")

    monkeypatch.setattr("workers.jobs.runner.run_job", broken)
    result = job_tasks.run.apply(args=[7])
    assert calls == [7]
    with pytest.raises(RuntimeError):
        result.get()
