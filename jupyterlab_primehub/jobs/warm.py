"""Pre-started kernels for local jobs: a pool of warm executor processes.

A warm executor (``python -m primehub_executor.warm <kernel> <state file>``) is an executor
process that started its kernel before it had a job; it waits for one line on stdin, the job's
spec file, and then runs that job as a normal executor (see ``primehub_executor.warm``). The
pool keeps ``count`` of them per kernelspec, hands one to the next job of its kernel and then
starts the next one; a warm kernel serves exactly one job.

The processes live in sessions of their own like every executor, but hold the read end of a
pipe from this server: when the server stops (or dies) they see the end of stdin and stop their
kernel. :meth:`WarmPool.stop` also kills what did not go within a few seconds, and
:meth:`WarmPool.clean_leftovers` removes what an earlier server left (state files in
``<jobs_dir>/warm/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from primehub_jobs_contract.processes import signal_group

WARM_MODULE = "primehub_executor.warm"
#: Languages whose kernels can be pre-started (the executor moves them into the job with Python).
LANGUAGES = ("python",)
#: After a warm process ended without a job, wait this long before starting another for the
#: same kernelspec (a kernel that cannot start is not restarted in a loop).
RETRY_AFTER = 60.0
MAX_LOG_BYTES = 1024 * 1024


@dataclass
class WarmProcess:
    """One warm executor this server started."""

    kernel: str
    proc: subprocess.Popen
    state_file: Path

    def state(self) -> dict[str, Any]:
        """What the process wrote once its kernel answered (empty before)."""
        return read_state(self.state_file)


def read_state(path: Path) -> dict[str, Any]:
    """A warm executor's state file: PIDs and start times of it and its kernel ({} if none)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class WarmPool:
    """Keeps ``count`` warm executors per kernel name in ``kernels`` ready."""

    def __init__(
        self,
        folder: Path,
        *,
        count: int,
        kernels: tuple[str, ...] | list[str],
        command: tuple[str, ...],
        cwd: str,
        log: logging.Logger | logging.LoggerAdapter | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.count = max(0, count)
        self.kernels = tuple(kernels) if self.count else ()
        self.command = command  # e.g. (python, "-m", WARM_MODULE)
        self.cwd = cwd
        self.log = log or logging.getLogger(__name__)
        self._ready: dict[str, list[WarmProcess]] = {k: [] for k in self.kernels}
        self._retry_at: dict[str, float] = {}
        self._stopped = False
        #: set by the first use of the server's jobs API (the lab opening, a job submitted):
        #: a server nobody runs jobs from keeps no idle kernel
        self.wanted = False

    @property
    def enabled(self) -> bool:
        return bool(self.kernels)

    def processes(self) -> list[WarmProcess]:
        """The warm executors waiting for a job now."""
        return [w for ws in self._ready.values() for w in ws]

    # -- life cycle -----------------------------------------------------------------------------
    async def start(self, kernel_specs: dict[str, Any]) -> None:
        """Keep only Python kernelspecs that exist (``kernel_specs``: name -> resource dict
        as KernelSpecManager.get_all_specs gives) and clean leftovers; the pool fills once
        it is ``wanted``."""
        usable = []
        for name in self.kernels:
            language = ((kernel_specs.get(name) or {}).get("spec") or {}).get("language")
            if language in LANGUAGES:
                usable.append(name)
            else:
                self.log.warning(
                    "PrimeHub jobs: no pre-started kernels for kernelspec %r (%s)",
                    name,
                    "not installed" if language is None else f"language {language}",
                )
        self.kernels = tuple(usable)
        self._ready = {k: [] for k in self.kernels}
        if not self.enabled:
            return
        await asyncio.to_thread(self.clean_leftovers)
        await self.fill()

    async def fill(self) -> None:
        """Start warm executors until every kernel has ``count`` (once wanted, never after
        stop)."""
        if not self.wanted:
            return
        for kernel in self.kernels:
            self._drop_dead(kernel)
            while not self._stopped and len(self._ready[kernel]) < self.count:
                if time.monotonic() < self._retry_at.get(kernel, 0.0):
                    break
                try:
                    warm = await asyncio.to_thread(self._spawn, kernel)
                except OSError as e:
                    self.log.warning("PrimeHub jobs: cannot pre-start a %s kernel: %s", kernel, e)
                    self._retry_at[kernel] = time.monotonic() + RETRY_AFTER
                    break
                self._ready[kernel].append(warm)

    def take(self, kernel: str | None) -> WarmProcess | None:
        """A warm executor for ``kernel`` (removed from the pool), or None."""
        if kernel not in self._ready:
            return None
        self._drop_dead(kernel)
        ready = self._ready[kernel]
        return ready.pop(0) if ready else None

    async def stop(self, timeout: float = 5.0) -> None:
        """End every warm executor and its kernel: end of stdin, then SIGKILL after
        ``timeout`` s."""
        self._stopped = True
        warm = self.processes()
        for ws in self._ready.values():
            ws.clear()
        for w in warm:
            _close_stdin(w.proc)
        if warm:
            await asyncio.gather(*(asyncio.to_thread(self._end, w, timeout) for w in warm))

    # -- helpers --------------------------------------------------------------------------------
    def _spawn(self, kernel: str) -> WarmProcess:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", kernel)
        state_file = self.folder / f"{safe}-{secrets.token_hex(4)}.json"
        log_path = self.folder / "warm.log"  # output before a job arrives (usually none)
        with contextlib.suppress(OSError):
            if log_path.stat().st_size > MAX_LOG_BYTES:
                log_path.unlink()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [*self.command, kernel, str(state_file)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                cwd=self.cwd,
                start_new_session=True,  # as every executor: cancel signals its whole group
                close_fds=True,
            )
        return WarmProcess(kernel, proc, state_file)

    def _drop_dead(self, kernel: str) -> None:
        alive = []
        for w in self._ready.get(kernel, []):
            if w.proc.poll() is None:
                alive.append(w)
                continue
            self.log.warning(
                "PrimeHub jobs: a pre-started %s kernel's executor ended (exit code %s) before "
                "it had a job; see %s",
                kernel,
                w.proc.returncode,
                self.folder / "warm.log",
            )
            self._retry_at[kernel] = time.monotonic() + RETRY_AFTER
            _kill_from_state(w.state())
            with contextlib.suppress(OSError):
                w.state_file.unlink()
        self._ready[kernel] = alive

    @staticmethod
    def _end(w: WarmProcess, timeout: float) -> None:
        state = w.state()
        try:
            w.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                w.proc.send_signal(signal.SIGKILL)
            w.proc.wait()
        _kill_from_state(state)
        with contextlib.suppress(OSError):
            w.state_file.unlink()

    def clean_leftovers(self) -> None:
        """Kill warm executors and kernels an earlier server left (by PID and start time)."""
        if not self.folder.is_dir():
            return
        for path in self.folder.glob("*.json"):
            state = read_state(path)
            signal_group(state.get("pid"), state.get("pidStart"), signal.SIGKILL)
            _kill_from_state(state)
            with contextlib.suppress(OSError):
                path.unlink()


def _close_stdin(proc: subprocess.Popen) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()


def _kill_from_state(state: dict[str, Any]) -> None:
    """SIGKILL the kernel a warm executor recorded, if it still runs (same start time)."""
    pid, start = state.get("kernelPid"), state.get("kernelPidStart")
    if pid and start is not None:
        signal_group(pid, start, signal.SIGKILL)


def hand_over(warm: WarmProcess, spec_path: Path) -> None:
    """Give the job's spec to a warm executor (blocking: call off the event loop)."""
    assert warm.proc.stdin is not None
    try:
        warm.proc.stdin.write(f"{spec_path}\n".encode())
        warm.proc.stdin.flush()
    finally:
        _close_stdin(warm.proc)
