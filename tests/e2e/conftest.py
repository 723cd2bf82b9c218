"""Hub end-to-end fixtures: a real JupyterHub with PrimeHubSpawner on the local cluster.

The hub runs the reference ``jupyterhub_config.py`` with the e2e catalog, in a namespace of its
own (deleted afterwards), through ``localk8s.hubtesting`` (free ports, admin service token).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from localk8s.hubtesting import HubProcess, start_hub
from localk8s.settings import REPO_ROOT
from localk8s.testing import wait_for

HERE = Path(__file__).parent
PASSWORD = "e2e-password"


@pytest.fixture(scope="session")
def e2e_namespace(k8s_cluster):
    """A namespace for the servers of this session."""
    name = k8s_cluster.create_namespace("e2e")
    yield name
    k8s_cluster.delete_namespace(name)


@pytest.fixture(scope="session")
def hub(k8s_cluster, e2e_namespace, tmp_path_factory) -> HubProcess:
    """JupyterHub with the reference config and the e2e catalog."""
    workdir = tmp_path_factory.mktemp("hub")
    # a copy the tests may edit while the hub runs (the hub re-reads it when it changes)
    shutil.copy(HERE / "catalog.yaml", workdir / "catalog.yaml")
    env = {
        **k8s_cluster.env,
        "PRIMEHUB_CATALOG": str(workdir / "catalog.yaml"),
        "PRIMEHUB_NAMESPACE": e2e_namespace,
        "PRIMEHUB_STATE_DIR": str(workdir),
        "PRIMEHUB_DEMO_PASSWORD": PASSWORD,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    hub = start_hub(
        REPO_ROOT / "jupyterhub_config.py", workdir, hub_ip=k8s_cluster.bridge_ip, env=env
    )
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def pods(k8s_cluster, e2e_namespace):
    """``pods(user=None)``: the pods of the e2e namespace (optionally of one user)."""

    def list_pods(user: str | None = None) -> list[dict]:
        selector = ["-l", f"primehub.io/user={user}"] if user else []
        return k8s_cluster.get("pods", "-n", e2e_namespace, *selector)["items"]

    return list_pods


@pytest.fixture
def stop_all(hub, pods):
    """Stops every server of the named users after the test (and waits for their pods)."""
    users: list[str] = []
    yield users.append
    for name in users:
        model = hub.user(name)
        for server in list(model.get("servers", {})):
            hub.api(
                "DELETE", f"/users/{name}/servers/{server}" if server else f"/users/{name}/server"
            )
        wait_for(lambda n=name: not pods(n), 120, what=f"pods of {name} deleted")


@pytest.fixture
def catalog_file(hub):
    """The hub's live catalog file; restored after the test."""
    path = hub.workdir / "catalog.yaml"
    original = path.read_text()
    yield path
    path.write_text(original)
