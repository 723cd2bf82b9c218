"""Local backend: a FIFO queue of executor processes on this server.

Each executor runs in its own session (``start_new_session=True``) with its output in the job log,
so restarting or stopping the server neither kills nor orphans it silently: a new runner over the
same jobs dir re-attaches to live executors (PID + process start time) and finalises the dead ones
from their status files. Progress always comes from the status file, never from memory.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

from primehub_executor import artifacts
from primehub_jobs_contract.errors import Conflict, InvalidRequest
from primehub_jobs_contract.executor import (
    EXECUTOR_MODULE,
    ExecutorSpec,
    SpecError,
    executor_command,
)
from primehub_jobs_contract.layout import JobFiles
from primehub_jobs_contract.processes import is_alive, process_start_time, reap, signal_group
from primehub_jobs_contract.states import FINAL_STATES, State
from primehub_jobs_contract.status import read_status
from primehub_jobs_contract.times import from_iso, iso, utcnow

from ..context import ServerContext
from .backend import JobBackend
from .exits import ExitWatcher
from .model import EndedEarly, Job, JobError, JobRequest
from .store import JobStore
from .warm import WARM_MODULE, WarmPool, hand_over

_FINAL = {s.value for s in FINAL_STATES}  # as the status file says them

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class LocalJobRunner(JobBackend):
    """Runs jobs as detached executor processes, at most ``max_concurrent`` at a time."""

    name = "local"
    description = "Run on this notebook server (same instance type and image)"

    def __init__(
        self,
        store: JobStore,
        jobs_dir: Path,
        *,
        max_concurrent: int = 2,
        poll_interval: float = 1.0,
        cancel_grace: float = 10.0,
        max_artifact_files: int = artifacts.DEFAULT_MAX_FILES,
        max_artifact_bytes: int = artifacts.DEFAULT_MAX_BYTES,
        artifact_retention: timedelta = timedelta(days=7),
        python: str = sys.executable,
        log: logging.Logger | logging.LoggerAdapter | None = None,
        on_activity: Callable[[], None] | None = None,
        warm_kernels: int = 0,
        warm_kernel_names: tuple[str, ...] | list[str] = ("python3",),
    ) -> None:
        self.store = store
        self.jobs_dir = Path(jobs_dir)
        self.max_concurrent = max_concurrent
        self.poll_interval = poll_interval
        self.cancel_grace = cancel_grace
        self.max_artifact_files = max_artifact_files
        self.max_artifact_bytes = max_artifact_bytes
        self.artifact_retention = artifact_retention
        self.python = python
        self.log = log or logging.getLogger(__name__)
        self.on_activity = on_activity
        self._children: dict[str, subprocess.Popen] = {}  # executors this process started
        self._cancel_sent: dict[str, float] = {}  # job id -> monotonic time SIGTERM was sent
        self._starting: set[str] = set()
        self._task: asyncio.Task | None = None
        self._wakeup = asyncio.Event()
        self.tick_errors = 0  # unexpected scheduler errors so far (logged; a health signal)
        self._last_retention = float("-inf")  # first check on the first tick
        # Pre-started kernels (warm executors), one job each; 0 per kernelspec disables them.
        self.warm = WarmPool(
            self.jobs_dir / "warm",
            count=warm_kernels,
            kernels=warm_kernel_names,
            command=(python, "-m", WARM_MODULE),
            cwd=_PACKAGE_PARENT,
            log=self.log,
        )
        self._exits = ExitWatcher(self.wake)  # an executor's exit wakes the scheduler at once
        #: called with a job whenever the runner changes its record (ServerJobs sets it to
        #: publish the change on the lab's event stream)
        self.on_change: Callable[[Job], None] | None = None

    # -- JobBackend -----------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def files(self, job_id: str) -> JobFiles:
        """The job's private files."""
        return JobFiles(self.job_dir(job_id))

    def validate(self, request: JobRequest, context: ServerContext) -> None:
        # Local jobs run here: refuse an instance type or image other than this server's own
        # instead of silently ignoring the user's choice.
        for key, wanted, own in (
            ("instanceType", request.instance_type, context.instance_type),
            ("image", request.image, context.image),
        ):
            if wanted and wanted != own:
                raise InvalidRequest(
                    f"The local backend runs jobs on this server, whose {key} is "
                    f"{own or 'not set'}; got '{wanted}'. Leave '{key}' empty or use a backend "
                    "that launches its own pods."
                )

    async def start(self) -> None:
        await self.recover()
        if self.warm.enabled:
            try:
                specs = await asyncio.to_thread(KernelSpecManager().get_all_specs)
                await self.warm.start(specs)
            except Exception:  # jobs still run, on kernels they start themselves
                self.log.exception("PrimeHub jobs: cannot pre-start kernels")
        self._wakeup = asyncio.Event()
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self.warm.stop()
        self._exits.close()

    def wake(self) -> None:
        self._wakeup.set()

    def in_use(self) -> None:
        """Someone uses this server's jobs API (the lab opened, a job came): from now on keep
        the pre-started kernels ready (the next round starts them)."""
        if self.warm.enabled and not self.warm.wanted:
            self.warm.wanted = True
            self.wake()

    def active_count(self) -> int:
        jobs = self.store.with_status(State.PENDING, State.RUNNING, backend=self.name)
        return len(jobs)

    async def cancel(self, job: Job) -> Job:
        if job.status.is_final:
            raise Conflict(f"Job {job.id} has already {job.status.value}; nothing to cancel.")
        if job.status == State.PENDING and job.id not in self._starting:
            self._finalize(job, State.CANCELLED, None, "Cancelled by user")
            return job
        job.cancel_requested = True
        self.store.save(job)
        self._send_cancel(job)
        self.wake()
        return job

    # -- scheduling -----------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep scheduling whatever one job's files look like
                self.tick_errors += 1
                self.log.exception("PrimeHub jobs: scheduler tick failed")
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
            except asyncio.TimeoutError:
                pass
            self._wakeup.clear()

    async def tick(self) -> None:
        """One scheduling round: refresh running jobs, then start pending ones in FIFO order."""
        running = self.store.with_status(State.RUNNING, backend=self.name)
        for job in running:
            self._refresh(job)
        running = [j for j in running if j.status == State.RUNNING]
        pending = self.store.with_status(State.PENDING, backend=self.name)
        slots = self.max_concurrent - len(running) - len(self._starting)
        for job in pending[: max(slots, 0)]:
            await self._launch(job)
        if self.warm.enabled:  # after the launches: a job takes a warm kernel, then we refill
            await self.warm.fill()
        if (running or pending) and self.on_activity is not None:
            self.on_activity()
        if time.monotonic() - self._last_retention > 3600:
            self._last_retention = time.monotonic()
            await self.expire_artifacts()

    async def _launch(self, job: Job) -> None:
        # Re-read: an earlier launch in this round awaited, and a handler may have cancelled or
        # deleted this job meanwhile.
        fresh = self.store.get(job.id)
        if fresh is None or fresh.status != State.PENDING:
            return
        job = fresh
        files = self.files(job.id)
        earlier = read_status(files.status)
        if earlier and is_alive(earlier.get("pid"), earlier.get("pidStart")):
            # The server stopped between spawning this executor and recording it: adopt it
            # instead of running the notebook twice.
            job.status = State.RUNNING
            job.pid, job.pid_start = earlier["pid"], earlier["pidStart"]
            job.started_at = from_iso(earlier.get("startedAt")) or utcnow()
            self.store.save(job)
            self.log.info("PrimeHub job %s: adopted running executor pid %s", job.id, job.pid)
            self._exits.watch(job.id, job.pid, job.pid_start)
            self._changed(job)
            return
        try:
            spec = ExecutorSpec.read(files.spec)
        except (OSError, SpecError) as e:
            self._finalize(job, State.FAILED, None, f"The job's files are missing: {e}")
            return
        # The runner's limits apply to every job it starts, also to ones queued before a restart.
        spec.max_artifact_files = self.max_artifact_files
        spec.max_artifact_bytes = self.max_artifact_bytes
        try:
            await asyncio.to_thread(spec.write, files.spec)
        except OSError as e:
            self._finalize(job, State.FAILED, None, f"Could not write the job's spec: {e}")
            return
        args = executor_command(str(files.spec), (self.python, "-m", EXECUTOR_MODULE))
        self._starting.add(job.id)
        try:
            loop = asyncio.get_running_loop()
            proc = await self._hand_to_warm(job, spec.kernel, files.spec)
            if proc is None:
                proc = await loop.run_in_executor(None, self._spawn, args, files.log)
        except OSError as e:
            self._starting.discard(job.id)
            self._finalize(job, State.FAILED, None, f"Could not start the executor: {e}")
            return
        self._starting.discard(job.id)
        self._children[job.id] = proc
        job = self.store.get(job.id) or job
        job.status = State.RUNNING
        job.started_at = utcnow()
        job.pid = proc.pid
        job.pid_start = process_start_time(proc.pid)
        self.store.save(job)
        self._exits.watch(job.id, job.pid, job.pid_start)
        self._changed(job)
        self.log.info("PrimeHub job %s (%s) started, executor pid %s", job.id, job.name, proc.pid)
        if job.cancel_requested:  # cancelled while we were spawning
            self._send_cancel(job)

    async def _hand_to_warm(
        self, job: Job, kernel: str | None, spec_path: Path
    ) -> subprocess.Popen | None:
        """The warm executor of ``kernel`` now running this job, or None (start one)."""
        warm = self.warm.take(kernel)
        if warm is None:
            return None
        try:
            await asyncio.to_thread(hand_over, warm, spec_path)
        except OSError as e:  # it died meanwhile: the job starts its own executor
            self.log.warning("PrimeHub job %s: pre-started kernel not usable: %s", job.id, e)
            return None
        self.log.info("PrimeHub job %s runs on a pre-started %s kernel", job.id, kernel)
        return warm.proc

    def _spawn(self, args: list[str], log_path: Path) -> subprocess.Popen:
        with open(log_path, "ab") as log:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=_PACKAGE_PARENT,  # so ``-m`` finds this package even when not installed
                start_new_session=True,  # own process group: cancel kills the whole group
                close_fds=True,
            )

    # -- status ---------------------------------------------------------------------------------
    def _refresh(self, job: Job) -> None:
        """Update a running job from its status file; finalise it once its executor is gone."""
        files = self.files(job.id)
        status = read_status(files.status) or {}
        progress = status.get("progress") or {}
        before = (job.progress_done, job.progress_total)
        job.progress_done = int(progress.get("done", job.progress_done))
        job.progress_total = int(progress.get("total", job.progress_total))
        proc = self._children.get(job.id)
        exit_code = proc.poll() if proc is not None else None
        alive = exit_code is None and is_alive(job.pid, job.pid_start)
        if alive:
            self.store.save(job)
            self._exits.watch(job.id, job.pid, job.pid_start)  # also executors re-attached to
            if (job.progress_done, job.progress_total) != before:
                self._changed(job)
            if job.cancel_requested:
                self._escalate_cancel(job, status)
            return
        self._children.pop(job.id, None)
        self._kill_kernel(status)
        state = status.get("state")
        # The executor's own final word wins: a job that ended just before a cancel took
        # effect keeps its true result.
        if state in _FINAL:
            self._finalize(
                job,
                State(state),
                JobError.from_json(status.get("error")),
                status.get("reason"),
                status,
            )
            return
        if job.cancel_requested:  # killed after ignoring SIGTERM
            self._finalize(job, State.CANCELLED, None, "Cancelled by user", status)
            return
        why = f" (exit code {exit_code})" if exit_code is not None else ""
        self._finalize(
            job,
            State.FAILED,
            None,
            f"The executor process ended without a result{why}; "
            "it was killed or the machine or server restarted.",
            status,
        )

    def _finalize(
        self,
        job: Job,
        state: State,
        error: JobError | None,
        reason: str | None,
        status: dict | None = None,
    ) -> None:
        job.status = state
        job.error = error
        job.reason = reason
        # The executor's status file says whether a succeeded job ended early (sys.exit(0)).
        ended = (status or {}).get("endedEarly") if state == State.SUCCEEDED else None
        job.ended_early = EndedEarly.from_json(ended if isinstance(ended, dict) else None)
        finished = from_iso((status or {}).get("finishedAt"))
        job.finished_at = finished or utcnow()
        if job.started_at is None and status and status.get("startedAt"):
            job.started_at = from_iso(status["startedAt"])
        self._cancel_sent.pop(job.id, None)
        self.store.save(job)
        self._exits.discard(job.id)
        self._changed(job)
        self.log.info(
            "PrimeHub job %s (%s) %s%s",
            job.id,
            job.name,
            state.value,
            f": {reason}" if reason else "",
        )

    def _changed(self, job: Job) -> None:
        if self.on_change is not None:
            self.on_change(job)

    # -- cancel ---------------------------------------------------------------------------------
    def _send_cancel(self, job: Job) -> None:
        if job.pid and job.id not in self._cancel_sent:
            self._cancel_sent[job.id] = time.monotonic()
            signal_group(job.pid, job.pid_start, signal.SIGTERM)

    def _escalate_cancel(self, job: Job, status: dict) -> None:
        sent = self._cancel_sent.get(job.id)
        if sent is None:
            self._send_cancel(job)  # e.g. requested before a server restart
            return
        if time.monotonic() - sent > self.cancel_grace:
            self.log.warning("PrimeHub job %s ignored SIGTERM; killing it", job.id)
            signal_group(job.pid, job.pid_start, signal.SIGKILL)
            self._kill_kernel(status)
            if job.pid:
                reap(job.pid)

    @staticmethod
    def _kill_kernel(status: dict) -> None:
        # The kernel runs in a session of its own (jupyter_client does that), so killing the
        # executor's group does not reach it.
        pid, start = status.get("kernelPid"), status.get("kernelPidStart")
        if pid and start is not None:
            signal_group(pid, start, signal.SIGKILL)

    # -- restart recovery -----------------------------------------------------------------------
    async def recover(self) -> None:
        """Re-attach to live executors; finalise those that ended while no runner watched."""
        for job in self.store.with_status(State.RUNNING, backend=self.name):
            if is_alive(job.pid, job.pid_start):
                self.log.info(
                    "PrimeHub job %s still running (pid %s): re-attached", job.id, job.pid
                )
                continue
            status = read_status(self.files(job.id).status) or {}
            if status.get("state") not in _FINAL:
                self._kill_kernel(status)
                self._finalize(
                    job,
                    State.CANCELLED if job.cancel_requested else State.FAILED,
                    None,
                    "Cancelled by user"
                    if job.cancel_requested
                    else "The executor process ended while the server was restarting; "
                    "the job did not finish. Submit it again.",
                    status,
                )
            else:
                self._refresh(job)

    # -- retention ------------------------------------------------------------------------------
    async def expire_artifacts(self) -> None:
        """Delete artifacts of jobs that finished longer ago than the retention period."""
        cutoff = iso(utcnow() - self.artifact_retention) or ""
        # The store is used on the loop's thread only; the deletions run in a worker thread.
        expired = [
            (job, self.files(job.id).artifacts) for job in self.store.finished_before(cutoff)
        ]
        for job, folder in expired:
            if await asyncio.get_running_loop().run_in_executor(None, _remove_if_present, folder):
                self.log.info("PrimeHub job %s: artifacts expired and removed", job.id)


def _remove_if_present(folder: Path) -> bool:
    if not folder.exists():
        return False
    artifacts.remove_tree(folder)
    return True
