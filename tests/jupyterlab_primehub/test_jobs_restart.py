"""Server restarts: a new runner over the same jobs dir re-attaches or finalises honestly."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import pytest

from jupyterlab_primehub.context import ServerContext
from jupyterlab_primehub.jobs.local import LocalJobRunner
from jupyterlab_primehub.jobs.model import JobRequest, State
from jupyterlab_primehub.jobs.service import ServerJobs
from jupyterlab_primehub.jobs.store import JobStore
from primehub_jobs_contract.processes import is_alive
from primehub_jobs_contract.status import read_status

WAIT = 180


def make_service(root, jobs_dir) -> ServerJobs:
    """What PrimeHubApp builds, without the HTTP server around it."""
    store = JobStore(jobs_dir / "jobs.sqlite")
    runner = LocalJobRunner(store, jobs_dir, poll_interval=0.2, cancel_grace=5)
    return ServerJobs(
        root_dir=str(root),
        store=store,
        backends={"local": runner},
        default_backend="local",
        context=ServerContext.from_env({}),
        log=logging.getLogger("test"),
    )


async def wait_until(predicate, what: str, timeout: float = WAIT):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


@pytest.fixture
def dirs(tmp_path, notebook):
    root, jobs_dir = tmp_path / "root", tmp_path / "jobs"
    notebook(
        root / "nb.ipynb",
        "print('one')",
        # Long enough to span the restart; the marker file says the cell has started.
        "import pathlib, time\npathlib.Path('started').touch()\ntime.sleep(6)",
        "print('three')",
    )
    return root, jobs_dir


async def _submit_and_wait_running(service, root):
    job = await service.submit(JobRequest(path="nb.ipynb"))
    await wait_until(lambda: (root / "started").exists(), "the slow cell to start")
    job = service.get(job.id)
    assert job.status == State.RUNNING
    return job


async def test_restart_reattaches_to_a_live_job(dirs):
    root, jobs_dir = dirs
    first = make_service(root, jobs_dir)
    await first.start()
    job = await _submit_and_wait_running(first, root)
    await first.stop()  # the server goes away; the detached executor keeps running
    first.store.close()
    assert is_alive(job.pid, job.pid_start)

    second = make_service(root, jobs_dir)
    await second.start()
    try:
        again = second.get(job.id)
        assert (again.name, again.path, again.output_path) == (job.name, job.path, job.output_path)
        assert again.status == State.RUNNING
        await wait_until(lambda: second.get(job.id).status.is_final, "the job to finish")
        done = second.get(job.id)
        assert done.status == State.SUCCEEDED, done.reason
        assert (done.progress_done, done.progress_total) == (3, 3)
        assert (root / done.output_path).exists()
    finally:
        await second.stop()


async def test_restart_after_the_executor_died_marks_the_job_failed(dirs):
    root, jobs_dir = dirs
    first = make_service(root, jobs_dir)
    await first.start()
    job = await _submit_and_wait_running(first, root)
    await first.stop()
    first.store.close()
    status = read_status(jobs_dir / job.id / "status.json")
    # The machine "crashed" under the job: executor and kernel are gone without a word.
    os.killpg(job.pid, signal.SIGKILL)
    await wait_until(lambda: not is_alive(job.pid, job.pid_start), "the executor to die")

    second = make_service(root, jobs_dir)
    await second.start()
    try:
        done = second.get(job.id)
        assert done.status == State.FAILED
        assert "server was restarting" in done.reason
        assert done.finished_at is not None
        await wait_until(
            lambda: not is_alive(status["kernelPid"], status["kernelPidStart"]),
            "the orphaned kernel to be gone",
        )
    finally:
        await second.stop()


async def test_pending_jobs_survive_a_restart_and_run(tmp_path, notebook):
    root, jobs_dir = tmp_path / "root", tmp_path / "jobs"
    notebook(root / "quick.ipynb", "print('ok')")
    first = make_service(root, jobs_dir)
    # Not started: the job is queued but no runner picks it up before the "restart".
    job = await first.submit(JobRequest(path="quick.ipynb"))
    first.store.close()
    second = make_service(root, jobs_dir)
    await second.start()
    try:
        await wait_until(lambda: second.get(job.id).status.is_final, "the queued job to run")
        assert second.get(job.id).status == State.SUCCEEDED
    finally:
        await second.stop()
