"""``make demo`` stops promptly and says what it stops.

Ctrl-C (SIGINT to the terminal's foreground process group) or SIGTERM ends the hub, its proxy
and its managed services (primehub-jobs, the idle culler) within seconds, not after JupyterHub's
30 s interrupt timeout per service. Both the demo runner (``demo/run.py``, what ``make demo``
runs) and the hub alone (``jupyterhub -f jupyterhub_config.py``) are tested, with the demo's own
config and catalog against the running local cluster, on free ports, in a namespace of their own.
The runner finds the cluster running, so it leaves it running (it stops only a cluster it
started).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from localk8s.hubtesting import free_port
from localk8s.settings import REPO_ROOT
from localk8s.testing import wait_for

# Generous: each process needs about a second; JupyterHub's default is 30 s per service.
SHUTDOWN_BOUND = 15.0
SERVICES = ("primehub_spawner.jobs", "jupyterhub_idle_culler", "configurable-http-proxy")


def _processes() -> dict[int, tuple[int, str]]:
    """Live processes: pid -> (parent pid, command line)."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), cmdline)
    return found


def descendants(pid: int) -> dict[int, str]:
    """Every live process under ``pid`` (services run in sessions of their own, so walk the
    parent links, not the process group): pid -> command line."""
    table = _processes()
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, cmd) in table.items():
            if ppid == parent and child not in found:
                found[child] = cmd
                todo.append(child)
    return found


@dataclass
class Demo:
    proc: subprocess.Popen
    url: str
    log_path: Path
    started: dict[int, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_demo(command: list[str], k8s_cluster, namespace: str, workdir: Path) -> Demo:
    """Start ``command`` (the runner or the hub) with the demo's config on free ports; return
    once the hub and its primehub-jobs service answer and the services and proxy run."""
    proxy_port = free_port()
    env = {
        **k8s_cluster.env,
        "PRIMEHUB_NAMESPACE": namespace,
        "PRIMEHUB_STATE_DIR": str(workdir / "state"),
        "PRIMEHUB_PROXY_PORT": str(proxy_port),
        "PRIMEHUB_PROXY_API_PORT": str(free_port()),
        "PRIMEHUB_HUB_PORT": str(free_port(k8s_cluster.bridge_ip)),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYTHONUNBUFFERED": "1",
        "PATH": os.pathsep.join(
            [
                str(REPO_ROOT / "node_modules" / ".bin"),
                str(Path(sys.executable).parent),
                os.environ.get("PATH", ""),
            ]
        ),
    }
    env.pop("PRIMEHUB_CATALOG", None)  # the demo's catalog
    log_path = workdir / "demo.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, as a terminal's foreground job
        )
    demo = Demo(proc, f"http://127.0.0.1:{proxy_port}", log_path, {})
    session = requests.Session()
    session.trust_env = False

    def up() -> bool:
        assert proc.poll() is None, demo.log()
        # the jobs service answers its root URL through the proxy (the hub's health check)
        about = session.get(demo.url + "/services/primehub-jobs/", timeout=5)
        return about.status_code == 200 and "JupyterHub is now running" in demo.log()

    try:
        wait_for(up, 180, what="the demo hub and its primehub-jobs service")

        def everything_runs() -> dict[int, str]:
            found = descendants(proc.pid)
            return found if all(any(s in c for c in found.values()) for s in SERVICES) else {}

        demo.started = wait_for(everything_runs, 60, what=f"the processes {SERVICES}")
    except BaseException:
        stop(demo)
        raise
    finally:
        session.close()
    return demo


def stop(demo: Demo) -> None:
    for pid in [demo.proc.pid, *demo.started, *descendants(demo.proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    demo.proc.wait()


def assert_all_stop(demo: Demo, what: str) -> float:
    """Every process of the demo ends within SHUTDOWN_BOUND; the failure names those left.
    Prints when each one ended (``-s``)."""
    begin = time.monotonic()
    everyone = {demo.proc.pid: " ".join(map(str, demo.proc.args)), **demo.started}
    ended: dict[int, float] = {}
    while time.monotonic() < begin + SHUTDOWN_BOUND and len(ended) < len(everyone):
        live = _processes()
        for pid in everyone:
            if pid not in ended and pid not in live:
                ended[pid] = time.monotonic() - begin
        time.sleep(0.1)
    for pid, cmd in everyone.items():
        print(f"{ended[pid]:5.1f}s  {cmd[:100]}" if pid in ended else f"  -    {cmd[:100]}")
    lingering = {pid: cmd for pid, cmd in everyone.items() if pid not in ended}
    assert not lingering, (
        f"{len(lingering)} process(es) still running {SHUTDOWN_BOUND:.0f}s after {what}:\n"
        + "\n".join(f"  {pid}: {cmd}" for pid, cmd in lingering.items())
        + "\n--- log (tail) ---\n"
        + "\n".join(demo.log().splitlines()[-40:])
    )
    return max(ended.values())


def test_ctrl_c_stops_make_demo_within_seconds_and_says_what_it_stops(
    k8s_cluster, k8s_namespace, tmp_path
):
    """``make demo``'s runner: the welcome (URL, users, how to stop) once the hub answers;
    Ctrl-C stops the hub, its services and proxy, saying so; a cluster it found running stays."""
    demo = start_demo(
        [sys.executable, str(REPO_ROOT / "demo" / "run.py")], k8s_cluster, k8s_namespace, tmp_path
    )
    try:
        welcome = wait_for(
            lambda: "PrimeHub demo is up" in demo.log() and demo.log(), 30, what="the welcome"
        )
        assert f"open {demo.url}/" in welcome
        assert "alice  phusers: GPU quota 1" in welcome
        assert "dave   no group" in welcome
        assert "gpu-4 asks 4 GPUs, the node has 2, so it fails fast" in welcome
        assert "Stop: press Ctrl-C" in welcome
        os.killpg(demo.proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        took = assert_all_stop(demo, "Ctrl-C")
        assert demo.proc.wait(5) == 0
    finally:
        stop(demo)
    out = demo.log()
    assert "Stopping JupyterHub: its services (primehub-jobs, idle-culler), then its proxy" in out
    assert "JupyterHub stopped" in out and "Demo stopped" in out
    # the cluster was running before the demo: it is not the demo's to stop
    assert "Stopping the local Kubernetes cluster" not in out
    print(f"demo stopped in {took:.1f}s")


def test_sigterm_stops_the_demo_hub_its_services_and_proxy_within_seconds(
    k8s_cluster, k8s_namespace, tmp_path
):
    """The hub alone (as systemd or a container runtime stops it): SIGTERM to the hub only."""
    demo = start_demo(
        [str(Path(sys.executable).parent / "jupyterhub"), "-f", "jupyterhub_config.py"],
        k8s_cluster,
        k8s_namespace,
        tmp_path,
    )
    try:
        demo.proc.send_signal(signal.SIGTERM)
        took = assert_all_stop(demo, "SIGTERM")
    finally:
        stop(demo)
    assert "primehub-jobs: stopping" in demo.log()
    print(f"hub stopped in {took:.1f}s")
