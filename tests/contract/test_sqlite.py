"""The one migration runner of both job stores."""

from __future__ import annotations

import sqlite3

import pytest

from primehub_jobs_contract.sqlite import SchemaTooNew, migrate, schema_version

STEPS = [
    "CREATE TABLE a (x INTEGER); CREATE TABLE b (y TEXT)",
    "ALTER TABLE a ADD COLUMN z TEXT",
]


def _connect(path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


@pytest.mark.parametrize("table", [None, "schema_version"])
def test_steps_run_in_order_once(tmp_path, table):
    db = _connect(tmp_path / "x.sqlite")
    assert schema_version(db, table) == 0
    assert migrate(db, STEPS[:1], name="x", hint="h", version_table=table) == 1
    db.execute("INSERT INTO a (x) VALUES (1)")
    assert migrate(db, STEPS, name="x", hint="h", version_table=table) == 2
    assert migrate(db, STEPS, name="x", hint="h", version_table=table) == 2  # nothing left
    assert db.execute("SELECT x, z FROM a").fetchall() == [(1, None)]
    assert schema_version(db, table) == 2
    if table is None:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    else:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]


def test_a_failed_step_leaves_the_database_as_it_was(tmp_path):
    db = _connect(tmp_path / "x.sqlite")
    migrate(db, STEPS[:1], name="x", hint="h")

    def moves_data_then_fails(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO a (x) VALUES (7)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        migrate(db, [STEPS[0], moves_data_then_fails], name="x", hint="h")
    assert schema_version(db) == 1
    assert db.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 0
    assert not db.in_transaction


def test_a_newer_database_is_refused_with_what_to_do(tmp_path):
    db = _connect(tmp_path / "x.sqlite")
    db.execute("PRAGMA user_version = 5")
    with pytest.raises(SchemaTooNew) as info:
        migrate(db, STEPS, name="x.sqlite", hint="upgrade it.")
    assert str(info.value) == (
        "x.sqlite has schema version 5, newer than this version of jupyterhub-primehub (2); "
        "upgrade it."
    )


def test_the_runner_needs_an_autocommit_connection(tmp_path):
    with pytest.raises(ValueError, match="isolation_level=None"):
        migrate(sqlite3.connect(tmp_path / "x.sqlite"), STEPS, name="x", hint="h")
