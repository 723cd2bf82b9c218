"""The hub jobs service's store: versioned schema, and databases of the unversioned release."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from datetime import datetime, timezone

import pytest

from primehub_jobs_contract.states import State
from primehub_spawner.jobs.model import HubJob, Schedule
from primehub_spawner.jobs.store import MIGRATIONS, JobStore, QueueEntry, SchemaTooNew

# The schema the unversioned store created (executescript on every start, no user_version).
UNVERSIONED_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, grp TEXT NOT NULL, state TEXT NOT NULL,
    created_at TEXT NOT NULL, finished_at TEXT, schedule_id TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_user ON jobs(user, created_at);
CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, data TEXT NOT NULL);
"""

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


def _job(job_id: str, **extra) -> HubJob:
    return HubJob(
        id=job_id,
        user="alice",
        group="team",
        name="nb",
        path="nb.ipynb",
        output="nb-output.ipynb",
        instance_type="cpu-1",
        image="base",
        deadline=3600,
        created_at=T0,
        **extra,
    )


def _schedule() -> Schedule:
    return Schedule(
        id="s1",
        user="alice",
        group="team",
        name="nightly",
        path="nb.ipynb",
        instance_type="cpu-1",
        image="base",
        deadline=3600,
        recurrence="daily",
        cron=None,
        timezone="UTC",
        created_at=T0,
    )


def test_a_database_of_the_unversioned_store_opens_with_its_rows(tmp_path):
    path = tmp_path / "jobs.sqlite"
    old_job = _job("0000000000a1", state=State.SUCCEEDED, finished_at=T0)
    old_schedule = _schedule()
    # written the way the unversioned store wrote them
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(UNVERSIONED_SCHEMA)
    record = old_job.to_record()
    db.execute(
        "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            old_job.id,
            old_job.user,
            old_job.group,
            old_job.state.value,
            record["created_at"],
            record["finished_at"],
            None,
            json.dumps(record),
        ),
    )
    db.execute(
        "INSERT OR REPLACE INTO schedules VALUES (?, ?, ?)",
        (old_schedule.id, old_schedule.user, json.dumps(old_schedule.to_record())),
    )
    db.close()

    store = JobStore(path)
    assert store.schema_version == len(MIGRATIONS)
    assert store.job(old_job.id) == old_job
    assert store.jobs(user="alice") == ([old_job], 1)
    assert store.finished_before("2026-03-02T00:00:00.000Z") == [old_job]
    assert store.schedule("s1") == old_schedule
    assert store.schedules("alice") == [old_schedule]
    store.save_job(_job("0000000000a2"))
    store.close()

    again = JobStore(path)
    assert again.schema_version == len(MIGRATIONS)
    assert [j.id for j in again.jobs(oldest_first=True)[0]] == ["0000000000a1", "0000000000a2"]
    again.close()


