"""Fixtures of the fault and fuzz tests: real jupyter servers, a real hub on the local cluster,
and the control of the cluster's components the faults need."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest

from bench.jupyter_server import JupyterServer, start_server
from localk8s.hubtesting import HubProcess, start_hub
from localk8s.settings import REPO_ROOT
from localk8s.testing import Cluster
from primehub_jobs_contract.processes import process_start_time

HERE = Path(__file__).parent
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


@pytest.fixture(scope="session")
def disruptable_cluster(k8s_cluster: Cluster) -> Cluster:
    """The local cluster, when killing its components cannot break anyone else's tests.

    Skips on an external cluster, and when other test sessions share the local one (engineers
    running tests side by side), unless PRIMEHUB_FAULT_TESTS_FORCE=1.
    """
    if k8s_cluster.external or k8s_cluster.state_dir is None:
        pytest.skip("component faults need the local cluster (localk8s)")
    if os.environ.get("PRIMEHUB_FAULT_TESTS_FORCE") != "1" and k8s_cluster.used_by_others():
        pytest.skip("other test sessions use the local cluster; set PRIMEHUB_FAULT_TESTS_FORCE=1")
    return k8s_cluster


@pytest.fixture(scope="session")
def fault_namespace(k8s_cluster: Cluster) -> Iterator[str]:
    """A namespace for the servers of the fault tests."""
    name = k8s_cluster.create_namespace("fault")
    yield name
    k8s_cluster.delete_namespace(name)


@pytest.fixture(scope="session")
def fault_hub(k8s_cluster: Cluster, fault_namespace: str, tmp_path_factory) -> Iterator[HubProcess]:
    """JupyterHub with the reference config and the fault catalog on the local cluster."""
    workdir = tmp_path_factory.mktemp("fault-hub")
    shutil.copy(HERE / "catalog.yaml", workdir / "catalog.yaml")
    env = {
        **k8s_cluster.env,
        "PRIMEHUB_CATALOG": str(workdir / "catalog.yaml"),
        "PRIMEHUB_NAMESPACE": fault_namespace,
        "PRIMEHUB_STATE_DIR": str(workdir),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    config = (
        f"load_subconfig({str(REPO_ROOT / 'jupyterhub_config.py')!r})\n"
        # notice a dead server within seconds, not the default 30 s: keeps the faults quick
        "c.Spawner.poll_interval = 5\n"
        # a server whose pod died mid-spawn is given up after 45 s instead of 120 s
        "c.KubeSpawner.http_timeout = 45\n"
    )
    hub = start_hub(config, workdir, hub_ip=k8s_cluster.bridge_ip, env=env)
    try:
        yield hub
    finally:
        hub.stop()


def user_processes(user: str) -> list[int]:
    """PIDs of processes started for ``user``'s server (JUPYTERHUB_USER in their environment)."""
    needle = f"JUPYTERHUB_USER={user}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in env and process_start_time(int(proc.name)) is not None:
            found.append(int(proc.name))
    return found


def pytest_terminal_summary(terminalreporter) -> None:
    """The fuzzers' count of requests really sent (see ``fuzzcount.py``)."""
    from .fuzzcount import COUNTS, total

    if COUNTS:
        terminalreporter.section("fuzz requests sent")
        for api, count in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{count:>7,}  {api}")
        terminalreporter.write_line(f"{total():>7,}  in all")
