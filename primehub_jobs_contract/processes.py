"""An executor process's identity: PID + start time (what status files record), so a reused PID
is never mistaken for the job's executor; and termination by that identity."""

from __future__ import annotations

import os
import signal


def process_start_time(pid: int) -> int | None:
    """Start time of a live (non-zombie) process in clock ticks since boot, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_alive(pid: int | None, start_time: int | None) -> bool:
    """True if ``pid`` runs and is the same process that was recorded (same start time)."""
    if not pid:
        return False
    reap(pid)
    current = process_start_time(pid)
    if current is None:
        return False
    return start_time is None or current == start_time


def reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own exited child (no zombies left behind)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def signal_group(pid: int | None, start_time: int | None, sig: int = signal.SIGTERM) -> bool:
    """Send ``sig`` to the process group led by ``pid`` if it is still the recorded process."""
    if not is_alive(pid, start_time):
        return False
    assert pid is not None
    try:
        os.killpg(pid, sig)
        return True
    except OSError:
        pass
    # Not a group leader (e.g. started without a session of its own): signal the process itself.
    try:
        os.kill(pid, sig)
    except OSError:
        return False
    return True
