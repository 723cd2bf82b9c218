"""What users and admins check of a hub deployed inside the cluster with ``deploy/``."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

from localk8s import netpol
from localk8s.settings import REPO_ROOT
from localk8s.testing import wait_for

from .conftest import login, wait_ready

pytestmark = pytest.mark.cluster

PROBE = """
import json, os, socket
print(json.dumps({
    "hostname": socket.gethostname(),
    "parent": open(f"/proc/{os.getppid()}/cmdline").read().replace("\\0", " "),
    "token": os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token"),
}))
"""


def form_spawn(hub, user: str, instance_type: str, kernel_gateway: bool = False) -> None:
    s = login(hub, user)
    form = s.get(hub.url + "/hub/spawn", timeout=30)
    assert form.status_code == 200 and "PrimeHub notebook" in form.text, form.text[:500]
    data = {
        "_xsrf": s.cookies.get("_xsrf"),
        "group": "team",
        "instance_type__team": instance_type,
        "image__team": "notebook",
    }
    if kernel_gateway:
        data["kernel_gateway"] = "on"
    resp = s.post(hub.url + "/hub/spawn", data=data, timeout=120)
    assert resp.status_code == 200, resp.text[:2000]
    wait_ready(hub, user)


def test_form_spawn_lab_and_kernel_in_the_deployed_hub(hub, pods, stop_all):
    hub.create_user("alice")
    stop_all("alice")
    form_spawn(hub, "alice", "small")
    token = hub.user_token("alice")
    lab = hub.server_get("alice", "lab", token)
    assert lab.status_code == 200 and "jupyterlab-primehub" in lab.text
    run = hub.run_code("alice", token, PROBE)
    assert run.error is None and not run.died, run
    seen = json.loads(run.stdout)
    (pod,) = pods("alice")
    assert seen["hostname"] == pod["metadata"]["name"]
    assert seen["token"] is False


def test_kernel_gateway_pod_mode_in_the_deployed_hub(hub, pods, stop_all, seen_labels):
    hub.create_user("bob")
    stop_all("bob")
    form_spawn(hub, "bob", "gpu-1", kernel_gateway=True)
    token = hub.user_token("bob")
    names = {p["metadata"]["name"]: p for p in pods("bob")}
    kernel = next(p for n, p in names.items() if n.endswith("-kernel"))
    notebook = next(p for n, p in names.items() if not n.endswith("-kernel"))
    seen_labels["gateway"] = kernel["metadata"]["labels"]
    seen_labels["notebook"] = notebook["metadata"]["labels"]
    # the hub patched the gateway pod's owner: it goes with the notebook pod
    assert kernel["metadata"]["ownerReferences"][0]["kind"] == "Pod"
    run = hub.run_code("bob", token, PROBE)
    assert run.error is None and not run.died, run
    seen = json.loads(run.stdout)
    assert seen["hostname"] == kernel["metadata"]["name"]
    assert "kernelgateway" in seen["parent"]


def save_notebook(hub, token: str, path: str, source: str) -> None:
    headers = {"Authorization": f"token {token}"}
    base = f"{hub.url}/user/alice/api/contents/"
    wait_for(lambda: hub.server_get("alice", "api/contents/team", token).ok, 60, what="~/team")
    folder = path.rsplit("/", 1)[0]
    made = hub.session.put(base + folder, json={"type": "directory"}, headers=headers, timeout=30)
    assert made.status_code in (200, 201), made.text
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": [
            {
                "cell_type": "code",
                "id": "c1",
                "metadata": {},
                "source": source,
                "outputs": [],
                "execution_count": None,
            }
        ],
    }
    put = hub.session.put(
        base + path,
        json={"type": "notebook", "format": "json", "content": nb},
        headers=headers,
        timeout=30,
    )
    assert put.status_code in (200, 201), put.text


def lab_jobs(hub, token: str, suffix: str = "", **kwargs):
    """The single-user server's jobs API (what the JupyterLab extension calls)."""
    return hub.session.request(
        kwargs.pop("method", "GET"),
        f"{hub.url}/user/alice/primehub/api/jobs{suffix}",
        headers={"Authorization": f"token {token}"},
        timeout=60,
        **kwargs,
    )


