"""Learn the moment an executor process exits, without a thread or a poll.

A pidfd (Linux 5.3+, ``os.pidfd_open``) becomes readable when its process exits; the event loop
watches it like a socket and calls ``on_exit`` right away. It works for executors this server
started and for ones it re-attached to after a restart (not its children). Where pidfds are not
available (another OS, an old kernel, a loop without ``add_reader``), ``watch`` does nothing
and the runner's poll finds the end as before.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from primehub_jobs_contract.processes import process_start_time


class ExitWatcher:
    """Calls ``on_exit()`` once a watched process has exited."""

    def __init__(self, on_exit: Callable[[], None]) -> None:
        self.on_exit = on_exit
        self._fds: dict[str, int] = {}  # key (job id) -> pidfd

    def watching(self, key: str) -> bool:
        return key in self._fds

    def watch(self, key: str, pid: int | None, pid_start: int | None) -> bool:
        """Watch process ``pid`` (started at ``pid_start``) under ``key``; True if watched.
        A process already gone calls ``on_exit`` soon instead."""
        if key in self._fds or not pid or not hasattr(os, "pidfd_open"):
            return key in self._fds
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the event loop (a test): the poll finds the end
            return False
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:  # already reaped: the next scheduling round sees it
            loop.call_soon(self.on_exit)
            return False
        except OSError:  # ENOSYS (old kernel) or not permitted: keep polling
            return False
        # The pidfd names whatever process has this PID now: make sure it is the executor (a
        # zombie has no start time; it is not reaped here, the runner collects its exit code).
        now = process_start_time(pid)
        if now is None or (pid_start is not None and now != pid_start):
            os.close(fd)
            loop.call_soon(self.on_exit)
            return False
        try:
            loop.add_reader(fd, self._exited, key)
        except (NotImplementedError, OSError):
            os.close(fd)
            return False
        self._fds[key] = fd
        return True

    def _exited(self, key: str) -> None:
        self.discard(key)
        self.on_exit()

    def discard(self, key: str) -> None:
        fd = self._fds.pop(key, None)
        if fd is None:
            return
        try:
            asyncio.get_running_loop().remove_reader(fd)
        except RuntimeError:  # no running loop (shutdown): nothing is watching it any more
            pass
        os.close(fd)

    def close(self) -> None:
        for key in list(self._fds):
            self.discard(key)
