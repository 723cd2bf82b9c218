"""SQLite store: schema versioning, round trip, FIFO and listing."""

from __future__ import annotations

import sqlite3

import pytest

from jupyterlab_primehub.jobs.model import EndedEarly, Job, JobError, State
from jupyterlab_primehub.jobs.store import MIGRATIONS, JobStore, SchemaTooNew


def _job(n: int, status: State = State.PENDING) -> Job:
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
        store.add(_job(n, State.SUCCEEDED if n % 2 else State.PENDING))
    page, total = store.list(limit=3, offset=0)
    assert total == 7 and [j.name for j in page] == ["job6", "job5", "job4"]
    page, total = store.list(State.SUCCEEDED, limit=2, offset=2)
    assert total == 3 and [j.name for j in page] == ["job1"]
    fifo = store.with_status(State.PENDING)
    assert [j.name for j in fifo] == ["job0", "job2", "job4", "job6"]


def test_ended_early_round_trips_and_old_databases_gain_the_column(tmp_path):
    # a database written before ended_early existed (schema version 1)
    db = sqlite3.connect(tmp_path / "jobs.sqlite")
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version (version) VALUES (1)")
    db.executescript(MIGRATIONS[0])
    db.execute(
        "INSERT INTO jobs (id, name, path, output_path, backend, kernel, status, parameters, "
        "created_at) VALUES ('00000000000a', 'old', 'a.ipynb', 'o.ipynb', 'local', 'python3', "
        "'succeeded', '{}', '2026-01-01T00:00:00.000Z')"
    )
    db.commit()
    db.close()
    store = JobStore(tmp_path / "jobs.sqlite")
    assert store.schema_version == len(MIGRATIONS)
    old = store.get("00000000000a")
    assert old.ended_early is None and old.to_json()["endedEarly"] is None
    job = _job(2, State.SUCCEEDED)
    job.ended_early = EndedEarly(1, "SystemExit", "0")
    store.add(job)
    again = store.get(job.id)
    assert again == job
    assert again.to_json()["endedEarly"] == {"cellIndex": 1, "ename": "SystemExit", "evalue": "0"}
