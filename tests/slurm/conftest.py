"""The local SLURM (localslurm) and a real JupyterHub spawning through it.

``localslurm`` brings the cluster up once per session (idempotent: a no-op when it runs) and
fails loudly, never skips, when it cannot: ``make test-slurm`` installs what it needs.
``slurm_hub(catalog, **settings)`` starts a JupyterHub (localk8s.hubtesting: real proxy, real
hub) whose spawner is PrimeHubSlurmSpawner, on a catalog written for the test.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from localk8s.hubtesting import HubProcess, start_hub
from localslurm import cluster

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
    for more GPUs than the node has), an image running the project's own venv."""
    group: dict[str, Any] = {
        "members": list(SLURM_USERS),
        "instanceTypes": ["cpu-1", "gpu-1", "gpu-4"],
        "images": ["venv", "gpu-only"],
        "datasets": ["shared-data"],
        "slurm": {"account": ""},
    }
    group.update(quota)
    return {
        "instanceTypes": {
            "cpu-1": {"cpu": 1, "memory": "512Mi", "displayName": "CPU 1"},
            "gpu-1": {"cpu": 1, "memory": "512Mi", "gpu": 1, "slurm": {"gres": "gpu"}},
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


@pytest.fixture(scope="session")
def localslurm() -> dict[str, Any]:
    """The running local SLURM (started when needed); its SLURM_CONF in ``["conf"]``."""
    try:
        return cluster.up(users=(*cluster.DEFAULT_USERS, *SLURM_USERS))
    except cluster.SlurmError as e:
        pytest.fail(f"the local SLURM cannot start: {e}", pytrace=False)


def squeue(conf: str, *args: str) -> str:
    """squeue's output on the local cluster."""
    return subprocess.run(
        ["squeue", "-h", *args],
        env={"SLURM_CONF": conf, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture
def slurm_hub(localslurm, tmp_path) -> Iterator[Any]:
    """Start hubs with ``start(catalog_dict, extra_config="", cleanup=True)``; all are
    stopped (their SLURM jobs cancelled by JupyterHub's shutdown) at the end."""
    hubs: list[HubProcess] = []

    def start(data: dict[str, Any], extra: str = "", cleanup: bool = True, workdir: Path = None):
        workdir = workdir or tmp_path / f"hub{len(hubs)}"
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / "catalog.yaml"
        path.write_text(yaml.safe_dump(data))
        config = HUB_CONFIG.format(
            catalog=str(path), conf=localslurm["conf"], cleanup=cleanup, extra=extra
        )
        hub = start_hub(config, workdir)
        hubs.append(hub)
        for user in SLURM_USERS:
            hub.create_user(user)
        return hub

    yield start
    for hub in hubs:
        hub.stop()
