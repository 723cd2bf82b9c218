"""Real containers: a hub (on the host) spawning into the containerd node of localk8s.

The session runs the local cluster with ``--runtime containerd`` (a real kubelet, containerd and
kube-proxy), builds the ``primehub-notebook`` image here (cached under
``~/.cache/jupyterhub-primehub/images``) and imports it into the node's containerd. The hub runs
the reference ``jupyterhub_config.py`` with ``catalog.yaml``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from localk8s import images, realnode
from localk8s.controlplane import load_settings
from localk8s.hubtesting import HubProcess, start_hub
from localk8s.settings import REPO_ROOT
from localk8s.testing import Cluster, session_cluster, wait_for

HERE = os.path.dirname(__file__)


@pytest.fixture(scope="session")
def k8s_cluster() -> Iterator[Cluster]:
    """The local cluster with the containerd runtime."""
    yield from session_cluster("containerd")


@pytest.fixture(scope="session")
def notebook_image(k8s_cluster: Cluster) -> str:
    """Ref of the primehub-notebook image, built (or cached) and imported into the node."""
    built = images.build(["primehub-notebook"])["primehub-notebook"]
    images.import_into(str(realnode.containerd_socket(load_settings())), built)
    return built.ref


@pytest.fixture(scope="session")
def namespace(k8s_cluster: Cluster) -> Iterator[str]:
    name = k8s_cluster.create_namespace("ctr")
    yield name
    k8s_cluster.delete_namespace(name)


def hub_env(k8s_cluster: Cluster, workdir, namespace: str) -> dict[str, str]:
    return {
        **k8s_cluster.env,
        "PRIMEHUB_CATALOG": str(workdir / "catalog.yaml"),
        "PRIMEHUB_NAMESPACE": namespace,
        "PRIMEHUB_STATE_DIR": str(workdir),
        "PRIMEHUB_DEMO_PASSWORD": "ctr-password",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def write_catalog(workdir, image: str) -> None:
    with open(os.path.join(HERE, "catalog.yaml")) as fh:
        text = fh.read()
    (workdir / "catalog.yaml").write_text(text.replace("NOTEBOOK_IMAGE", image))


# Test knobs on top of the reference config: bob's split server puts the kernel gateway in a pod
# of its own; the notebook (UI) container of split servers uses the same image.
EXTRA_CONFIG = """
c.PrimeHubSpawner.kernel_gateway = "optional"
c.PrimeHubSpawner.kernel_gateway_notebook_image = {image!r}


async def _per_user(spawner, options):
    if spawner.user.name == "bob":
        spawner.kernel_gateway_mode = "pod"
    await spawner.apply_primehub_options(options)


c.PrimeHubSpawner.apply_user_options = _per_user
"""


@pytest.fixture(scope="session")
def hub(k8s_cluster, namespace, notebook_image, tmp_path_factory) -> Iterator[HubProcess]:
    """JupyterHub with the reference config and the containers catalog."""
    workdir = tmp_path_factory.mktemp("ctr-hub")
    write_catalog(workdir, notebook_image)
    config = f"load_subconfig({str(REPO_ROOT / 'jupyterhub_config.py')!r})\n" + EXTRA_CONFIG.format(
        image=notebook_image
    )
    hub = start_hub(
        config, workdir, hub_ip=k8s_cluster.bridge_ip, env=hub_env(k8s_cluster, workdir, namespace)
    )
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def pods(k8s_cluster, namespace):
    """``pods(user)``: the user's pods (servers, gateway pods, job pods) in the namespace."""

    def list_pods(user: str) -> list[dict]:
        return k8s_cluster.get("pods", "-n", namespace, "-l", f"primehub.io/user={user}")["items"]

    return list_pods


@pytest.fixture
def stop_all(hub, pods):
    """Stops every server of the named users after the test (and waits for their pods)."""
    users: list[str] = []
    yield users.append
    for name in users:
        for server in list(hub.user(name).get("servers", {})):
            path = f"/users/{name}/servers/{server}" if server else f"/users/{name}/server"
            hub.api("DELETE", path)
        wait_for(lambda n=name: not pods(n), 120, what=f"pods of {name} deleted")
