"""A full or broken disk is not the user's fault (issue 15, medium 7): the jobs API answers 503
with what could not be done and the system's reason, never a 500, and leaves nothing half made.

The failures are injected where the server writes (the job's spec file, the records database,
the log read, the artifacts zip), as ENOSPC/EACCES/EIO would come from a real full disk.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from jupyterlab_primehub.jobs import service as service_module
from jupyterlab_primehub.jobs.store import JobStore
from primehub_executor import artifacts
from primehub_jobs_contract.executor import ExecutorSpec
from primehub_jobs_contract.validation import JOB_ID

ADVICE = "try again or contact your admin"


def full_disk(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def db_full(*_args, **_kwargs):
    raise sqlite3.OperationalError("database or disk is full")


async def _nothing_created(api, jobs_dir) -> None:
    code, page = await api.call("GET", "jobs")
    assert code == 200 and page["total"] == 0, page
    # job folders (named by job id); the pre-started kernels' folder `warm` is not a job
    leftovers = (
        [p.name for p in jobs_dir.iterdir() if JOB_ID.match(p.name)] if jobs_dir.exists() else []
    )
    assert leftovers == []


@pytest.mark.parametrize(
    "target, name, fail, reason",
    [
        (ExecutorSpec, "write", full_disk, "No space left on device"),
        (JobStore, "add", db_full, "database or disk is full"),
    ],
)
async def test_a_submit_on_a_full_disk_is_a_503_and_creates_nothing(
    api, jp_root_dir, jobs_dir, notebook, monkeypatch, target, name, fail, reason
):
    notebook(jp_root_dir / "ok.ipynb", "1")
    monkeypatch.setattr(target, name, fail)
    code, reply = await api.call("POST", "jobs", body={"path": "ok.ipynb"})
    assert code == 503, reply
    assert reply["message"] == f"Could not submit the job: {reason}; {ADVICE}."
    monkeypatch.undo()
    await _nothing_created(api, jobs_dir)


async def test_log_artifacts_cancel_and_delete_on_a_failing_disk_are_503(
    api, jp_root_dir, notebook, monkeypatch
):
    notebook(jp_root_dir / "ok.ipynb", "import time; time.sleep(600)")
    job = await api.submit(path="ok.ipynb")
    await api.wait(job["id"], "running")

    # cancel: the record cannot be written; the job keeps running and can be cancelled later
    save = JobStore.save

    def save_fails_for_cancel(self, record):
        if record.id == job["id"] and record.cancel_requested:
            raise sqlite3.OperationalError("disk I/O error")
        return save(self, record)

    monkeypatch.setattr(JobStore, "save", save_fails_for_cancel)
    code, reply = await api.call("POST", "jobs", job["id"], "cancel")
    assert (code, reply["message"]) == (503, f"Could not cancel the job: disk I/O error; {ADVICE}.")
    monkeypatch.undo()
    assert (await api.job(job["id"]))["status"] == "running"
    code, _ = await api.call("POST", "jobs", job["id"], "cancel")
    assert code == 200
    await api.wait(job["id"])

    monkeypatch.setattr(
        service_module, "read_chunk", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O"))
    )
    code, reply = await api.call("GET", "jobs", job["id"], "log")
    assert (code, reply["message"]) == (503, f"Could not read the job's log: I/O; {ADVICE}.")

    monkeypatch.setattr(artifacts, "write_zip", full_disk)
    code, reply = await api.call("GET", "jobs", job["id"], "artifacts")
    assert code == 503
    assert (
        reply["message"] == f"Could not zip the job's artifacts: No space left on device; {ADVICE}."
    )

    # delete: the record cannot be removed, so the job and its files stay (delete again later)
    monkeypatch.setattr(JobStore, "delete", db_full)
    code, reply = await api.call("DELETE", "jobs", job["id"])
    assert code == 503
    assert reply["message"] == f"Could not delete the job: database or disk is full; {ADVICE}."
    monkeypatch.undo()
    assert (await api.job(job["id"]))["status"] == "cancelled"
    code, _ = await api.call("DELETE", "jobs", job["id"])
    assert code == 204


async def test_an_unwritable_jobs_folder_is_a_503_not_a_500(
    api, jp_root_dir, jobs_dir, notebook, monkeypatch
):
    notebook(jp_root_dir / "ok.ipynb", "1")
    mkdir = Path.mkdir

    def denied(self, *args, **kwargs):  # EACCES as on a folder the server may not write
        if self.parent == jobs_dir:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", denied)
    code, reply = await api.call("POST", "jobs", body={"path": "ok.ipynb"})
    monkeypatch.undo()
    assert code == 503, reply
    assert reply["message"] == f"Could not submit the job: Permission denied; {ADVICE}."
    await _nothing_created(api, jobs_dir)