def wait_job(hub, token: str, job_id: str, timeout: float = 300) -> dict:
    def final() -> dict | None:
        job = lab_jobs(hub, token, f"/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(final, timeout, interval=1, what=f"job {job_id} finished")


@pytest.fixture(scope="module")
def alice_server(hub):
    hub.create_user("alice")
    if not hub.user("alice").get("servers", {}).get(""):
        form_spawn(hub, "alice", "small")
    yield hub.user_token("alice")
    hub.api("DELETE", "/users/alice/server")


def test_submit_notebook_as_job_on_kubernetes_with_an_instance_type(
    hub, alice_server, k8s_cluster, deployment, seen_labels
):
    token = alice_server
    folder = f"team/incl-{uuid.uuid4().hex[:6]}"
    save_notebook(
        hub, token, f"{folder}/report.ipynb", "import os\nprint('on', os.environ['INSTANCE_TYPE'])"
    )
    resp = lab_jobs(
        hub,
        token,
        method="POST",
        json={"path": f"{folder}/report.ipynb", "backend": "kubernetes", "instanceType": "small"},
    )
    assert resp.status_code == 201, resp.text
    job = wait_job(hub, token, resp.json()["id"])
    log = lab_jobs(hub, token, f"/{job['id']}/log").text
    assert job["status"] == "succeeded", (job, log)
    assert "on small" in log
    out = hub.server_get("alice", f"api/contents/{job['outputPath']}", token)
    assert out.status_code == 200, (job, out.text)
    (pod,) = k8s_cluster.get("pods", "-n", deployment["namespace"], "-l", "component=primehub-job")[
        "items"
    ]
    seen_labels["job"] = pod["metadata"]["labels"]


def can_i(cluster, namespace: str, account: str, *args: str) -> bool:
    proc = cluster.kubectl(
        "auth", "can-i", *args, f"--as=system:serviceaccount:{namespace}:{account}", check=False
    )
    return proc.stdout.strip() == "yes"


def test_rbac_is_least_privilege(k8s_cluster, deployment):
    ns = deployment["namespace"]
    # the hub: servers' pods and volumes in its namespace, nothing else
    assert can_i(k8s_cluster, ns, "hub", "create", "pods", "-n", ns)
    assert not can_i(k8s_cluster, ns, "hub", "get", "secrets", "-n", ns)
    assert not can_i(k8s_cluster, ns, "hub", "list", "pods", "-n", "default")
    assert not can_i(k8s_cluster, ns, "hub", "create", "jobs.batch", "-n", ns)
    assert not can_i(k8s_cluster, ns, "hub", "delete", "persistentvolumeclaims", "-n", ns)
    # the jobs service: Jobs, not pods
    assert can_i(k8s_cluster, ns, "primehub-jobs", "create", "jobs.batch", "-n", ns)
    assert not can_i(k8s_cluster, ns, "primehub-jobs", "create", "pods", "-n", ns)
    assert not can_i(k8s_cluster, ns, "primehub-jobs", "get", "secrets", "-n", ns)
    assert not can_i(k8s_cluster, ns, "primehub-jobs", "create", "jobs.batch", "-n", "default")
    # the proxy and the servers have no credentials at all
    proxy = k8s_cluster.get("pods", "-n", ns, "-l", "component=proxy")["items"][0]
    assert proxy["spec"]["automountServiceAccountToken"] is False


def test_catalog_edit_applies_without_restart_and_broken_edit_is_503(
    hub, k8s_cluster, deployment, pods, stop_all
):
    ns = deployment["namespace"]
    overlay = deployment["overlay"]
    hub.create_user("carol")
    stop_all("carol")
    token = hub.user_token("carol")
    original = (overlay / "catalog.yaml").read_text()
    hub_pod = k8s_cluster.get("pods", "-n", ns, "-l", "component=hub")["items"][0]

    def instance_types() -> set[str]:
        resp = hub.api("GET", "/primehub/groups", token=token)
        return {it["name"] for g in resp.json()["groups"] for it in g["instanceTypes"]}

    try:
        catalog = yaml.safe_load(original)
        catalog["instanceTypes"]["tiny"] = {"displayName": "Tiny", "cpu": 0.2, "memory": "512Mi"}
        catalog["groups"]["team"]["instanceTypes"].append("tiny")
        (overlay / "catalog.yaml").write_text(yaml.safe_dump(catalog))
        k8s_cluster.kubectl("apply", "-k", str(overlay))
        wait_for(lambda: "tiny" in instance_types(), 120, what="the new instance type offered")

        (overlay / "catalog.yaml").write_text("groups: {team: {instanceTypes: [no-such-type]}}\n")
        k8s_cluster.kubectl("apply", "-k", str(overlay))
        wait_for(
            lambda: hub.api("GET", "/primehub/groups", token=token).status_code == 503,
            120,
            what="the hub sees the broken catalog",
        )
        resp = hub.start_server("carol", {"group": "team", "instance_type": "small"})
        assert resp.status_code in (202, 503), resp.text
        if resp.status_code == 503:
            message = resp.json()["message"]
        else:  # the chart's slow_spawn_timeout 0: the spawn page's progress says it
            message = hub.progress_events("carol", token)[-1]["message"]
        assert "the catalog has an error" in message
        assert hub.api("GET", "/").status_code == 200  # the hub keeps serving
        assert not pods("carol")
    finally:
        (overlay / "catalog.yaml").write_text(original)
        k8s_cluster.kubectl("apply", "-k", str(overlay))
    # no restart of the hub for any of it
    again = k8s_cluster.get("pods", "-n", ns, "-l", "component=hub")["items"][0]
    assert again["metadata"]["uid"] == hub_pod["metadata"]["uid"]
    assert again["status"]["containerStatuses"][0]["restartCount"] == 0


@pytest.mark.restarts_cluster  # run late: it takes the hub down for a while
def test_hub_pod_deleted_servers_stay_and_a_running_job_finishes(
    hub, alice_server, k8s_cluster, deployment
):
    ns = deployment["namespace"]
    token = alice_server
    folder = f"team/restart-{uuid.uuid4().hex[:6]}"
    save_notebook(hub, token, f"{folder}/slow.ipynb", "import time\ntime.sleep(25)\nprint('done')")
    resp = lab_jobs(
        hub,
        token,
        method="POST",
        json={"path": f"{folder}/slow.ipynb", "backend": "kubernetes", "instanceType": "small"},
    )
    assert resp.status_code == 201, resp.text
    job_id = resp.json()["id"]
    wait_for(
        lambda: lab_jobs(hub, token, f"/{job_id}").json()["status"] == "running",
        180,
        what="job running",
    )
    old = k8s_cluster.get("pods", "-n", ns, "-l", "component=hub")["items"][0]
    k8s_cluster.kubectl("delete", "pod", old["metadata"]["name"], "-n", ns)
    # while the hub is away, alice's server still answers through the proxy
    assert hub.server_get("alice", "api/status", token).status_code == 200
    k8s_cluster.kubectl(
        "rollout", "status", "deployment/hub", "-n", ns, "--timeout=180s", timeout=200
    )
    wait_for(lambda: hub.api("GET", "/").status_code == 200, 120, what="the new hub answers")
    assert hub.server_get("alice", "api/status", token).status_code == 200
    job = wait_job(hub, token, job_id)
    assert job["status"] == "succeeded", job


def test_network_policies_admit_exactly_the_allowed_flows(k8s_cluster, deployment, seen_labels):
    ns = deployment["namespace"]
    policies = list(
        yaml.safe_load_all((REPO_ROOT / "deploy" / "network-policies.yaml").read_text())
    )

    def labels(component: str) -> dict[str, str]:
        if component in seen_labels:  # pods of earlier tests, as the spawner and jobs made them
            return seen_labels[component]
        found = k8s_cluster.get("pods", "-n", ns, "-l", f"component={component}")["items"]
        assert found, f"no {component} pod to take labels from"
        return found[0]["metadata"]["labels"]

    roles = {
        "hub": labels("hub"),
        "proxy": labels("proxy"),
        "jobs": labels("primehub-jobs"),
        "notebook": labels("notebook"),
        "gateway": labels("gateway"),
        "job": labels("job"),
        "stranger": {"app": "something-else"},
    }
    ports = {"hub": 8081, "proxy": 8000, "jobs": 8090, "notebook": 8888, "gateway": 8889}
    expected = {
        ("hub", "proxy-api"),
        ("hub", "notebook"),
        ("proxy", "notebook"),
        ("proxy", "hub"),
        ("proxy", "jobs"),
        ("notebook", "hub"),
        ("notebook", "jobs"),
        ("notebook", "gateway"),
        ("job", "hub"),
        ("job", "jobs"),
        ("jobs", "hub"),
        # a gateway pod runs the same user code as the server's terminals, with its labels
        ("gateway", "hub"),
    }
    for src, src_labels in roles.items():
        for dst, port in ports.items():
            ok = netpol.allowed(policies, src_labels, roles[dst], port)
            # users reach the proxy from anywhere
            want = (src, dst) in expected or dst == "proxy"
            assert ok == want, f"{src} -> {dst}:{port} allowed={ok}"
        api_ok = netpol.allowed(policies, src_labels, roles["proxy"], 8001)
        assert api_ok == ((src, "proxy-api") in expected), f"{src} -> proxy API"
    # job pods serve nothing
    assert not netpol.allowed(policies, roles["notebook"], roles["job"], 8888)
