"""Fixtures of the fault and fuzz tests: real jupyter servers, a real hub on the local cluster,
and the control of the cluster's components the faults need."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest

from bench.jupyter_server import JupyterServer, start_server
from jupyterlab_primehub.jobs.processes import process_start_time

WAIT = 180  # generous: kernels and pods start slowly on a loaded 2-core machine


def write_notebook(path: Path, *cells: str, parameters: str | None = None) -> Path:
    """A python3 notebook of code cells (``parameters`` becomes a tagged first cell)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(c) for c in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def executor_pids(jobs_dir: Path) -> list[int]:
    """PIDs of live job executors (and their kernels) working on ``jobs_dir``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(jobs_dir) in cmdline and process_start_time(int(proc.name)) is not None:
            found.append(int(proc.name))
    return found


def descendants(pid: int) -> list[int]:
    """``pid`` and all processes below it (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(proc.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and everything below it at once (what a dying pod does to them)."""
    for target in descendants(pid):
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def jupyter_servers(tmp_path: Path) -> Iterator[Callable[..., JupyterServer]]:
    """``start(root, jobs_dir, **kw)``: real jupyter servers, all stopped after the test, and no
    job executor of theirs left running."""
    started: list[JupyterServer] = []

    def start(root: Path, jobs_dir: Path, **kwargs) -> JupyterServer:
        server = start_server(root, jobs_dir, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    for server in started:
        for pid in executor_pids(server.jobs_dir):
            kill_tree(pid)
