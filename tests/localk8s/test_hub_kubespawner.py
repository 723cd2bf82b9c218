"""Real JupyterHub + plain KubeSpawner on the local cluster: spawn, use via the proxy, stop."""

from __future__ import annotations

from pathlib import Path

from localk8s.hubtesting import running_hub
from localk8s.testing import Cluster, wait_for

CONFIG = """
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = "{namespace}"
c.KubeSpawner.image = "localk8s/no-image-needed"
c.KubeSpawner.cmd = ["jupyterhub-singleuser"]
c.KubeSpawner.args = ["--allow-root"]
c.KubeSpawner.start_timeout = 180
c.KubeSpawner.http_timeout = 120
"""


def test_hub_spawns_server_on_cluster_and_stop_deletes_pod(
    k8s_cluster: Cluster, k8s_namespace: str, tmp_path: Path
) -> None:
    config = CONFIG.format(namespace=k8s_namespace)
    with running_hub(
        config, tmp_path / "hub", hub_ip=k8s_cluster.bridge_ip, env=k8s_cluster.env
    ) as hub:
        hub.create_user("alice")
        resp = hub.start_server("alice")
        assert resp.status_code in (201, 202), resp.text
        hub.wait_server("alice")

        pods = k8s_cluster.get("pods", "-n", k8s_namespace)["items"]
        assert [p["metadata"]["name"] for p in pods] == ["jupyter-alice"]
        assert pods[0]["status"]["phase"] == "Running"

        token = hub.user_token("alice")
        status = hub.server_get("alice", "api/status", token)
        assert status.status_code == 200, status.text
        assert "started" in status.json()

        hub.stop_server("alice")
        wait_for(
            lambda: k8s_cluster.pod_gone(k8s_namespace, "jupyter-alice"),
            120,
            what="the server pod to be deleted",
        )
