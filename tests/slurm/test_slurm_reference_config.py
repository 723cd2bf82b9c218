"""The reference jupyterhub_config.py selects SLURM with one setting (PRIMEHUB_SCHEDULER=slurm):
the demo catalog's form from PrimeHubSlurmSpawner on the local SLURM, no Kubernetes needed."""

from __future__ import annotations

import os

import requests

from localk8s.hubtesting import running_hub
from localk8s.settings import REPO_ROOT


def test_primehub_scheduler_slurm_runs_the_demo_catalog_on_slurm(localslurm, tmp_path):
    env = dict(os.environ, PRIMEHUB_SCHEDULER="slurm", PRIMEHUB_STATE_DIR=str(tmp_path / "st"))
    env.pop("SLURM_CONF", None)  # the local SLURM, found by the config itself
    with running_hub(REPO_ROOT / "jupyterhub_config.py", tmp_path / "hub", env=env) as hub:
        s = requests.Session()
        s.trust_env = False
        s.get(hub.url + "/hub/login", timeout=30)
        s.post(
            hub.url + "/hub/login",
            data={"username": "alice", "password": "primehub", "_xsrf": s.cookies.get("_xsrf")},
            timeout=30,
        )
        form = s.get(hub.url + "/hub/spawn", timeout=30)
        assert form.status_code == 200, form.text[:2000]
        assert 'name="group"' in form.text
        hub.create_user("alice")
        refused = hub.start_server("alice", {"kernel_gateway": True})
        assert refused.status_code == 400
        assert "not available on SLURM" in refused.json()["message"]  # the SLURM spawner's
        assert "primehub-jobs" not in hub.api("GET", "/services").json()
