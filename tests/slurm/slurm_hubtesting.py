"""Helpers of the SLURM hub tests: the tests' catalog, the hub config selecting
PrimeHubSlurmSpawner on the local SLURM, squeue, and reading the spawn's progress stream."""

from __future__ import annotations

import json
import subprocess
from typing import Any

SLURM_USERS = ("slurm-alice", "slurm-bob")

HUB_CONFIG = """
import primehub_spawner.slurm  # registers the port handler before the hub reads its handlers
c.JupyterHub.spawner_class = primehub_spawner.slurm.PrimeHubSlurmSpawner
c.PrimeHubSlurmSpawner.catalog_path = {catalog!r}
c.PrimeHubSlurmSpawner.slurm_environment = {{"SLURM_CONF": {conf!r}}}
c.PrimeHubSlurmSpawner.start_timeout = 90
c.PrimeHubSlurmSpawner.startup_poll_interval = 0.3
c.PrimeHubSlurmSpawner.http_timeout = 60
c.JupyterHub.cleanup_servers = {cleanup!r}
{extra}
"""


def catalog(prefix: str, **quota: Any) -> dict[str, Any]:
    """The tests' catalog: one group of both SLURM users, CPU and GPU instance types (one asking
    for more GPUs than the node has), images running ``prefix`` (the job Python)."""
    group: dict[str, Any] = {
        "members": list(SLURM_USERS),
        "instanceTypes": ["cpu-1", "gpu-1", "gpu-4"],
        "images": ["venv", "gpu-only"],
        "datasets": ["shared-data"],
        "slurm": {"account": "primehub-lab"},
    }
    group.update(quota)
    return {
        "instanceTypes": {
            "cpu-1": {"cpu": 1, "memory": "512Mi", "displayName": "CPU 1"},
            "gpu-1": {
                "cpu": 1,
                "memory": "512Mi",
                "gpu": 1,
                "slurm": {"gres": "gpu", "partition": "debug"},
            },
            "gpu-4": {"cpu": 1, "memory": "512Mi", "gpu": 4},
        },
        "images": {
            "venv": {"url": "unused-on-slurm", "slurm": {"venv": prefix}},
            "gpu-only": {"url": "unused-on-slurm", "type": "gpu", "slurm": {"venv": prefix}},
        },
        "datasets": {
            "shared-data": {"type": "hostPath", "path": "/usr/share/doc", "homeSymlink": True},
        },
        "groups": {"slurm-team": group},
    }


def squeue(conf: str, *args: str) -> str:
    """squeue's output on the local cluster."""
    return subprocess.run(
        ["squeue", "-h", *args],
        env={"SLURM_CONF": conf, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def first_progress(hub: Any, user: str, token: str, text: str, timeout: float) -> dict | None:
    """The first event of the spawn's progress stream whose message holds ``text`` (None when
    the stream ends without one)."""
    with hub.session.get(
        hub.api_url + f"/users/{user}/server/progress",
        headers={"Authorization": f"token {token}"},
        stream=True,
        timeout=timeout,
    ) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[len("data:") :])
                if text in event.get("message", ""):
                    return event
    return None


def restart_hub(hub: Any, timeout: float = 120) -> Any:
    """Stop ``hub`` and start JupyterHub again from the same harness config, database and ports
    (its servers' API URL stays valid), waiting until its API answers through the proxy."""
    import os
    import sys
    import time
    from pathlib import Path

    from localk8s.hubtesting import HubError, HubProcess
    from localk8s.settings import REPO_ROOT

    hub.stop()
    env = dict(os.environ)
    bin_dirs = [str(REPO_ROOT / "node_modules" / ".bin"), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join([*bin_dirs, env.get("PATH", "")])
    with open(hub.log_path, "ab") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", "jupyterhub_harness_config.py"],
            cwd=hub.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    again = HubProcess(
        url=hub.url, token=hub.token, proc=proc, workdir=hub.workdir, log_path=hub.log_path
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HubError(f"jupyterhub exited with {proc.returncode}\n{again.log_tail()}")
        try:
            if again.api("GET", "/", timeout=5).status_code == 200:
                return again
        except Exception:  # noqa: BLE001 - not answering yet
            pass
        time.sleep(0.3)
    again.stop()
    raise HubError(f"jupyterhub did not answer again within {timeout:.0f}s\n{again.log_tail()}")