def test_jobs_and_schedules_round_trip(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    job = _job("0000000000b1", parameters={"n": 1}, hub_groups=["team"])
    store.save_job(job)
    store.save_schedule(_schedule())
    assert store.job(job.id) == job
    assert store.jobs(states=(State.PENDING,)) == ([job], 1)
    store.delete_job(job.id)
    store.delete_schedule("s1")
    assert store.job(job.id) is None and store.schedule("s1") is None
    store.close()


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "jobs.sqlite"
    JobStore(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 42")
    db.close()
    with pytest.raises(SchemaTooNew, match="schema version 42, newer than this version"):
        JobStore(path)


def test_log_expiry_reads_only_the_records_whose_log_is_still_saved(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    kept = _job("0000000000c1", state=State.SUCCEEDED, finished_at=T0, log_saved=True)
    store.save_job(kept)
    for n in range(20):  # history whose logs are gone (or never saved)
        store.save_job(_job(f"0000000001{n:02d}", state=State.FAILED, finished_at=T0))
    store.save_job(_job("0000000000c2", log_saved=True))  # not finished: not expired
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    assert store.saved_logs_before("2026-03-02T00:00:00.000Z") == [kept]
    store._db.set_trace_callback(None)
    assert store.saved_logs_before("2026-03-01T00:00:00.000Z") == []
    # the query reads the partial index of saved logs, not the history
    [query] = [q for q in statements if q.startswith("SELECT")]
    with store._lock:
        plan = store._db.execute(f"EXPLAIN QUERY PLAN {query}").fetchall()
    assert any("jobs_saved_logs" in row[-1] for row in plan), plan
    store.close()


def test_save_jobs_writes_all_jobs_in_one_transaction(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    jobs = [_job(f"{i:012x}", reason=f"Waiting {i}") for i in range(3)]
    store.save_jobs(jobs)
    jobs[1].reason = "Waiting in group team's queue behind job 000000000000"
    store.save_jobs(jobs[1:2])
    assert store.job(jobs[1].id).reason == jobs[1].reason
    assert [j.reason for j in store.jobs(limit=-1, oldest_first=True)[0]] == [
        "Waiting 0",
        "Waiting in group team's queue behind job 000000000000",
        "Waiting 2",
    ]


def test_save_jobs_that_fails_midway_saves_none_of_them(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    good = _job("0000000000b1", reason="new reason")
    bad = _job("0000000000b2", parameters={"x": object()})  # not JSON: the batch fails
    with pytest.raises(TypeError):
        store.save_jobs([good, bad])
    assert store.job(good.id) is None
    store.save_job(good)  # the connection is usable afterwards (no open transaction)
    assert store.job(good.id).reason == "new reason"


def test_finish_times_of_the_existing_jobs_past_the_parameter_limit(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    ids = [f"{i:012x}" for i in range(1200)]  # more ids than one query's parameters
    ended = T0.replace(hour=11)
    store.save_jobs(
        [
            _job(i, state=State.SUCCEEDED, finished_at=ended) if n % 4 == 0 else _job(i)
            for n, i in enumerate(ids[::2])
        ]
    )
    found = store.finish_times(ids)
    assert sorted(found) == ids[::2]  # missing ids are absent, not None
    assert found[ids[0]] == ended and found[ids[2]] is None  # ended / still pending
    assert store.finish_times([]) == {}


def test_the_queue_is_the_pending_jobs_oldest_first_with_what_admission_needs(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    later = _job("0000000000c2", reason="Waiting for the hub: down")
    later.created_at = T0.replace(minute=5)
    store.save_jobs(
        [
            later,
            _job("0000000000c1", parameters={"reason": "not this one"}),
            _job("0000000000c3", state=State.RUNNING),
            _job("0000000000c4", state=State.SUCCEEDED, finished_at=T0),
        ]
    )
    queue = store.queue()
    assert [e.id for e in queue] == ["0000000000c1", "0000000000c2"]
    assert queue[0] == QueueEntry(
        "0000000000c1", "alice", "team", "nb.ipynb", "cpu-1", "base", None
    )
    assert queue[1].reason == "Waiting for the hub: down"
    # the queue index follows what changes: a new reason, a job started, a job queued again
    store.set_reasons({"0000000000c1": "Group team's quota is full"})
    started = store.job("0000000000c2")
    started.state = State.PREPARING
    store.save_job(started)
    requeued = store.job("0000000000c3")
    requeued.state = State.PENDING
    store.save_job(requeued)
    queue = store.queue()
    assert [(e.id, e.reason) for e in queue] == [
        ("0000000000c1", "Group team's quota is full"),
        ("0000000000c3", None),
    ]


def test_the_queue_is_read_from_its_index_not_from_every_record(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    store.save_jobs([_job(f"{i:012d}") for i in range(50)])
    db = sqlite3.connect(tmp_path / "jobs.sqlite")
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT 1 FROM jobs INDEXED BY jobs_queue "
        "WHERE state = 'pending' ORDER BY created_at, id"
    ).fetchall()
    db.close()
    assert "USING INDEX jobs_queue" in plan[0][3] and "TEMP B-TREE" not in str(plan)
    read: list[str] = []
    store._db.set_trace_callback(read.append)
    assert len(store.queue()) == 50
    assert len(read) == 1 and "INDEXED BY jobs_queue" in read[0]


def test_set_reasons_changes_only_the_reason_of_jobs_still_pending(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    waiting = _job("0000000000d1", parameters={"day": "monday"})
    started = _job("0000000000d2", state=State.RUNNING, reason=None)
    store.save_jobs([waiting, started])
    store.set_reasons({waiting.id: "Group team's quota is full", started.id: "stale"})
    got = store.job(waiting.id)
    assert got.reason == "Group team's quota is full"
    assert got.parameters == {"day": "monday"} and got.created_at == T0
    assert store.job(started.id).reason is None
    store.set_reasons({})  # nothing to do


class _Jobs:
    """The Kubernetes Jobs of a round, in memory (no pods: nothing is running)."""

    def __init__(self, names: list[str]) -> None:
        done = {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}
        self.k8s = {n: {"metadata": {"name": n}, "status": done} for n in names}
        self.deleted: list[str] = []

    async def list_jobs(self) -> dict:
        return dict(self.k8s)

    def one_view(self):  # the real one indexes the pod cache for a round
        return contextlib.nullcontext()

    def job_pods(self, name: str) -> list:
        return []

    async def delete_job(self, name: str) -> None:
        self.deleted.append(name)
        self.k8s.pop(name, None)


def test_the_round_deletes_a_finished_jobs_kubernetes_job_after_the_ttl_from_the_finish_time(
    tmp_path, catalog_dict
):
    import asyncio
    from datetime import timedelta

    from primehub_spawner.catalog import CatalogSource
    from primehub_spawner.jobs.service import JobsService, Settings

    store = JobStore(tmp_path / "jobs.sqlite")
    now = T0 + timedelta(hours=1)
    store.save_jobs(
        [
            _job("0000000000e1", state=State.SUCCEEDED, finished_at=now - timedelta(minutes=11)),
            _job("0000000000e2", state=State.SUCCEEDED, finished_at=now - timedelta(minutes=9)),
        ]
    )
    kube = _Jobs([f"primehub-job-{i}" for i in ("0000000000e1", "0000000000e2", "0000000000e3")])
    service = JobsService(
        store,
        kube,
        CatalogSource(data=catalog_dict),
        tmp_path / "logs",
        Settings(namespace="ns", finished_ttl=600),
        clock=lambda: now,
    )
    asyncio.run(service.round.cleanup(asyncio.run(kube.list_jobs())))
    # past the TTL: deleted; within it: kept; no record but ended (lost database): deleted
    assert kube.deleted == ["primehub-job-0000000000e1", "primehub-job-0000000000e3"]
    assert store.job("0000000000e1").state == State.SUCCEEDED  # the record stays
