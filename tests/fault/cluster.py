"""Faults injected into the local cluster: kill/restart the node agent, restart the apiserver.

localk8s has no public "restart one component" function, so this uses its process table
(``localk8s.processes.ProcessTable``): the component's recorded PID, its command line and
environment read from /proc, and ``ProcessTable.start`` to bring it back the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from localk8s import controlplane
from localk8s.processes import ProcessTable, start_time
from localk8s.testing import Cluster, wait_for


def _proc_argv_env(pid: int) -> tuple[list[str], dict[str, str]]:
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    env_raw = Path(f"/proc/{pid}/environ").read_bytes().rstrip(b"\0").split(b"\0")
    env = dict(item.decode().split("=", 1) for item in env_raw if b"=" in item)
    return [a.decode() for a in argv], env


def _component(cluster: Cluster, name: str) -> tuple[ProcessTable, int, list[str], dict]:
    assert cluster.state_dir is not None, "needs the local cluster"
    procs = ProcessTable(cluster.state_dir)
    rec = procs.records()[name]
    assert start_time(rec["pid"]) == rec["start"], f"{name} is not running"
    argv, env = _proc_argv_env(rec["pid"])
    return procs, rec["pid"], argv, env


def kill_node_agent(cluster: Cluster) -> tuple[list[str], dict[str, str]]:
    """SIGKILL the node agent process alone (a crash); return how to start it again."""
    procs, pid, argv, env = _component(cluster, "node-agent")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not procs.alive("node-agent"), 30, what="the node agent to die")
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return argv, env


def start_node_agent(cluster: Cluster, argv: list[str], env: dict[str, str]) -> None:
    """Start the node agent again as ``up`` did; wait until the node is Ready."""
    assert cluster.state_dir is not None
    ProcessTable(cluster.state_dir).start("node-agent", argv, env=env)
    settings = controlplane.load_settings(cluster.state_dir)
    wait_for(lambda: controlplane.node_ready(settings), 120, what="the node Ready again")


def restart_apiserver(cluster: Cluster, down_seconds: float = 3) -> None:
    """Stop kube-apiserver (SIGTERM), keep it down a moment, start it with the same flags."""
    procs, _, argv, env = _component(cluster, "kube-apiserver")
    procs.stop("kube-apiserver", timeout=30)
    settings = controlplane.load_settings(cluster.state_dir)
    wait_for(lambda: not controlplane.api_ready(settings), 30, what="the apiserver down")
    time.sleep(down_seconds)  # not an assertion: the outage the hub must ride out
    procs.start("kube-apiserver", argv, env=env)
    wait_for(lambda: controlplane.api_ready(settings), 120, what="the apiserver back")


@contextlib.contextmanager
def paused(cluster: Cluster, name: str) -> Iterator[None]:
    """SIGSTOP a control-plane component (e.g. ``kube-controller-manager``: Jobs get no pods)
    for the duration of the block; SIGCONT whatever happens."""
    _, pid, _, _ = _component(cluster, name)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
