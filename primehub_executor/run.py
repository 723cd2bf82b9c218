"""The job executor: runs one notebook snapshot with nbclient in its own process.

The same way everywhere (the local backend next to the server, a Kubernetes job pod)::

    python -m primehub_executor spec.json

where ``spec.json`` is an :class:`primehub_jobs_contract.executor.ExecutorSpec` (input and
output notebook, working folder, kernel, parameters, per-cell timeout, deadline, status file,
log file, job id, artifacts folder and limits, papermill's input path, termination log).

It writes a JSON status file (state, progress, error, kernel PID) after every cell, saves the
partial output notebook after every cell, streams cell stdout/stderr to the log, and on SIGTERM
stops the kernel and ends ``cancelled`` with the partial output kept.

Papermill semantics (``papermill_compat``): a cell that runs ``sys.exit()``/``sys.exit(0)`` ends
the run early and the job *succeeds* (status ``endedEarly``: the cell and its SystemExit; the
remaining cells are not run; the output notebook marks the place); the output notebook carries
papermill's ``metadata.papermill`` (notebook and cells) besides our own ``primehub_job`` block.
In a Kubernetes pod the final state also goes to the container's termination message
(the spec's ``termination_log``), where the hub reads it.
The kernel runs next to the executor (same container), so they talk over ZeroMQ's IPC transport
(Unix sockets in a private 0700 folder), never TCP: nothing else can reach the kernel, and
ipykernel's "Kernel is running over TCP without encryption" warning stays out of the job log.
Exit codes: 0 succeeded (also when ended early), 1 failed, 2 usage error, 143 cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import nbformat
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from primehub_executor import artifacts as artifacts_mod
from primehub_executor.params import UnsupportedLanguage, inject_parameters
from primehub_jobs_contract import VERSION as __version__
from primehub_jobs_contract.executor import EXECUTOR_MODULE, ExecutorSpec, SpecError
from primehub_jobs_contract.processes import process_start_time
from primehub_jobs_contract.safefiles import read_capped, replace_file
from primehub_jobs_contract.status import termination_message, write_status
from primehub_jobs_contract.times import iso, utcnow

from . import papermill_compat as pm

if TYPE_CHECKING:
    from .warm import WarmKernel

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 143
MAX_NOTEBOOK_BYTES = 256 * 1024 * 1024


class SnapshotChanged(Exception):
    """The input's bytes do not have the digest the submitter's backend recorded."""


ERROR_STYLE = (
    'style="color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;"'
)
EARLY_STYLE = 'style="font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:1.5em;"'
# Papermill's tag: papermill (and this executor) drop such cells when an output notebook is run
# again, so the markers of an earlier run never pile up.
BANNER_TAG = pm.ERROR_MARKER_TAG
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class JobLog:
    """Append-only job log: timestamped event lines plus raw cell output as it arrives."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def event(self, message: str) -> None:
        self.stream.write(f"[{iso(utcnow())}] {message}\n")
        self.stream.flush()

    def raw(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class StreamingClient(NotebookClient):
    """NotebookClient that copies stream and error output to the job log while cells run."""

    job_log: JobLog | None = None
    # Called right after nbclient installs its own SIGTERM/SIGINT handlers (which would only
    # shut the kernel down) and before the kernel starts: puts the executor's handlers back.
    before_kernel_start: Any = None

    #: Private folder (0700) of the kernel's connection file and IPC sockets; set by the caller.
    kernel_dir: str | None = None

    def create_kernel_manager(self) -> Any:
        """nbclient's kernel manager, on the IPC transport in ``kernel_dir`` when one is set."""
        if self.kernel_dir is None:
            return super().create_kernel_manager()
        # short socket paths (Unix sockets allow ~100 bytes): <kernel_dir>/k-ipc-<port>
        self.km = self.kernel_manager_class(
            kernel_name=self.kernel_name,
            config=self.config,
            transport="ipc",
            connection_file=os.path.join(self.kernel_dir, "k.json"),
        )
        return self.km

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        if self.before_kernel_start is not None:
            self.before_kernel_start()
        await super().async_start_new_kernel(**kwargs)

    async def async_start_new_kernel_client(self) -> Any:
        # A pre-started kernel skips async_start_new_kernel: put our handlers back here too.
        if self.before_kernel_start is not None:
            self.before_kernel_start()
        return await super().async_start_new_kernel_client()

    def output(self, outs, msg, display_id, cell_index):  # type: ignore[no-untyped-def]
        if self.job_log is not None:
            content = msg.get("content", {})
            if msg["msg_type"] == "stream":
                self.job_log.raw(content.get("text", ""))
            elif msg["msg_type"] == "error":
                self.job_log.raw(_ANSI.sub("", "\n".join(content.get("traceback", []))) + "\n")
        return super().output(outs, msg, display_id, cell_index)


class Executor:
    """Runs one notebook; all state it reports goes through ``self.status``."""

    def __init__(
        self,
        args: ExecutorSpec,
        log: JobLog,
        warm: WarmKernel | None = None,
        job_env: dict[str, str] | None = None,
    ) -> None:
        self.args = args
        self.log = log
        #: A kernel started before this job (``primehub_executor.warm``), used once or discarded.
        self.warm = warm
        #: What this job adds to the kernel's environment (a pre-started kernel gets it set).
        self.job_env = job_env or {}
        self.status: dict[str, Any] = {
            "jobId": args.job_id,
            "state": "running",
            "pid": os.getpid(),
            "pidStart": process_start_time(os.getpid()),
            "kernelPid": None,
            "kernelPidStart": None,
            "progress": {"done": 0, "total": 0},
            "startedAt": iso(utcnow()),
            "finishedAt": None,
            "error": None,
            "reason": None,
            "endedEarly": None,
            "outputPath": str(args.output),
            "currentCell": None,
        }
        self.nb: nbformat.NotebookNode | None = None
        self.client: StreamingClient | None = None
        self.kernel_dir: str | None = None  # the kernel's private socket folder (IPC)
        self.source_index: dict[int, int] = {}  # id(cell) -> index in the submitted notebook
        self.current_cell: Any = None
        self.stop_reason: str | None = None  # "cancel" or "deadline" when we cancel ourselves
        self.main_task: asyncio.Task | None = None
        self.output_error: str | None = None  # why the output notebook could not be written
        self.started = pm.now()  # papermill's start_time: before the kernel starts
        self.cell_raised = False  # papermill's notebook-level ``exception``

    # -- status and output -------------------------------------------------------------------
    def write_status(self) -> None:
        if self.args.status_file:
            write_status(
                self.args.status_file, self.status, self.confine_for(self.args.status_file)
            )

    def confine_for(self, path: str | Path) -> str | None:
        """The spec's trusted folder when ``path`` lies below it (else writes just refuse a
        link at the file's own name)."""
        root = self.args.confine
        if root and Path(path).is_relative_to(root):
            return root
        return None

    def save_output(self) -> None:
        if self.nb is None:
            return
        out = Path(self.args.output)
        try:
            replace_file(out, nbformat.writes(self.nb).encode(), self.confine_for(out))
        except OSError as e:
            # e.g. the folder was deleted or is read-only: keep running, fail at the end.
            if self.output_error is None:
                self.log.event(f"Cannot write the output notebook {out}: {e.strerror or e}")
            self.output_error = f"Cannot write the output notebook {out.name}: {e.strerror or e}"

    def finish(self, state: str, error: dict[str, Any] | None, reason: str | None) -> str:
        """Record the final state (returned: a write failure turns success into failure)."""
        if self.nb is not None:
            self.save_output()  # surfaces a write problem before the final state is chosen
        if state == "succeeded" and self.output_error:
            state, reason = "failed", self.output_error
        ended_early = self.status["endedEarly"] if state == "succeeded" else None
        self.status.update(
            state=state,
            error=error,
            reason=reason,
            endedEarly=ended_early,
            finishedAt=iso(utcnow()),
            currentCell=None,
        )
        if self.nb is not None:
            self.nb.metadata["papermill"] = self.papermill_metadata(end=pm.now())
            self.nb.metadata["primehub_job"] = {
                "id": self.args.job_id,
                "status": state,
                "parameters": self.parameters,
                "startedAt": self.status["startedAt"],
                "finishedAt": self.status["finishedAt"],
                "error": error,
                "reason": reason,
                "endedEarly": ended_early,
                "executorVersion": __version__,
            }
            self.save_output()
        self.enforce_artifact_limits()
        self.write_status()
        self.write_termination_log()
        if ended_early is not None:
            self.log.event(
                f"Job {state}: ended early at cell {ended_early['cellIndex']} "
                f"({_exit_text(ended_early)}); the remaining cells were not run"
            )
        else:
            self.log.event(f"Job {state}" + (f": {reason}" if reason else ""))
        return state

    def papermill_metadata(self, end: Any = None) -> dict[str, Any]:
        return pm.notebook_metadata(
            parameters=self.parameters,
            input_path=str(self.args.input_path or self.args.input),
            output_path=str(self.args.output),
            start=self.started,
            end=end,
            exception=self.cell_raised,
        )

    def write_termination_log(self) -> None:
        """The final state for the hub, as the container's termination message.

        Only into an existing file: the kubelet creates it in every container (the pod's
        ``terminationMessagePath``); anywhere else nothing is written.
        """
        path = self.args.termination_log
        if not path or not os.path.isfile(path):
            return
        message = termination_message(self.status)
        try:
            with open(path, "w") as f:
                f.write(message)
        except OSError as e:
            self.log.event(f"Cannot write the termination message {path}: {e.strerror or e}")

    def enforce_artifact_limits(self) -> None:
        if not self.args.artifacts:
            return
        report = artifacts_mod.enforce_limits(
            Path(self.args.artifacts), self.args.max_artifact_files, self.args.max_artifact_bytes
        )
        if report.dropped:
            self.log.event(
                f"Artifacts over the limit ({self.args.max_artifact_files} files / "
                f"{self.args.max_artifact_bytes} bytes) or not regular files; dropped "
                f"{len(report.dropped)}: {', '.join(report.dropped[:10])}"
                + (" ..." if len(report.dropped) > 10 else "")
            )

    def add_error_banner(self, cell: Any) -> None:
        """Papermill-style: a banner at the top linking to a marker before the failing cell."""
        assert self.nb is not None
        count = cell.get("execution_count") if cell is not None else None
        record = cell.metadata.get("papermill") if cell is not None else None
        self.cell_raised = cell is not None
        if record is not None:
            pm.cell_failed(record)
            pm.cell_completed(record, pm.now())
        marker = nbformat.v4.new_markdown_cell(
            f'<span id="papermill-error-cell" {ERROR_STYLE}>'
            "Execution of this job encountered an exception here and stopped:</span>"
        )
        marker.metadata["tags"] = [BANNER_TAG]
        banner = nbformat.v4.new_markdown_cell(
            f"<span {ERROR_STYLE}>An Exception was encountered at "
            f"'<a href=\"#papermill-error-cell\">In [{count if count is not None else ' '}]</a>'."
            "</span>"
        )
        banner.metadata["tags"] = [BANNER_TAG]
        if cell is not None:
            for index, existing in enumerate(self.nb.cells):
                if existing is cell:
                    self.nb.cells.insert(index, marker)
                    break
        self.nb.cells.insert(0, banner)

    def add_early_exit_marker(self, cell: Any, ended: dict[str, Any]) -> None:
        """Where a clean ``sys.exit`` ended the run: a note after the cell and a banner on top
        linking to it (tagged like papermill's markers, so a re-run drops them)."""
        assert self.nb is not None
        count = cell.get("execution_count")
        position = next(i for i, existing in enumerate(self.nb.cells) if existing is cell)
        remaining = sum(
            1 for c in self.nb.cells[position + 1 :] if c.cell_type == "code" and c.source.strip()
        )
        note = nbformat.v4.new_markdown_cell(
            f'<span id="primehub-ended-early" {EARLY_STYLE}>'
            f"The job ended early here: the cell above exited with {_exit_text(ended)}. "
            f"The {remaining} code cell(s) below were not run; the job succeeded.</span>"
        )
        note.metadata["tags"] = [BANNER_TAG]
        banner = nbformat.v4.new_markdown_cell(
            f"<span {EARLY_STYLE}>This job ended early at "
            f"'<a href=\"#primehub-ended-early\">In [{count if count is not None else ' '}]</a>'"
            f" ({_exit_text(ended)}); the cells after it were not run.</span>"
        )
        banner.metadata["tags"] = [BANNER_TAG]
        for index, existing in enumerate(self.nb.cells):
            if existing is cell:
                self.nb.cells.insert(index + 1, note)
                break
        self.nb.cells.insert(0, banner)

    # -- execution ---------------------------------------------------------------------------
    @property
    def parameters(self) -> dict[str, Any]:
        return self.args.parameters

    def prepare(self) -> tuple[str, str]:
        """Read the snapshot, pick the kernel, inject parameters; returns (kernel, language)."""
        raw = read_capped(self.args.input, MAX_NOTEBOOK_BYTES)
        if self.args.input_sha256 and hashlib.sha256(raw).hexdigest() != self.args.input_sha256:
            raise SnapshotChanged(
                f"The notebook snapshot {self.args.input} is not what was submitted "
                "(someone changed it after the submit); nothing was run."
            )
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        self.source_index = {id(cell): i for i, cell in enumerate(nb.cells)}
        kernel = self.args.kernel or nb.metadata.get("kernelspec", {}).get("name") or "python3"
        spec = KernelSpecManager().get_kernel_spec(kernel)  # NoSuchKernel if unknown
        inject_parameters(nb, self.parameters, spec.language)
        # As papermill: drop an earlier run's markers, clear outputs and counts (a cell the run
        # never reaches shows nothing stale), every cell's record starts pending.
        nb.cells = [c for c in nb.cells if BANNER_TAG not in c.metadata.get("tags", [])]
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.execution_count = None
                cell.outputs = []
            cell.metadata["papermill"] = pm.pending_cell()
        self.started = pm.now()
        nb.metadata["papermill"] = self.papermill_metadata()
        self.nb = nb
        self.status["progress"]["total"] = sum(
            1 for c in nb.cells if c.cell_type == "code" and c.source.strip()
        )
        return kernel, spec.language

    async def take_warm(self, kernel: str, language: str) -> WarmKernel | None:
        """The pre-started kernel if this job can use it; else it is stopped and None."""
        warm = self.warm
        if warm is None:
            return None
        why = await warm.unusable_for(kernel, language)  # a cancel here: run() discards it
        self.warm = None
        if why is None:
            return warm
        self.log.event(f"The pre-started kernel is not used ({why}); starting a new one")
        await warm.discard()
        return None

    async def run_cells(self, kernel: str, language: str = "python") -> None:
        assert self.nb is not None
        warm = await self.take_warm(kernel, language)
        client = StreamingClient(
            self.nb,
            km=warm.km if warm is not None else None,
            timeout=self.args.timeout,
            kernel_name=kernel,
            startup_timeout=120,
            allow_errors=False,
            interrupt_on_timeout=False,
            resources={"metadata": {"path": str(self.args.cwd)}},
        )
        client.job_log = self.log
        client.before_kernel_start = self.install_signal_handlers
        if warm is not None:
            client.kernel_dir = self.kernel_dir = warm.kernel_dir
            self.log.event(
                f"Using the pre-started kernel {kernel} (pid {warm.pid}); "
                f"working folder {self.args.cwd}"
            )
        else:
            client.kernel_dir = self.kernel_dir = _private_kernel_dir()
            self.log.event(f"Starting kernel {kernel} in {self.args.cwd}")
        self.client = client
        # cleanup_kc: shut a pre-started kernel down at the end exactly like a kernel of our own.
        async with client.async_setup_kernel(cleanup_kc=True):
            self.install_signal_handlers()
            provisioner = getattr(client.km, "provisioner", None)
            process = getattr(provisioner, "process", None)
            if process is not None:
                self.status["kernelPid"] = process.pid
                self.status["kernelPidStart"] = process_start_time(process.pid)
            self.write_status()
            if warm is not None:
                # Before the first cell: the job's folder, sys.path and environment.
                await warm.enter_job(client, str(self.args.cwd), self.job_env)
            total = self.status["progress"]["total"]
            # Papermill's per-cell records (every cell, markdown too), so tools that read
            # papermill output work here. Iterate over a copy: markers may be inserted.
            for index, cell in enumerate(list(self.nb.cells)):
                record = cell.metadata["papermill"]
                if cell.cell_type != "code" or not cell.source.strip():
                    pm.cell_started(record, pm.now())
                    pm.cell_completed(record, pm.now())
                    continue
                self.current_cell = cell
                done = self.status["progress"]["done"]
                self.status["currentCell"] = index
                self.log.event(f"Cell {done + 1}/{total} (cell {index}) started")
                pm.cell_started(record, pm.now())
                try:
                    await client.async_execute_cell(cell, index)
                except CellExecutionError:
                    ended = pm.clean_exit(cell.outputs)
                    if ended is None:
                        raise
                    self.end_early(cell, ended)
                    break
                pm.cell_completed(record, pm.now())
                self.status["progress"]["done"] = done + 1
                self.save_output()
                self.write_status()
            self.current_cell = None

    def end_early(self, cell: Any, ended: dict[str, str]) -> None:
        """A clean ``sys.exit`` in ``cell``: the run stops here and will succeed."""
        record = cell.metadata["papermill"]
        pm.cell_failed(record)  # papermill marks the cell so (and the notebook's exception)
        pm.cell_completed(record, pm.now())
        self.cell_raised = True
        index = self.source_index.get(id(cell))
        self.status["endedEarly"] = {"cellIndex": index, **ended}
        self.status["progress"]["done"] += 1
        total = self.status["progress"]["total"]
        self.log.event(
            f"Cell {self.status['progress']['done']}/{total} (cell {index}) ended the notebook "
            f"early ({_exit_text(ended)}); the remaining cells are not run"
        )
        self.add_early_exit_marker(cell, self.status["endedEarly"])
        self.save_output()
        self.write_status()

    def install_signal_handlers(self) -> None:
        # Replaces nbclient's own SIGTERM handler: we want a clean "cancelled" record, then the
        # kernel shutdown that leaving async_setup_kernel performs.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, "cancel")

    def stop(self, why: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = why
            if self.main_task is not None:
                self.main_task.cancel()

    def error_for(self, cell: Any, ename: str, evalue: str) -> dict[str, Any]:
        index = self.source_index.get(id(cell)) if cell is not None else None
        return {"cellIndex": index, "ename": ename, "evalue": evalue}

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        # SIGTERM from the start on: stop, and conclude "cancelled" once the job task runs.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, "cancel")
        self.write_status()
        self.log.event(f"Job {self.args.job_id or ''} running {self.args.input}".replace("  ", " "))
        try:
            kernel, _language = self.prepare()
        except NoSuchKernel:
            kernel_name = self.args.kernel or "(from notebook)"
            self.finish("failed", None, f"No such kernel: {kernel_name}")
            return EXIT_FAILED
        except UnsupportedLanguage as e:
            self.finish("failed", None, e.message)
            return EXIT_FAILED
        except SnapshotChanged as e:
            self.finish("failed", None, str(e))
            return EXIT_FAILED
        except (OSError, ValueError) as e:
            self.finish("failed", None, f"Cannot read the notebook: {e}")
            return EXIT_FAILED
        finally:
            if self.nb is None and self.warm is not None:  # no cell will run: stop it now
                await self.warm.discard()
                self.warm = None
        self.write_status()
        self.main_task = asyncio.ensure_future(self.run_cells(kernel, _language))
        if self.stop_reason is not None:  # SIGTERM while the notebook was read
            self.main_task.cancel()
        timer = None
        if self.args.deadline:
            timer = loop.call_later(self.args.deadline, self.stop, "deadline")
        outcome: BaseException | None = None
        try:
            await self.main_task
        except (Exception, asyncio.CancelledError) as e:
            outcome = e
        finally:
            if timer is not None:
                timer.cancel()
            if self.warm is not None:  # stopped before the pre-started kernel was taken
                await self.warm.discard()
                self.warm = None
            self.kill_kernel()
            if self.kernel_dir:
                shutil.rmtree(self.kernel_dir, ignore_errors=True)
        return self.conclude(outcome)

    def conclude(self, outcome: BaseException | None) -> int:
        """Record the final state. Our own stop reason wins: nbclient turns the cancellation
        of a running cell into DeadKernelError."""
        cell = self.current_cell
        if self.stop_reason == "deadline":
            message = f"Job deadline of {self.args.deadline:g} s exceeded"
            self.add_error_banner(cell)
            self.finish("failed", self.error_for(cell, "DeadlineExceeded", message), message)
            return EXIT_FAILED
        if self.stop_reason == "cancel":
            self.finish("cancelled", None, "Cancelled by user")
            return EXIT_CANCELLED
        if outcome is None:
            state = self.finish("succeeded", None, None)
            return EXIT_SUCCEEDED if state == "succeeded" else EXIT_FAILED
        if isinstance(outcome, CellTimeoutError):
            message = f"Cell timed out after {self.args.timeout:g} s"
            self.add_error_banner(cell)
            self.finish("failed", self.error_for(cell, "CellTimeoutError", message), message)
        elif isinstance(outcome, CellExecutionError):
            self.add_error_banner(cell)
            error = self.error_for(cell, outcome.ename, outcome.evalue)
            where = error["cellIndex"]
            self.finish("failed", error, f"{outcome.ename}: {outcome.evalue} (cell {where})")
        elif isinstance(outcome, DeadKernelError):
            message = "The kernel died while running the cell"
            self.add_error_banner(cell)
            self.finish("failed", self.error_for(cell, "DeadKernelError", message), message)
        else:  # e.g. the kernel failed to start
            self.finish("failed", None, f"{type(outcome).__name__}: {outcome}")
        return EXIT_FAILED

    def kill_kernel(self) -> None:
        """Belt and braces: the kernel has its own session, so make sure it is gone."""
        pid, start = self.status.get("kernelPid"), self.status.get("kernelPidStart")
        if not pid and self.client is not None:
            # Stopped while the kernel was starting: its PID was not recorded yet.
            process = getattr(getattr(self.client.km, "provisioner", None), "process", None)
            if process is not None:
                pid, start = process.pid, process_start_time(process.pid)
        if pid and start is not None and process_start_time(pid) == start:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def _private_kernel_dir() -> str | None:
    """A new 0700 folder for the kernel's sockets (short path), or None (TCP) if none can be
    made (e.g. no writable temporary folder in the container)."""
    for base in ("/tmp", None):  # /tmp first: $TMPDIR may be too long a path for a socket
        try:
            return tempfile.mkdtemp(prefix="pj-", dir=base)
        except OSError:
            continue
    return None


def build_parser() -> argparse.ArgumentParser:
    """Command line of the executor: one spec file (``primehub_jobs_contract.executor``)."""
    p = argparse.ArgumentParser(
        prog=f"python -m {EXECUTOR_MODULE}",
        description="Run a notebook as a PrimeHub job (nbclient, papermill-style parameters).",
    )
    p.add_argument("spec", type=Path, help="the job's spec file (JSON, see ExecutorSpec)")
    return p


def _exit_text(ended: dict[str, Any]) -> str:
    """``SystemExit: 0``, or ``SystemExit`` for ``sys.exit()``."""
    return ": ".join(part for part in (ended.get("ename"), ended.get("evalue")) if part)


def load_spec(path: Path) -> ExecutorSpec | None:
    """The job's spec with its defaults filled in, or None (the reason is on stderr)."""
    try:
        spec = ExecutorSpec.read(path)
    except (OSError, SpecError) as e:
        print(f"{EXECUTOR_MODULE}: cannot use the spec {path}: {e}", file=sys.stderr)
        return None
    spec.cwd = spec.cwd or str(Path(spec.input).resolve().parent)
    if spec.max_artifact_files is None:
        spec.max_artifact_files = artifacts_mod.DEFAULT_MAX_FILES
    if spec.max_artifact_bytes is None:
        spec.max_artifact_bytes = artifacts_mod.DEFAULT_MAX_BYTES
    return spec


def job_environment(spec: ExecutorSpec) -> dict[str, str]:
    """What the job adds to the kernel's environment: its id and artifacts folder (created)."""
    env = {"PRIMEHUB_JOB_ID": spec.job_id}
    if spec.artifacts:
        Path(spec.artifacts).mkdir(parents=True, exist_ok=True)
        env["PRIMEHUB_JOB_ARTIFACTS"] = str(Path(spec.artifacts).resolve())
    return env


async def run_job(spec: ExecutorSpec, warm: WarmKernel | None = None) -> int:
    """Run one job (on ``warm`` when it fits, else on a new kernel); returns the exit code."""
    # A kernel we start inherits our environment: this is how the notebook finds its job id and
    # folder. A pre-started kernel gets the same variables set before the first cell.
    env = job_environment(spec)
    os.environ.update(env)
    # The executor's own process: nothing else waits on this loop, so plain file I/O is fine.
    stream = open(spec.log_file, "a", buffering=1) if spec.log_file else sys.stdout  # noqa: SIM115, ASYNC230
    try:
        executor = Executor(spec, JobLog(stream), warm=warm, job_env=env)
        started = time.monotonic()
        code = await executor.run()
        executor.log.event(f"Executor exiting after {time.monotonic() - started:.1f} s")
        return code
    finally:
        if stream is not sys.stdout:
            stream.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    spec = load_spec(args.spec)
    if spec is None:
        return EXIT_USAGE
    return asyncio.run(run_job(spec))


def exit_now(code: int) -> None:
    """End the process right after the job's final state is written: flush what Python still
    buffers and skip the interpreter's teardown, which spent 1-3 s finalising the kernel
    client's ZeroMQ sockets (the server learns a job's end from this process's exit). The job's
    files are all written and closed by then."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
