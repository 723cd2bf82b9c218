"""The reference hub config's SLURM settings (``PRIMEHUB_SCHEDULER=slurm`` in
jupyterhub_config.py): PrimeHubSlurmSpawner on the given catalog, on the local SLURM of
``python -m localslurm up`` unless ``SLURM_CONF`` names another cluster. See docs/slurm.md."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .local_clusters import local_status


def configure_slurm(c: Any, catalog_path: str, repo: Path) -> None:
    """Select PrimeHubSlurmSpawner in the config ``c``; exits with a message when the local
    SLURM is wanted and not running."""
    import primehub_spawner.slurm  # registers the port handler before the hub reads handlers

    c.JupyterHub.spawner_class = primehub_spawner.slurm.PrimeHubSlurmSpawner
    c.PrimeHubSlurmSpawner.catalog_path = catalog_path
    c.PrimeHubSlurmSpawner.start_timeout = 300
    c.PrimeHubSlurmSpawner.http_timeout = 120
    chp = repo / "node_modules" / ".bin" / "configurable-http-proxy"
    if chp.exists():  # the repository's proxy (make setup installs it), as on localk8s
        c.ConfigurableHTTPProxy.command = [str(chp)]
    if os.environ.get("SLURM_CONF") or not (repo / "localslurm").is_dir():
        return  # a real cluster: its SLURM_CONF (or /etc/slurm) and the hub's own Python
    status = local_status("localslurm", repo)
    if not status.get("running"):
        sys.exit(
            "The local SLURM is not running: start it with `python -m localslurm up`, "
            "or set SLURM_CONF for another cluster."
        )
    c.PrimeHubSlurmSpawner.slurm_environment = {"SLURM_CONF": status["conf"]}
    c.PrimeHubSlurmSpawner.python_prefix = status["python_prefix"]
