"""SQLite store: schema versioning, round trip, FIFO and listing."""

from __future__ import annotations

import sqlite3

import pytest

from jupyterlab_primehub.jobs.model import Job, JobError, JobStatus
from jupyterlab_primehub.jobs.store import MIGRATIONS, JobStore, SchemaTooNew


def _job(n: int, status: JobStatus = JobStatus.PENDING) -> Job:
    return Job(
        id=f"{n:012x}",
        name=f"job{n}",
        path="a.ipynb",
        output_path=f"a-{n}-output.ipynb",
        backend="local",
        kernel="python3",
        status=status,
        parameters={"n": n, "s": "x"},
    )


def test_schema_is_versioned_and_survives_reopen(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    assert store.schema_version == len(MIGRATIONS)
    job = _job(1)
    job.error = JobError(3, "ValueError", "bad")
    store.add(job)
    store.close()
    reopened = JobStore(tmp_path / "jobs.sqlite")
    assert reopened.schema_version == len(MIGRATIONS)
    again = reopened.get(job.id)
    assert again == job


def test_newer_schema_is_refused(tmp_path):
    JobStore(tmp_path / "jobs.sqlite").close()
    db = sqlite3.connect(tmp_path / "jobs.sqlite")
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(SchemaTooNew, match="schema version 99"):
        JobStore(tmp_path / "jobs.sqlite")


def test_listing_filters_and_paginates_newest_first(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    for n in range(7):
        store.add(_job(n, JobStatus.SUCCEEDED if n % 2 else JobStatus.PENDING))
    page, total = store.list(limit=3, offset=0)
    assert total == 7 and [j.name for j in page] == ["job6", "job5", "job4"]
    page, total = store.list(JobStatus.SUCCEEDED, limit=2, offset=2)
    assert total == 3 and [j.name for j in page] == ["job1"]
    fifo = store.with_status(JobStatus.PENDING)
    assert [j.name for j in fifo] == ["job0", "job2", "job4", "job6"]
