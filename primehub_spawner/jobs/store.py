"""SQLite history of the hub jobs service: jobs and schedules survive restarts.

Records are JSON documents with the columns the queries need beside them. The schema is
versioned (``PRAGMA user_version``) and migrated on open by the contract's runner, the same as
the single-user server's store. Calls are short and serialised by a lock; the service runs them
in a worker thread (never on the event loop).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from primehub_jobs_contract import sqlite as schema
from primehub_jobs_contract.sqlite import Migration, SchemaTooNew
from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import from_iso

from .model import HubJob, Schedule

# a record whose job's log is kept in the service's logs folder (the partial index's condition;
# a query must repeat it word for word for SQLite to use the index)
_LOG_SAVED = "json_extract(data, '$.log_saved') = 1"

# the queue index's condition and columns (queries repeat them word for word, as above)
_PENDING = f"state = '{State.PENDING.value}'"
_QUEUE_FIELDS = (
    "id, user, grp, json_extract(data, '$.path'), json_extract(data, '$.instance_type'), "
    "json_extract(data, '$.image'), json_extract(data, '$.reason')"
)

# ids per ``IN (...)`` query (old SQLite builds allow 999 parameters)
_IDS_PER_QUERY = 500

# Each entry migrates from version i to i+1. Append only; never edit a released step.
MIGRATIONS: list[Migration] = [
    # 1: the schema of the unversioned first release, which created it with IF NOT EXISTS on
    # every start; its databases are at user_version 0 and keep their rows through this step.
    """
    CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, user TEXT NOT NULL, grp TEXT NOT NULL, state TEXT NOT NULL,
        created_at TEXT NOT NULL, finished_at TEXT, schedule_id TEXT, data TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
    CREATE INDEX IF NOT EXISTS jobs_user ON jobs(user, created_at);
    CREATE TABLE IF NOT EXISTS schedules (
        id TEXT PRIMARY KEY, user TEXT NOT NULL, data TEXT NOT NULL)
    """,
    # 2: the cleanup's queries read what they act on, not the whole history: finished records
    # by finish time (history retention), and only those whose log is still saved (log expiry)
    f"""
    CREATE INDEX jobs_finished ON jobs(finished_at) WHERE finished_at IS NOT NULL;
    CREATE INDEX jobs_saved_logs ON jobs(finished_at) WHERE {_LOG_SAVED}
    """,
    # 3: the queue in queue order with the fields the admission round decides on, computed
    # when a job is queued or its reason changes rather than parsed from every record in
    # every round; only pending jobs are in it
    f"CREATE INDEX jobs_queue ON jobs(created_at, {_QUEUE_FIELDS}) WHERE {_PENDING}",
]

__all__ = ["MIGRATIONS", "JobStore", "QueueEntry", "SchemaTooNew"]


class QueueEntry(NamedTuple):
    """A pending job as the admission round decides on it (the record stays in the store)."""

    id: str
    user: str
    group: str
    path: str
    instance_type: str
    image: str
    reason: str | None


def _row(job: HubJob) -> tuple:
    """The ``jobs`` table's row of ``job``."""
    record = job.to_record()
    return (
        job.id,
        job.user,
        job.group,
        job.state.value,
        record["created_at"],
        record["finished_at"],
        job.schedule_id,
        json.dumps(record),
    )


