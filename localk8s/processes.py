"""Detached processes recorded by PID (plus start time, so a reused PID is never killed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from primehub_jobs_contract.processes import process_start_time


def start_time(pid: int) -> str | None:
    """Kernel start time of ``pid`` as recorded text, None if it does not run (or is a zombie)."""
    ticks = process_start_time(pid)
    return None if ticks is None else str(ticks)


class ProcessTable:
    """PID records of the cluster's components under ``<state>/pids``."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "pids"
        self.log_dir = state_dir / "logs"

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> int:
        """Start ``cmd`` in its own session (detached from the terminal), log to logs/<name>.log."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                close_fds=True,
            )
        finally:
            log.close()
        record = {"pid": proc.pid, "start": start_time(proc.pid), "cmd": cmd[0]}
        (self.dir / f"{name}.json").write_text(json.dumps(record))
        return proc.pid

    def records(self) -> dict[str, dict]:
        """All recorded components, by name."""
        out = {}
        if self.dir.is_dir():
            for path in sorted(self.dir.glob("*.json")):
                try:
                    out[path.stem] = json.loads(path.read_text())
                except ValueError:
                    continue
        return out

    def alive(self, name: str) -> bool:
        """True if the recorded process of ``name`` still runs (same PID and start time)."""
        rec = self.records().get(name)
        return bool(rec) and start_time(rec["pid"]) == rec["start"]

    def stop(self, name: str, timeout: float = 15) -> None:
        """SIGTERM the process group of ``name``, SIGKILL after ``timeout``; forget the record."""
        rec = self.records().get(name)
        path = self.dir / f"{name}.json"
        if rec and start_time(rec["pid"]) == rec["start"]:
            terminate_group(rec["pid"], timeout)
        path.unlink(missing_ok=True)


def terminate_group(pid: int, timeout: float) -> None:
    """SIGTERM the process group led by ``pid``, then SIGKILL it if it is still there."""
    start = start_time(pid)
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if start_time(pid) != start:
            break
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    # If the caller started it (e.g. a test session's fixture), reap it so no zombie remains.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
