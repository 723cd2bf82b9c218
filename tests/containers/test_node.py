"""The containerd node itself: what ``status`` says, Services through kube-proxy, pod logs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from localk8s.settings import REPO_ROOT
from localk8s.testing import wait_for

pytestmark = pytest.mark.cluster


def test_status_says_the_runtime_and_the_node_is_containerd(k8s_cluster):
    out = subprocess.run(
        [sys.executable, "-m", "localk8s", "status", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    status = json.loads(out.stdout)
    assert status["runtime"] == "containerd"
    assert status["components"]["kubelet"] and status["components"]["containerd"]
    node = k8s_cluster.get("node", status["node_name"])
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "2"


def test_a_pod_reaches_a_service_by_its_environment_variables(
    k8s_cluster, k8s_namespace, notebook_image
):
    ns = k8s_namespace
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": notebook_image,
                        "command": ["python3", "-m", "http.server", "8080"],
                        "ports": [{"containerPort": 8080}],
                        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                    }
                ]
            },
        },
        ns,
    )
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        ns,
    )
    wait_for(
        lambda: k8s_cluster.get("endpoints", "web", "-n", ns).get("subsets"),
        120,
        what="endpoints of Service web",
    )
    cluster_ip = k8s_cluster.get("service", "web", "-n", ns)["spec"]["clusterIP"]
    # a pod created after the Service gets WEB_SERVICE_HOST/PORT and reaches the other pod
    # through the ClusterIP (kube-proxy's iptables rules, across the bridge)
    # kube-proxy programs the Service's rules a moment after the endpoints appear (until then
    # its REJECT rule refuses connections), so the client retries refusals as real clients do
    client = (
        "import os, time, urllib.error, urllib.request\n"
        "host, port = os.environ['WEB_SERVICE_HOST'], os.environ['WEB_SERVICE_PORT']\n"
        "for attempt in range(60):\n"
        "    try:\n"
        "        status = urllib.request.urlopen(f'http://{host}:{port}/', timeout=20).status\n"
        "        break\n"
        "    except urllib.error.URLError as e:\n"
        "        if not isinstance(e.reason, ConnectionRefusedError) or attempt == 59:\n"
        "            raise\n"
        "        time.sleep(0.5)\n"
        "print(host, port, status)\n"
    )
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "client"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "client",
                        "image": notebook_image,
                        "command": ["python3", "-c", client],
                    }
                ],
            },
        },
        ns,
    )
    pod = k8s_cluster.wait_pod(
        ns,
        "client",
        lambda p: p["status"].get("phase") in ("Succeeded", "Failed"),
        what="client finished",
    )
    log = k8s_cluster.kubectl("logs", "client", "-n", ns).stdout
    assert pod["status"]["phase"] == "Succeeded", log
    assert log.split() == [cluster_ip, "80", "200"]
