"""What users meet on day one with real containers: the image runs, a missing image fails fast,
a cell past the memory limit is OOM-killed by the cgroup, no Kubernetes credentials in the pod,
a kernel gateway pod over the pod network, and a Kubernetes job in the notebook image."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from localk8s.settings import REPO_ROOT
from localk8s.testing import wait_for

pytestmark = pytest.mark.cluster

PASSWORD = "ctr-password"  # PRIMEHUB_DEMO_PASSWORD of the hub fixture

# What the kernel sees of its container.
PROBE = f"""
import json, os, socket

def read(path):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None

print(json.dumps({{
    "hostname": socket.gethostname(),
    "uid": os.getuid(),
    "parent": read(f"/proc/{{os.getppid()}}/cmdline").replace("\\0", " "),
    "memory_limit": read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
    "cpu_quota": read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    "cpu_period": read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    "oom_control": read("/sys/fs/cgroup/memory/memory.oom_control"),
    "service_account_token": os.path.exists(
        "/var/run/secrets/kubernetes.io/serviceaccount/token"),
    "host_checkout_visible": os.path.exists({str(REPO_ROOT / "setup.cfg")!r}),
    "gpu_env": os.environ.get("NVIDIA_VISIBLE_DEVICES"),
}}))
"""


def probe(hub, user: str, token: str) -> dict:
    run = hub.run_code(user, token, PROBE)
    assert not run.died and run.error is None, run
    return json.loads(run.stdout)


def login(hub, user: str) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.get(hub.url + "/hub/login", timeout=30)
    r = s.post(
        hub.url + "/hub/login",
        data={"username": user, "password": PASSWORD, "_xsrf": s.cookies.get("_xsrf")},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return s


def notebook_container(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")


def test_form_spawn_runs_the_notebook_image_with_its_limits(
    hub, pods, stop_all, notebook_image, k8s_cluster
):
    hub.create_user("alice")
    stop_all("alice")
    token = hub.user_token("alice")
    s = login(hub, "alice")
    form = s.get(hub.url + "/hub/spawn", timeout=30)
    assert form.status_code == 200 and "PrimeHub notebook" in form.text
    resp = s.post(
        hub.url + "/hub/spawn",
        data={
            "_xsrf": s.cookies.get("_xsrf"),
            "group": "team",
            "instance_type__team": "small",
            "image__team": "notebook",
        },
        timeout=60,
    )
    assert resp.status_code == 200, resp.text[:2000]
    hub.wait_server("alice", timeout=240)

    (pod,) = [
        p for p in pods("alice") if p["metadata"]["labels"].get("component") != "primehub-job"
    ]
    assert notebook_container(pod)["image"] == notebook_image
    # the kubelet ran it: a containerd container from the image that was imported, not pulled
    (status,) = [c for c in pod["status"]["containerStatuses"] if c["name"] == "notebook"]
    assert status["containerID"].startswith("containerd://")
    assert status["imageID"], status

    # JupyterLab answers through the proxy, with the PrimeHub extension in its page
    lab = hub.server_get("alice", "lab", token)
    assert lab.status_code == 200, lab.text[:500]
    assert "jupyterlab-primehub" in lab.text

    # a kernel runs code inside the container: the pod's hostname, the image's user, the
    # instance type's limits as cgroup limits, and no service-account token
    seen = probe(hub, "alice", token)
    assert seen["hostname"] == pod["metadata"]["name"]
    assert seen["uid"] == 1000
    assert not seen["host_checkout_visible"], "the kernel sees the host's file system"
    assert int(seen["memory_limit"]) == 768 * 1024**2
    assert int(seen["cpu_quota"]) / int(seen["cpu_period"]) == 0.5
    assert seen["service_account_token"] is False


def test_missing_image_fails_fast_naming_the_image(hub, pods, stop_all, k8s_cluster, namespace):
    hub.create_user("dave")
    stop_all("dave")
    token = hub.user_token("dave")
    resp = hub.start_server("dave", {"group": "team", "instance_type": "small", "image": "missing"})
    assert resp.status_code in (202, 503), resp.text
    if resp.status_code == 503:
        message = resp.json()["message"]
    else:
        # the stream ends with the failure, long before the start timeout (300 s)
        events = hub.progress_events("dave", token)
        assert events[-1].get("failed"), events
        message = events[-1]["message"]
    assert "localhost/primehub-no-such-image:1.0" in message
    assert "ErrImagePull" in message or "ImagePullBackOff" in message, message
    # nothing half-created: the pod is removed and the hub shows no server
    wait_for(lambda: not pods("dave"), 60, what="dave's pod removed")
    assert hub.user("dave")["servers"] == {}


def test_cell_past_the_memory_limit_is_oom_killed_and_the_user_is_told(
    hub, pods, stop_all, k8s_cluster
):
    hub.create_user("carol")
    stop_all("carol")
    token = hub.user_token("carol")
    resp = hub.start_server("carol", {"group": "team", "instance_type": "tight"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_server("carol", timeout=240)

    # a gigabyte in a 320Mi container: the cgroup's OOM killer ends the kernel, and the
    # server tells the notebook the kernel died and restarts it (no hang)
    run = hub.run_code("carol", token, "block = bytearray(1024**3)\nprint('survived')")
    assert run.died, run
    assert "survived" not in run.stdout

    # the limit was the cgroup's: it counted the kill; the server itself lives on
    seen = probe(hub, "carol", token)
    assert int(seen["memory_limit"]) == 320 * 1024**2
    oom = dict(line.split() for line in seen["oom_control"].splitlines())
    assert int(oom["oom_kill"]) >= 1, seen["oom_control"]
    assert hub.server_get("carol", "api/status", token).status_code == 200
    (pod,) = pods("carol")
    (status,) = pod["status"]["containerStatuses"]
    assert status["restartCount"] == 0


def test_kernel_gateway_pod_runs_code_in_its_own_container(hub, pods, stop_all):
    hub.create_user("bob")
    stop_all("bob")
    resp = hub.start_server(
        "bob", {"group": "team", "instance_type": "gpu-1", "kernel_gateway": True}
    )
    assert resp.status_code in (201, 202), resp.text
    hub.wait_server("bob", timeout=300)
    token = hub.user_token("bob")

    by_component = {p["metadata"]["name"]: p for p in pods("bob")}
    assert len(by_component) == 2, list(by_component)
    kernel_pod = next(p for name, p in by_component.items() if name.endswith("-kernel"))
    notebook_pod = next(p for name, p in by_component.items() if not name.endswith("-kernel"))
    nb_limits = notebook_container(notebook_pod)["resources"].get("limits") or {}
    assert "nvidia.com/gpu" not in nb_limits
    kernel_limits = kernel_pod["spec"]["containers"][0]["resources"]["limits"]
    assert kernel_limits["nvidia.com/gpu"] == "1"

    # the code runs in the gateway pod's container, reached over the pod network
    seen = probe(hub, "bob", token)
    assert seen["hostname"] == kernel_pod["metadata"]["name"]
    assert "kernelgateway" in seen["parent"], seen
    assert kernel_pod["status"]["podIP"] != notebook_pod["status"]["podIP"]
    assert seen["service_account_token"] is False


def test_kubernetes_job_runs_in_the_notebook_image(
    hub, pods, stop_all, k8s_cluster, namespace, notebook_image
):
    hub.create_user("alice")
    stop_all("alice")
    token = hub.user_token("alice")
    resp = hub.start_server("alice", {"group": "team", "instance_type": "small"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_server("alice", timeout=240)
    headers = {"Authorization": f"token {token}"}
    contents = f"{hub.url}/user/alice/api/contents/"

    # the notebook is saved into the group volume through alice's server, as JupyterLab does
    wait_for(lambda: hub.server_get("alice", "api/contents/team", token).ok, 60, what="~/team link")
    folder = f"ctr-{uuid.uuid4().hex[:6]}"
    made = hub.session.put(contents + f"team/{folder}", json={"type": "directory"}, headers=headers)
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
                "source": "import os, socket\n"
                "print('ran on', os.environ['INSTANCE_TYPE'], 'in', socket.gethostname())",
                "outputs": [],
                "execution_count": None,
            }
        ],
    }
    put = hub.session.put(
        contents + f"team/{folder}/report.ipynb",
        json={"type": "notebook", "format": "json", "content": nb},
        headers=headers,
    )
    assert put.status_code in (200, 201), put.text

    jobs = hub.url + "/services/primehub-jobs/api/jobs"
    submitted = hub.session.post(
        jobs,
        json={"group": "team", "path": f"{folder}/report.ipynb", "instanceType": "small"},
        headers=headers,
        timeout=30,
    )
    assert submitted.status_code == 201, submitted.text
    job = submitted.json()

    def finished() -> dict | None:
        got = hub.session.get(f"{jobs}/{job['id']}", headers=headers, timeout=30).json()
        return got if got["status"] in ("succeeded", "failed", "cancelled") else None

    done = wait_for(finished, 300, interval=1, what=f"job {job['id']} finished")
    log = hub.session.get(f"{jobs}/{job['id']}/log", headers=headers, timeout=30).text
    assert done["status"] == "succeeded", (done, log)

    (job_pod,) = k8s_cluster.get("pods", "-n", namespace, "-l", f"primehub.io/job={job['id']}")[
        "items"
    ]
    assert job_pod["spec"]["containers"][0]["image"] == notebook_image
    assert job_pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    assert f"ran on small in {job_pod['metadata']['name']}" in log

    # the output notebook is next to the source, in the group volume alice's server shows
    out = hub.server_get("alice", f"api/contents/team/{done['outputPath']}", token)
    assert out.status_code == 200, out.text
    assert done["outputPath"].startswith(f"{folder}/")
    assert "ran on small" in json.dumps(out.json()["content"])

    # a job whose image does not exist waits saying why (the real runtime's pull error), and
    # its cancel frees everything (the preparing timeout's end is tested in tests/e2e)
    bad = hub.session.post(
        jobs,
        json={
            "group": "team",
            "path": f"{folder}/report.ipynb",
            "instanceType": "small",
            "image": "missing",
        },
        headers=headers,
        timeout=30,
    )
    assert bad.status_code == 201, bad.text
    bad_id = bad.json()["id"]

    def pull_failure() -> dict | None:
        got = hub.session.get(f"{jobs}/{bad_id}", headers=headers, timeout=30).json()
        return got if "Image pull failed" in (got.get("reason") or "") else None

    waiting = wait_for(pull_failure, 180, interval=1, what="the job's image pull failure")
    assert waiting["status"] == "preparing", waiting
    assert "primehub-no-such-image" in waiting["reason"], waiting
    cancelled = hub.session.post(f"{jobs}/{bad_id}/cancel", headers=headers, timeout=30)
    assert cancelled.status_code < 300, cancelled.text
    wait_for(
        lambda: (
            not k8s_cluster.get("pods", "-n", namespace, "-l", f"primehub.io/job={bad_id}")["items"]
        ),
        120,
        what="the cancelled job's pod deleted",
    )
    k8s_cluster.kubectl("delete", "jobs", "-n", namespace, "-l", "component=primehub-job")
