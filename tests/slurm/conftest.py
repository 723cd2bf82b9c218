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
from slurm_hubtesting import HUB_CONFIG, SLURM_USERS, catalog  # noqa: F401

from localk8s.hubtesting import HubProcess, start_hub
from localslurm import cluster


@pytest.fixture(scope="session")
def localslurm() -> dict[str, Any]:
    """The running local SLURM (started when needed); its SLURM_CONF in ``["conf"]``."""
    try:
        return cluster.up(users=(*cluster.DEFAULT_USERS, *SLURM_USERS))
    except cluster.SlurmError as e:
        pytest.fail(f"the local SLURM cannot start: {e}", pytrace=False)


@pytest.fixture
def slurm_hub(localslurm, tmp_path) -> Iterator[Any]:
    """Start hubs with ``start(catalog_dict, extra_config="", cleanup=True)``; all are
    stopped at the end and the test users' SLURM jobs cancelled."""
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

    start.hubs = hubs  # a test that restarts a hub appends the new process
    yield start
    for hub in hubs:
        hub.stop()
    # hubs that keep their servers (cleanup=False) leave jobs behind
    for user in SLURM_USERS:
        subprocess.run(
            ["scancel", "-u", user],
            env={"SLURM_CONF": localslurm["conf"], "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            check=False,
        )