class JobStore:
    """Jobs and schedules in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        with self._lock:
            schema.migrate(
                self._db,
                MIGRATIONS,
                name=self.path,
                hint="upgrade the hub's jupyterhub-primehub or use another --state-dir.",
            )

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        with self._lock:
            return schema.schema_version(self._db)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # -- jobs -----------------------------------------------------------------------------------
    def add_job(self, job: HubJob) -> None:
        """Insert a new ``job``; ``sqlite3.IntegrityError`` if its id exists (never replaced)."""
        self._write_job("INSERT", job)

    def save_job(self, job: HubJob) -> None:
        """Insert or update ``job``."""
        self._write_job("INSERT OR REPLACE", job)

    def save_jobs(self, jobs: list[HubJob]) -> None:
        """Insert or update ``jobs`` in one transaction (one commit, not one per job)."""
        rows = [_row(job) for job in jobs]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _write_job(self, verb: str, job: HubJob) -> None:
        row = _row(job)
        with self._lock:
            self._db.execute(f"{verb} INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

    def job(self, job_id: str) -> HubJob | None:
        """The job or None."""
        rows = self._query("SELECT data FROM jobs WHERE id = ?", (job_id,))
        return HubJob.from_record(json.loads(rows[0][0])) if rows else None

    def jobs(
        self,
        *,
        user: str | None = None,
        states: tuple[State, ...] = (),
        schedule_id: str | None = None,
        limit: int = 1000,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> tuple[list[HubJob], int]:
        """A page of jobs (newest first unless ``oldest_first``) and the total matching."""
        where, args = [], []
        if user is not None:
            where.append("user = ?")
            args.append(user)
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args += [s.value for s in states]
        if schedule_id is not None:
            where.append("schedule_id = ?")
            args.append(schedule_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        order = "ASC" if oldest_first else "DESC"
        total = self._query(f"SELECT COUNT(*) FROM jobs{clause}", tuple(args))[0][0]
        rows = self._query(
            f"SELECT data FROM jobs{clause} ORDER BY created_at {order}, id LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [HubJob.from_record(json.loads(r[0])) for r in rows], total

    def finish_times(self, job_ids: list[str]) -> dict[str, datetime | None]:
        """For the jobs of ``job_ids`` that exist: when each ended (None while it has not);
        read from the columns by primary key, no record decoded."""
        found: dict[str, datetime | None] = {}
        for start in range(0, len(job_ids), _IDS_PER_QUERY):
            chunk = job_ids[start : start + _IDS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT id, state, finished_at FROM jobs WHERE id IN ({marks})", tuple(chunk)
            )
            for job_id, state, finished_at in rows:
                found[job_id] = from_iso(finished_at) if State(state).is_final else None
        return found

    def queue(self) -> list[QueueEntry]:
        """The pending jobs, oldest first, with only the fields the admission round decides
        on (read from the queue index, in its order; no record is parsed)."""
        rows = self._query(
            f"SELECT {_QUEUE_FIELDS} FROM jobs INDEXED BY jobs_queue WHERE {_PENDING} "
            "ORDER BY created_at, id",
            (),
        )
        return list(map(QueueEntry._make, rows))

    def set_reasons(self, reasons: dict[str, str]) -> None:
        """Set the reason of each pending job in ``reasons`` (job id -> reason), in one
        transaction; jobs no longer pending are left alone."""
        if not reasons:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "UPDATE jobs SET data = json_set(data, '$.reason', ?) "
                    "WHERE id = ? AND state = ?",
                    [(reason, job_id, State.PENDING.value) for job_id, reason in reasons.items()],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def finished_before(self, cutoff_iso: str) -> list[HubJob]:
        """Final jobs that finished before ``cutoff_iso``."""
        rows = self._query(
            "SELECT data FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?",
            (cutoff_iso,),
        )
        return [HubJob.from_record(json.loads(r[0])) for r in rows]

    def saved_logs_before(self, cutoff_iso: str) -> list[HubJob]:
        """Final jobs that finished before ``cutoff_iso`` and whose log is still saved (read
        through the partial index of saved logs: the cost is theirs, not the history's)."""
        rows = self._query(
            f"SELECT data FROM jobs WHERE {_LOG_SAVED} AND finished_at < ?", (cutoff_iso,)
        )
        return [HubJob.from_record(json.loads(r[0])) for r in rows]

    def delete_job(self, job_id: str) -> None:
        """Forget a job."""
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    # -- schedules ------------------------------------------------------------------------------
    def save_schedule(self, schedule: Schedule) -> None:
        """Insert or update ``schedule``."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO schedules VALUES (?, ?, ?)",
                (schedule.id, schedule.user, json.dumps(schedule.to_record())),
            )

    def schedule(self, schedule_id: str) -> Schedule | None:
        """The schedule or None."""
        rows = self._query("SELECT data FROM schedules WHERE id = ?", (schedule_id,))
        return Schedule.from_record(json.loads(rows[0][0])) if rows else None

    def schedules(self, user: str | None = None) -> list[Schedule]:
        """All schedules (of ``user``), oldest first."""
        if user is None:
            rows = self._query("SELECT data FROM schedules", ())
        else:
            rows = self._query("SELECT data FROM schedules WHERE user = ?", (user,))
        found = [Schedule.from_record(json.loads(r[0])) for r in rows]
        return sorted(found, key=lambda s: s.created_at)

    def delete_schedule(self, schedule_id: str) -> None:
        """Forget a schedule (its past jobs stay)."""
        with self._lock:
            self._db.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))

    def _query(self, sql: str, args: tuple) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()
