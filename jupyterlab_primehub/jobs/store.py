"""SQLite store of job records, with a versioned schema (``primehub_jobs_contract.sqlite``).

Besides the records it keeps the kubernetes backend's state: which jobs were handed to the hub
and in which group volume their files are (``remote_jobs``), and which hub jobs this server has
already seen (``hub_seen``, so a job the user deleted here is not imported again).

Calls are short single-row statements on a local file, so they run on the event loop; anything
slow (process spawn, copies, zips) happens elsewhere.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from primehub_jobs_contract import sqlite as schema
from primehub_jobs_contract.sqlite import Migration, SchemaTooNew
from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import from_iso, iso

from .model import EndedEarly, Job, JobError

# Each entry migrates from version i to i+1. Append only; never edit a released step.
MIGRATIONS: list[Migration] = [
    """
    CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        output_path TEXT NOT NULL,
        backend TEXT NOT NULL,
        kernel TEXT NOT NULL,
        status TEXT NOT NULL,
        parameters TEXT NOT NULL,
        cell_timeout REAL,
        deadline REAL,
        instance_type TEXT,
        image TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        progress_done INTEGER NOT NULL DEFAULT 0,
        progress_total INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        reason TEXT,
        pid INTEGER,
        pid_start INTEGER,
        cancel_requested INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_status ON jobs (status);
    """,
    # 2: where a job that succeeded ended early (JSON of EndedEarly), else NULL
    "ALTER TABLE jobs ADD COLUMN ended_early TEXT",
    # 3: the kubernetes backend's state, until then marker files in the jobs dir
    # (<id>/remote.json and kubernetes-jobs-seen.json; KubernetesJobBackend imports them once)
    """
    CREATE TABLE remote_jobs (
        id TEXT PRIMARY KEY,
        grp TEXT NOT NULL,
        hub_id TEXT
    );
    CREATE TABLE hub_seen (id TEXT PRIMARY KEY)
    """,
]

__all__ = ["MIGRATIONS", "JobStore", "SchemaTooNew"]

_COLUMNS = [
    "id",
    "name",
    "path",
    "output_path",
    "backend",
    "kernel",
    "status",
    "parameters",
    "cell_timeout",
    "deadline",
    "instance_type",
    "image",
    "created_at",
    "started_at",
    "finished_at",
    "progress_done",
    "progress_total",
    "error",
    "reason",
    "ended_early",
    "pid",
    "pid_start",
    "cancel_requested",
]


def _to_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "path": job.path,
        "output_path": job.output_path,
        "backend": job.backend,
        "kernel": job.kernel,
        "status": job.status.value,
        "parameters": json.dumps(job.parameters),
        "cell_timeout": job.cell_timeout,
        "deadline": job.deadline,
        "instance_type": job.instance_type,
        "image": job.image,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "progress_done": job.progress_done,
        "progress_total": job.progress_total,
        "error": json.dumps(job.error.to_json()) if job.error else None,
        "reason": job.reason,
        "ended_early": json.dumps(job.ended_early.to_json()) if job.ended_early else None,
        "pid": job.pid,
        "pid_start": job.pid_start,
        "cancel_requested": int(job.cancel_requested),
    }


def _from_row(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        name=row["name"],
        path=row["path"],
        output_path=row["output_path"],
        backend=row["backend"],
        kernel=row["kernel"],
        status=State(row["status"]),
        parameters=json.loads(row["parameters"]),
        cell_timeout=row["cell_timeout"],
        deadline=row["deadline"],
        instance_type=row["instance_type"],
        image=row["image"],
        created_at=from_iso(row["created_at"]),
        started_at=from_iso(row["started_at"]),
        finished_at=from_iso(row["finished_at"]),
        progress_done=row["progress_done"],
        progress_total=row["progress_total"],
        error=JobError.from_json(json.loads(row["error"]) if row["error"] else None),
        reason=row["reason"],
        ended_early=EndedEarly.from_json(
            json.loads(row["ended_early"]) if row["ended_early"] else None
        ),
        pid=row["pid"],
        pid_start=row["pid_start"],
        cancel_requested=bool(row["cancel_requested"]),
    )


class JobStore:
    """Job records in one SQLite file; the schema is migrated on open."""

    def __init__(self, db_path: Path | str) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.db_path), isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        # Default rollback journal, not WAL: home folders are often on network file systems,
        # where WAL's shared memory does not work; only this server writes the file.
        self.migrate()

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        return schema.schema_version(self._db, "schema_version")

    def migrate(self) -> None:
        """Bring the schema to the newest version, one transaction per step."""
        # This file has recorded its version in a schema_version table from the start.
        schema.migrate(
            self._db,
            MIGRATIONS,
            name=str(self.db_path),
            hint="upgrade jupyterhub-primehub or use another jobs_dir.",
            version_table="schema_version",
        )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def add(self, job: Job) -> None:
        """Insert a new record."""
        row = _to_row(job)
        names = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        self._db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", row)

    def save(self, job: Job) -> None:
        """Write every field of an existing record."""
        row = _to_row(job)
        sets = ", ".join(f"{k} = :{k}" for k in row if k != "id")
        self._db.execute(f"UPDATE jobs SET {sets} WHERE id = :id", row)

    def get(self, job_id: str) -> Job | None:
        """The record with this id, or None."""
        row = self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return _from_row(row) if row else None

    def delete(self, job_id: str) -> None:
        """Remove a record (and its kubernetes backend state; it stays seen)."""
        self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        self._db.execute("DELETE FROM remote_jobs WHERE id = ?", (job_id,))

    def list(
        self, status: State | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Job], int]:
        """Newest first, optionally of one status; returns (page, total matching)."""
        where, args = ("WHERE status = ?", [status.value]) if status else ("", [])
        total = self._db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()[0]
        rows = self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM jobs {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        return [_from_row(r) for r in rows], int(total)

    def with_status(self, *statuses: State, backend: str | None = None) -> list[Job]:
        """All records in the given states, oldest first (FIFO order)."""
        marks = ", ".join("?" for _ in statuses)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE status IN ({marks})"
        args: list[Any] = [s.value for s in statuses]
        if backend:
            sql += " AND backend = ?"
            args.append(backend)
        rows = self._db.execute(sql + " ORDER BY seq ASC", args).fetchall()
        return [_from_row(r) for r in rows]

    def output_paths(self) -> set[str]:
        """Output paths already promised to jobs (to keep new names unique)."""
        return {r[0] for r in self._db.execute("SELECT output_path FROM jobs").fetchall()}

    def finished_before(self, cutoff_iso: str) -> list[Job]:
        """Final-state jobs that finished before the cutoff (for artifact retention)."""
        rows = self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE finished_at IS NOT NULL "
            "AND finished_at < ?",
            (cutoff_iso,),
        ).fetchall()
        return [_from_row(r) for r in rows]

    # -- the kubernetes backend's state ---------------------------------------------------------
    def set_remote(self, job_id: str, group: str, hub_id: str | None = None) -> None:
        """The job is on the hub: its files are in ``group``'s volume. ``hub_id``: the hub's id
        when this server dispatched it (None for a job imported from the hub)."""
        self._db.execute(
            "INSERT OR REPLACE INTO remote_jobs (id, grp, hub_id) VALUES (?, ?, ?)",
            (job_id, group, hub_id),
        )

    def remote_group(self, job_id: str) -> str | None:
        """The group volume of a job on the hub, or None if it was not handed to the hub."""
        row = self._db.execute("SELECT grp FROM remote_jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def hub_id(self, job_id: str) -> str:
        """The hub's id of a job on the hub: the one the hub gave it when this server
        dispatched it, else ``job_id`` (a job imported from the hub keeps the hub's id)."""
        row = self._db.execute("SELECT hub_id FROM remote_jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row and row[0] else job_id

    def remember_hub_jobs(self, job_ids: set[str]) -> None:
        """Hub job ids this server has dispatched or imported."""
        self._db.executemany(
            "INSERT OR IGNORE INTO hub_seen (id) VALUES (?)", [(i,) for i in sorted(job_ids)]
        )

    def seen_hub_jobs(self) -> set[str]:
        """Every hub job id :meth:`remember_hub_jobs` was given."""
        return {r[0] for r in self._db.execute("SELECT id FROM hub_seen").fetchall()}
