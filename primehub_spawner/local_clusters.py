"""What the local development clusters of a checkout say about themselves.

The reference config (``jupyterhub_config.py``), its SLURM variant and the demo ask
``python -m localk8s status --json`` or ``python -m localslurm status --json`` in the
repository (the modules ship with the repository, not with the package). Only for a checkout:
a real cluster is configured by ``KUBECONFIG`` or ``SLURM_CONF`` instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def local_status(module: str, repo: Path | str) -> dict[str, Any]:
    """``python -m <module> status --json`` run in ``repo``; {} when it gives no JSON."""
    out = subprocess.run(
        [sys.executable, "-m", module, "status", "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        status = json.loads(out.stdout)
    except ValueError:
        return {}
    return status if isinstance(status, dict) else {}
