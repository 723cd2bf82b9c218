"""The local cluster behaves like Kubernetes for what the project relies on."""

from __future__ import annotations

import json
import secrets
import subprocess
import urllib.request
from pathlib import Path

import pytest

from localk8s import network
from localk8s.testing import Cluster, wait_for

# Pod IPs are local: never go through a proxy configured in the environment.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _local_only(cluster: Cluster) -> None:
    if cluster.external:
        pytest.skip("inspects the host running the local cluster's node agent")


def _processes_with(marker: str) -> list[int]:
    """PIDs whose command line contains ``marker``."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                out.append(int(entry.name))
    return out


def test_two_containers_share_localhost_pvc_and_emptydir(
    k8s_cluster: Cluster, k8s_namespace: str
) -> None:
    _local_only(k8s_cluster)
    ns = k8s_namespace
    marker = f"marker-{secrets.token_hex(4)}"
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        ns,
    )
    client_script = (
        "import time, urllib.request\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        body = urllib.request.urlopen('http://127.0.0.1:8080/msg.txt').read()\n"
        "        break\n"
        "    except OSError:\n"
        "        time.sleep(0.2)\n"
        "open('/data/fetched.txt', 'wb').write(body)\n"
    )
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "duo"},
            "spec": {
                "restartPolicy": "Never",
                "volumes": [
                    {"name": "scratch", "emptyDir": {}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                ],
                "containers": [
                    {
                        # Serves the emptyDir on the pod-private localhost only.
                        "name": "server",
                        "image": "none",
                        "command": [
                            "sh",
                            "-c",
                            f"echo {marker} > /scratch/msg.txt; "
                            "exec python -m http.server 8080 --bind 127.0.0.1 "
                            "--directory /scratch",
                        ],
                        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                    },
                    {
                        # Fetches it over localhost into the PVC, then serves the PVC on the pod IP.
                        "name": "client",
                        "image": "none",
                        "command": [
                            "sh",
                            "-c",
                            'python -c "$SCRIPT" && exec python -m '
                            "http.server 8081 --directory /data",
                        ],
                        "env": [{"name": "SCRIPT", "value": client_script}],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        "readinessProbe": {
                            "httpGet": {"path": "/fetched.txt", "port": 8081},
                            "periodSeconds": 1,
                        },
                    },
                ],
            },
        },
        ns,
    )
    pod = k8s_cluster.wait_pod(
        ns,
        "duo",
        lambda p: (
            p["status"].get("phase") == "Running"
            and all(c["ready"] for c in p["status"].get("containerStatuses", [])[1:])
        ),
        what="client container ready",
    )
    ip = pod["status"]["podIP"]
    with NO_PROXY.open(f"http://{ip}:8081/fetched.txt", timeout=10) as resp:
        assert resp.read().decode().strip() == marker

    # The server is only on the pod's localhost: not reachable on the pod IP from the host.
    with pytest.raises(OSError):
        NO_PROXY.open(f"http://{ip}:8080/msg.txt", timeout=3)

    pvc = k8s_cluster.get("pvc", "data", "-n", ns)
    assert pvc["status"]["phase"] == "Bound"
    pv = k8s_cluster.get("pv", pvc["spec"]["volumeName"])
    pv_dir = Path(pv["spec"]["hostPath"]["path"])
    assert (pv_dir / "fetched.txt").read_text().strip() == marker

    netns = network.netns_name(pod["metadata"]["uid"])
    assert netns in network.list_pod_netns()
    assert _processes_with(marker)

    k8s_cluster.kubectl("delete", "pod", "duo", "-n", ns, "--wait=true")
    assert k8s_cluster.pod_gone(ns, "duo")
    assert netns not in network.list_pod_netns()
    assert _processes_with(marker) == []
    # The volume outlives the pod; deleting the claim deletes the volume and its directory.
    assert (pv_dir / "fetched.txt").read_text().strip() == marker
    k8s_cluster.kubectl("delete", "pvc", "data", "-n", ns, "--wait=true")
    pv_name = pv["metadata"]["name"]
    wait_for(
        lambda: "NotFound" in k8s_cluster.kubectl("get", "pv", pv_name, check=False).stderr,
        what="the released volume to be deleted",
    )
    assert not pv_dir.exists()


def _job(name: str, script: str) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "main", "image": "none", "command": ["sh", "-c", script]}
                    ],
                }
            },
        },
    }


def _job_condition(cluster: Cluster, ns: str, name: str) -> str | None:
    job = cluster.get("job", name, "-n", ns)
    for cond in job.get("status", {}).get("conditions") or []:
        if cond["status"] == "True" and cond["type"] in ("Complete", "Failed"):
            return cond["type"]
    return None


def test_jobs_succeed_and_fail_with_exit_code(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    ns = k8s_namespace
    k8s_cluster.apply(_job("ok", "echo all good"), ns)
    k8s_cluster.apply(_job("bad", "echo failing; exit 3"), ns)
    assert wait_for(lambda: _job_condition(k8s_cluster, ns, "ok"), what="job ok") == "Complete"
    assert wait_for(lambda: _job_condition(k8s_cluster, ns, "bad"), what="job bad") == "Failed"
    assert k8s_cluster.get("job", "ok", "-n", ns)["status"]["succeeded"] == 1

    pods = k8s_cluster.get("pods", "-n", ns, "-l", "job-name=bad")["items"]
    assert len(pods) == 1
    assert pods[0]["status"]["phase"] == "Failed"
    terminated = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"


def test_pod_over_gpu_capacity_stays_pending(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    node = k8s_cluster.get("nodes")["items"][0]
    gpus = int(node["status"]["allocatable"].get("nvidia.com/gpu", "0"))
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "greedy"},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "none",
                        "command": ["sleep", "600"],
                        "resources": {"limits": {"nvidia.com/gpu": str(gpus + 1)}},
                    }
                ],
            },
        },
        k8s_namespace,
    )
    event = wait_for(
        lambda: [
            e
            for e in k8s_cluster.events_for(k8s_namespace, "greedy")
            if e["reason"] == "FailedScheduling"
        ],
        what="FailedScheduling event",
    )[0]
    assert "nvidia.com/gpu" in event["message"]
    pod = k8s_cluster.pod(k8s_namespace, "greedy")
    assert pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")


def test_rbac_forbids_service_account_without_role(
    k8s_cluster: Cluster, k8s_namespace: str
) -> None:
    ns = k8s_namespace
    k8s_cluster.kubectl("create", "serviceaccount", "nobody", "-n", ns)
    secret_name = wait_for(
        lambda: (k8s_cluster.get("sa", "nobody", "-n", ns).get("secrets") or [{}])[0].get("name"),
        what="service account token",
    )
    secret = k8s_cluster.get("secret", secret_name, "-n", ns)
    import base64

    token = base64.b64decode(secret["data"]["token"]).decode()
    denied = k8s_cluster.kubectl("get", "pods", "-n", ns, f"--token={token}", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()

    # With a role it is allowed: the 403 above came from RBAC, not from a broken token.
    k8s_cluster.kubectl("create", "role", "pod-reader", "--verb=list", "--resource=pods", "-n", ns)
    k8s_cluster.kubectl(
        "create",
        "rolebinding",
        "nobody-reads",
        "--role=pod-reader",
        f"--serviceaccount={ns}:nobody",
        "-n",
        ns,
    )
    wait_for(
        lambda: (
            k8s_cluster.kubectl("get", "pods", "-n", ns, f"--token={token}", check=False).returncode
            == 0
        ),
        30,
        what="role binding to take effect",
    )


def test_kubectl_logs_of_finished_pod(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    ns = k8s_namespace
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "talker"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": "none",
                        "command": [
                            "sh",
                            "-c",
                            "echo line one; echo line two >&2; echo $(GREETING)",
                        ],
                        "env": [
                            {
                                "name": "POD_NAME",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                            },
                            {"name": "GREETING", "value": "hi from $(POD_NAME)"},
                        ],
                    }
                ],
            },
        },
        ns,
    )
    k8s_cluster.wait_pod(
        ns, "talker", lambda p: p["status"].get("phase") == "Succeeded", what="phase Succeeded"
    )
    logs = k8s_cluster.kubectl("logs", "talker", "-n", ns).stdout
    assert logs.splitlines() == ["line one", "line two", "hi from talker"]
    tail = k8s_cluster.kubectl("logs", "talker", "-n", ns, "--tail=1").stdout
    assert tail.splitlines() == ["hi from talker"]


def test_status_json_describes_cluster(k8s_cluster: Cluster) -> None:
    _local_only(k8s_cluster)
    out = subprocess.run(
        [".venv/bin/python", "-m", "localk8s", "status", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    info = json.loads(out.stdout)
    assert info["running"] and info["node_ready"]
    assert info["kubeconfig"] == str(k8s_cluster.kubeconfig)
    assert info["bridge_ip"] == k8s_cluster.bridge_ip
