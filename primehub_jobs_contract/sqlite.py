"""Versioned SQLite schemas: the one migration runner of every store (the single-user server's
``jobs.sqlite`` and the hub jobs service's ``jobs.sqlite``).

A store lists its migrations in order; entry ``i`` brings the schema from version ``i`` to
``i + 1``. Append only: never edit a released step. Each step runs in its own transaction
together with the new version number, so a failed step leaves the database as it was. The
version is kept in ``PRAGMA user_version``, or, for databases that recorded it in a one-row
table from the start (the server's ``schema_version``), in that table. A database newer than
the code is refused with :class:`SchemaTooNew` instead of being read wrongly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

# SQL statements separated by ";" (no ";" inside literals), or a function given the connection
# inside the step's transaction (for steps that move data).
Migration = str | Callable[[sqlite3.Connection], None]


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of jupyterhub-primehub."""


def schema_version(db: sqlite3.Connection, version_table: str | None = None) -> int:
    """The schema version recorded in the database (0 for a new one)."""
    if version_table is None:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (version_table,)
    ).fetchone()
    if not exists:
        return 0
    row = db.execute(f"SELECT version FROM {version_table}").fetchone()
    return int(row[0]) if row else 0


def migrate(
    db: sqlite3.Connection,
    migrations: Sequence[Migration],
    *,
    name: str,
    hint: str,
    version_table: str | None = None,
) -> int:
    """Bring the schema to ``len(migrations)``, one transaction per step; returns that version.

    ``db`` must be in autocommit mode (``isolation_level=None``): the runner opens and commits
    the transactions itself. ``name`` (the file) and ``hint`` (what the user can do) go into the
    error when the database is newer than ``migrations``.
    """
    if db.isolation_level is not None:
        raise ValueError("migrate needs a connection opened with isolation_level=None")
    if version_table is not None:
        db.execute(f"CREATE TABLE IF NOT EXISTS {version_table} (version INTEGER NOT NULL)")
        if db.execute(f"SELECT COUNT(*) FROM {version_table}").fetchone()[0] == 0:
            db.execute(f"INSERT INTO {version_table} (version) VALUES (0)")
    current = schema_version(db, version_table)
    latest = len(migrations)
    if current > latest:
        raise SchemaTooNew(
            f"{name} has schema version {current}, newer than this version of "
            f"jupyterhub-primehub ({latest}); {hint}"
        )
    for version in range(current, latest):
        step = migrations[version]
        db.execute("BEGIN")
        try:
            if callable(step):
                step(db)
            else:
                for statement in step.split(";"):
                    if statement.strip():
                        db.execute(statement)
            if version_table is None:
                db.execute(f"PRAGMA user_version = {version + 1:d}")
            else:
                db.execute(f"UPDATE {version_table} SET version = ?", (version + 1,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return latest
