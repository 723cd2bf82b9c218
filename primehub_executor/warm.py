"""A warm executor: an executor process that starts its kernel before it has a job.

The local backend keeps a few of these ready (``PrimeHubApp.warm_kernels``)::

    python -m primehub_executor.warm <kernel name> <state file>

The process starts the kernel at once (IPC transport, in its private 0700 folder, which is also
the kernel's first working folder: nothing importable), writes the state file (its own and the
kernel's PID and start time) when the kernel answers (not when a job arrived first: the state
file names a process waiting for a job, and a restarted server kills what state files name),
and waits for one line on stdin: the
path of a job's spec file. From then on it *is* that job's executor, exactly as
``python -m primehub_executor <spec>`` would be (same status file, log, cancel by SIGTERM, exit
codes); the kernel only skips its start. Before the first cell the kernel is moved into the job:
``os.chdir`` to the notebook's folder (``sys.path`` entries naming the start folder follow, and
IPython's ``_dh``), and the job's variables (``PRIMEHUB_JOB_ID``, ``PRIMEHUB_JOB_ARTIFACTS``)
set in ``os.environ``; silently, so the first cell is still ``In [1]``. Only Python kernels are
pre-started this way: the set-up is Python code.

A warm kernel serves one job and dies with it (never reused). End of stdin (the server stopped,
or died) or SIGTERM before a job arrives stops the kernel and the process, so no warm kernel
outlives the server that asked for it.

Output the kernel process writes itself (not cell output, which comes over the kernel's
channels) goes through a pipe to this process's stderr: the job's log once a job arrived, like a
kernel the executor starts itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager

from primehub_jobs_contract.processes import process_start_time

from . import run

STARTUP_TIMEOUT = 120
#: Kernel languages whose kernels can be moved into a job's folder and environment.
LANGUAGES = ("python",)

# Runs in the kernel before the job's first cell; leaves no names behind.
_ENTER_JOB = """
def __primehub_enter_job(folder, env):
    import os, sys
    before = os.getcwd()
    os.chdir(folder)
    sys.path[:] = [folder if p == before else p for p in sys.path]
    os.environ.update(env)
    try:
        import pathlib
        get_ipython().user_ns["_dh"][:] = [pathlib.Path(folder)]
    except Exception:
        pass
__primehub_enter_job({folder!r}, {env!r})
del __primehub_enter_job
"""


class WarmKernel:
    """One kernel started ahead of its job."""

    def __init__(self, kernel_name: str) -> None:
        self.kernel_name = kernel_name
        self.kernel_dir = run._private_kernel_dir()
        self.km = AsyncKernelManager(
            kernel_name=kernel_name,
            transport="ipc" if self.kernel_dir else "tcp",
            connection_file=os.path.join(self.kernel_dir, "k.json") if self.kernel_dir else "",
        )
        self.start_task: asyncio.Task | None = None
        self._output: int | None = None  # read end of the kernel's stdout/stderr pipe

    @property
    def pid(self) -> int | None:
        process = getattr(self.km.provisioner, "process", None)
        return process.pid if process is not None else None

    async def start(self) -> None:
        """Start the kernel and wait until it answers."""
        read, write = os.pipe()
        self._output = read
        threading.Thread(target=_forward, args=(read,), daemon=True).start()
        try:
            await self.km.start_kernel(cwd=self.kernel_dir or "/", stdout=write, stderr=write)
        finally:
            os.close(write)
        kc = self.km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=STARTUP_TIMEOUT)
        finally:
            kc.stop_channels()

    async def unusable_for(self, kernel: str, language: str) -> str | None:
        """Why this kernel cannot run the job (None: it can); waits for its start."""
        if kernel != self.kernel_name:
            return f"it is {self.kernel_name}, the job wants {kernel}"
        if language not in LANGUAGES:
            return f"a {language} kernel cannot be moved into the job's folder"
        assert self.start_task is not None
        try:
            await self.start_task
        except Exception as e:
            return f"it failed to start: {type(e).__name__}: {e}"
        if not await self.km.is_alive():
            return "it died while waiting"
        return None

    async def enter_job(self, client: Any, folder: str, env: dict[str, str]) -> None:
        """Move the kernel into the job: working folder, sys.path, environment."""
        code = _ENTER_JOB.format(folder=folder, env=env)
        msg_id = client.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        reply = await client.async_wait_for_reply(msg_id)
        content = (reply or {}).get("content", {})
        if content.get("status") != "ok":
            raise RuntimeError(
                "The pre-started kernel could not enter the job's folder "
                f"{folder}: {content.get('ename', 'no reply')}: {content.get('evalue', '')}"
            )

    async def discard(self) -> None:
        """Stop the kernel (also one still starting) and remove its folder."""
        if self.start_task is not None and not self.start_task.done():
            self.start_task.cancel()
            with contextlib.suppress(BaseException):
                await self.start_task
        process = getattr(self.km.provisioner, "process", None)
        if process is not None:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(process.wait, 5)
        with contextlib.suppress(Exception):
            self.km.cleanup_resources()
        if self.kernel_dir:
            shutil.rmtree(self.kernel_dir, ignore_errors=True)


def _forward(fd: int) -> None:
    """Copy the kernel's own output to our stderr (the job's log once there is a job)."""
    with contextlib.suppress(OSError):
        while data := os.read(fd, 65536):
            os.write(2, data)
    with contextlib.suppress(OSError):
        os.close(fd)


def _write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


async def _read_line() -> bytes:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return await reader.readline()


async def serve(kernel_name: str, state_file: Path) -> int:
    """Start the kernel, wait for a job (or the end), run it; returns the exit code."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    # Replaced by the executor's own handlers once a job runs; never removed in between.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    warm = WarmKernel(kernel_name)
    waiting = True  # no job yet: the state file may (and should) name us

    async def start() -> None:
        await warm.start()
        if not waiting:
            # A job arrived before the kernel answered: this process is that job's executor
            # now. A state file written now would outlive the hand-over, and a restarted
            # server's clean-up (which kills what state files name) would kill the job.
            return
        pid = warm.pid
        _write_state(
            state_file,
            {
                "state": "ready",
                "kernel": kernel_name,
                "pid": os.getpid(),
                "pidStart": process_start_time(os.getpid()),
                "kernelPid": pid,
                "kernelPidStart": process_start_time(pid) if pid else None,
            },
        )

    warm.start_task = asyncio.ensure_future(start())
    line_task = asyncio.ensure_future(_read_line())
    stop_task = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait({line_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_task.cancel()
    line = line_task.result() if line_task.done() and not stopped.is_set() else b""
    line_task.cancel()
    waiting = False
    with contextlib.suppress(OSError):
        state_file.unlink()  # noqa: ASYNC240 (this process's own loop; nothing else waits)
    spec = run.load_spec(Path(line.decode().strip())) if line.strip() else None
    if spec is None:  # the server went away or stopped us, or a bad spec path
        await warm.discard()
        return run.EXIT_USAGE if line.strip() else 0
    if spec.log_file:  # as a started executor: our stdout and stderr go to the job's log
        sys.stdout.flush()
        sys.stderr.flush()
        log_fd = os.open(spec.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
    return await run.run_job(spec, warm)


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``<kernel name> <state file>``; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m primehub_executor.warm KERNEL STATE_FILE", file=sys.stderr)
        return run.EXIT_USAGE
    return asyncio.run(serve(args[0], Path(args[1])))


if __name__ == "__main__":
    run.exit_now(main())  # the server learns the job's end from this exit: no slow teardown
