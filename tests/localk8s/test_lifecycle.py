"""``down`` leaves nothing behind, ``up`` twice starts one cluster, and pods never stay Running
with dead processes across a node restart."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from localk8s import controlplane, network
from localk8s.processes import ProcessTable, start_time
from localk8s.testing import Cluster, wait_for

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.restarts_cluster


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localk8s", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_down_up_cycle_leaves_nothing_and_fails_orphaned_pods(
    k8s_cluster: Cluster, k8s_namespace: str
) -> None:
    if k8s_cluster.external or not k8s_cluster.started_here or k8s_cluster.used_by_others():
        pytest.skip("restarts the cluster: only when this test session started it and is alone")
    settings = controlplane.load_settings(k8s_cluster.state_dir)
    marker = f"lifecycle-{secrets.token_hex(4)}"
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sleeper"},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "none",
                        "command": ["sh", "-c", f"echo {marker}; exec sleep 3600"],
                    }
                ]
            },
        },
        k8s_namespace,
    )
    k8s_cluster.wait_pod(
        k8s_namespace,
        "sleeper",
        lambda p: p["status"].get("phase") == "Running",
        what="phase Running",
    )

    again = _cli("up")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout

    records = ProcessTable(settings.state_dir).records()
    assert set(records) == set(controlplane.COMPONENTS)

    down = _cli("down")
    assert down.returncode == 0, down.stderr
    for name, rec in records.items():
        assert start_time(rec["pid"]) != rec["start"], f"{name} still runs"
    assert network.list_pod_netns() == []
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1
    for port in (settings.api_port, settings.etcd_client_port, settings.kubelet_port):
        assert not _port_open(port), port
    assert _cli("status").returncode != 0

    up = _cli("up")
    # `up` from the command line hands the cluster to a person; give it back to the test sessions.
    assert k8s_cluster.leases is not None
    k8s_cluster.leases.marker.write_text("test_lifecycle")
    assert up.returncode == 0, up.stderr + up.stdout
    # The pod's processes died with the node: it is Failed, never Running with nothing behind it.
    pod = k8s_cluster.wait_pod(
        k8s_namespace,
        "sleeper",
        lambda p: p["status"].get("phase") == "Failed",
        what="phase Failed after the node restart",
    )
    assert pod["status"]["reason"] in ("NodeShutdown", "NodeAgentRestarted")
    wait_for(lambda: controlplane.node_ready(settings), 60, what="node Ready again")


def test_killed_node_agent_takes_its_pods_and_restart_fails_them(
    k8s_cluster: Cluster, k8s_namespace: str
) -> None:
    if k8s_cluster.external or not k8s_cluster.started_here or k8s_cluster.used_by_others():
        pytest.skip("restarts the cluster: only when this test session started it and is alone")
    settings = controlplane.load_settings(k8s_cluster.state_dir)
    marker = f"orphan-{secrets.token_hex(4)}"
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "orphan"},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "none",
                        "command": ["sh", "-c", f"echo {marker}; exec sleep 3600"],
                    }
                ]
            },
        },
        k8s_namespace,
    )
    k8s_cluster.wait_pod(
        k8s_namespace,
        "orphan",
        lambda p: p["status"].get("phase") == "Running",
        what="phase Running",
    )
    agent = ProcessTable(settings.state_dir).records()["node-agent"]["pid"]
    os.kill(agent, signal.SIGKILL)
    # The containers die with the agent (no orphaned processes keep running unsupervised).
    wait_for(
        lambda: subprocess.run(["pgrep", "-f", marker]).returncode == 1,
        30,
        what="the pod's processes to exit",
    )

    up = _cli("up")
    assert k8s_cluster.leases is not None
    k8s_cluster.leases.marker.write_text("test_lifecycle")
    assert up.returncode == 0, up.stderr + up.stdout
    pod = k8s_cluster.wait_pod(
        k8s_namespace,
        "orphan",
        lambda p: p["status"].get("phase") == "Failed",
        what="phase Failed after the agent restart",
    )
    assert pod["status"]["reason"] == "NodeAgentRestarted"
    assert network.list_pod_netns() == []
