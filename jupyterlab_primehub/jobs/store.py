"""SQLite store of job records, with a versioned schema.

Calls are short single-row statements on a local file, so they run on the event loop; anything
slow (process spawn, copies, zips) happens elsewhere.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import from_iso, iso

from .model import EndedEarly, Job, JobError

# Each entry migrates from version i to i+1. Append only; never edit a released step.
MIGRATIONS: list[str] = [
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
]

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


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of this extension."""


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
        row = self._db.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> None:
        """Bring the schema to the newest version, one transaction per step."""
        self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        if self._db.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 0:
            self._db.execute("INSERT INTO schema_version (version) VALUES (0)")
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise SchemaTooNew(
                f"{self.db_path} has schema version {current}, newer than this extension "
                f"({len(MIGRATIONS)}); upgrade jupyterhub-primehub or use another jobs_dir."
            )
        for version in range(current, len(MIGRATIONS)):
            self._db.execute("BEGIN")
            try:
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute("UPDATE schema_version SET version = ?", (version + 1,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

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
        """Remove a record."""
        self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

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
