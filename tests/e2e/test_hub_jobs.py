"""Notebook jobs on Kubernetes through the primehub-jobs hub service, on a real hub and cluster.

The notebooks live in the group volume of ``team`` (written through alice's own server, as a
user would), the service runs them as Kubernetes Jobs, the real Job controller runs the pods.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from localk8s.testing import WaitTimeout, wait_for
from primehub_spawner.user_options import NO_GROUP_MESSAGE

pytestmark = pytest.mark.cluster

FINAL = ("succeeded", "failed", "cancelled")


def notebook(*sources: str, parameters: str | None = None) -> dict:
    cells = []
    if parameters is not None:
        cells.append(_cell(parameters, tags=["parameters"]))
    cells += [_cell(src) for src in sources]
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": cells,
    }


def _cell(source: str, tags: list[str] | None = None) -> dict:
    return {
        "cell_type": "code",
        "id": uuid.uuid4().hex[:8],
        "metadata": {"tags": tags or []},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }


class Jobs:
    """A user's client of the service (through the proxy, with the user's own token)."""

    def __init__(self, hub, token: str) -> None:
        self.hub = hub
        self.base = hub.url + "/services/primehub-jobs/api"
        self.headers = {"Authorization": f"token {token}"}

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.hub.session.request(
            method, self.base + path, headers=self.headers, timeout=30, **kwargs
        )

    def submit(self, **body) -> dict:
        resp = self.call("POST", "/jobs", json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def job(self, job_id: str) -> dict:
        resp = self.call("GET", f"/jobs/{job_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait(self, job_id: str, states: tuple[str, ...], timeout: float = 240) -> dict:
        return wait_for(
            lambda: (j := self.job(job_id))["status"] in states and j,
            timeout,
            what=f"job {job_id} {'/'.join(states)}",
        )

    def log(self, job_id: str) -> str:
        resp = self.call("GET", f"/jobs/{job_id}/log")
        assert resp.status_code == 200, resp.text
        return resp.text


def volume_dir(k8s_cluster, namespace: str, claim: str) -> Path:
    """Where the local provisioner keeps a claim's volume on this machine (the node)."""
    pvc = k8s_cluster.get("pvc", claim, "-n", namespace)
    pv = k8s_cluster.get("pv", pvc["spec"]["volumeName"])
    return Path(pv["spec"]["hostPath"]["path"])


@pytest.fixture(scope="module", autouse=True)
def remove_job_pods(hub, k8s_cluster, e2e_namespace):
    """Leave no job pods behind: other tests count the pods of alice and bob."""
    yield
    k8s_cluster.kubectl("delete", "jobs", "-n", e2e_namespace, "-l", "component=primehub-job")

    def gone() -> bool:
        selector = ["-l", "component=primehub-job"]
        return not k8s_cluster.get("pods", "-n", e2e_namespace, *selector)["items"]

    wait_for(gone, 120, what="job pods deleted")


@pytest.fixture(scope="module")
def alice(hub, k8s_cluster, e2e_namespace):
    """alice's server (group team, CPU) - it writes the notebooks into the group volume."""
    hub.create_user("alice")
    token = hub.user_token("alice")
    resp = hub.start_server("alice", {"group": "team", "instance_type": "cpu-1"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_server("alice")
    # ~/team -> /project/team, what the pod's postStart hook makes on a real node (localk8s
    # runs no lifecycle hooks)
    home = volume_dir(k8s_cluster, e2e_namespace, "claim-alice")
    if not (home / "team").is_symlink():
        (home / "team").symlink_to("/project/team")
    yield token
    hub.stop_server("alice")


def put_notebook(hub, token: str, path: str, nb: dict) -> None:
    """Save a notebook through the user's server (contents API), as JupyterLab does."""
    url = f"{hub.url}/user/alice/api/contents/{path}"
    group, folder = path.split("/")[0], path.rsplit("/", 1)[0]
    # the home symlink to the group volume comes from the pod's postStart hook
    wait_for(lambda: get_contents(hub, token, group).ok, 60, what=f"~/{group} in the server")
    made = hub.session.put(
        f"{hub.url}/user/alice/api/contents/{folder}",
        json={"type": "directory"},
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert made.status_code in (200, 201), made.text
    resp = hub.session.put(
        url,
        json={"type": "notebook", "format": "json", "content": nb},
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert resp.status_code in (200, 201), resp.text


def get_contents(hub, token: str, path: str) -> requests.Response:
    return hub.server_get("alice", f"api/contents/{path}", token)


def job_pod(k8s_cluster, namespace: str, job_id: str) -> dict | None:
    items = k8s_cluster.get("pods", "-n", namespace, "-l", f"primehub.io/job={job_id}")["items"]
    return items[0] if items else None


def test_gpu_job_with_parameters_runs_in_the_group_volume(hub, alice, k8s_cluster, e2e_namespace):
    put_notebook(
        hub,
        alice,
        "team/e2e-jobs/train.ipynb",
        notebook(
            "import os\n"
            "print('alpha is', alpha, 'on', os.environ['INSTANCE_TYPE'], 'in', os.getcwd())\n"
            "open(os.path.join(os.environ['PRIMEHUB_JOB_ARTIFACTS'], 'result.txt'), 'w')"
            ".write(str(alpha * 2))",
            parameters="alpha = 1",
        ),
    )
    jobs = Jobs(hub, alice)
    job = jobs.submit(
        group="team", path="e2e-jobs/train.ipynb", instanceType="gpu-1", parameters={"alpha": 21}
    )
    assert job["status"] == "pending" and job["backend"] == "kubernetes"
    assert job["image"] == "cuda"  # the group's first image usable on gpu-1

    # the pod is the notebook pod of that choice: GPU limit, group volume, labels
    pod = wait_for(lambda: job_pod(k8s_cluster, e2e_namespace, job["id"]), 120, what="job pod")
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert any(m["mountPath"] == "/project/team" for m in container["volumeMounts"])
    labels = pod["metadata"]["labels"]
    assert (labels["primehub.io/user"], labels["primehub.io/group"], labels["component"]) == (
        "alice",
        "team",
        "primehub-job",
    )
    assert pod["spec"]["automountServiceAccountToken"] is False

    done = jobs.wait(job["id"], FINAL)
    assert done["status"] == "succeeded", (done, jobs.log(job["id"]))
    assert "alpha is 21 on gpu-1 in /project/team/e2e-jobs" in jobs.log(job["id"])

    # the output notebook is next to the source, visible in alice's server
    out = get_contents(hub, alice, f"team/{done['outputPath']}")
    assert out.status_code == 200, out.text
    text = json.dumps(out.json()["content"])
    assert "alpha is 21" in text
    # artifacts and the status file are kept in the group volume's (hidden) jobs folder
    files = volume_dir(k8s_cluster, e2e_namespace, "project-team") / ".primehub-jobs" / job["id"]
    assert (files / "artifacts" / "result.txt").read_text() == "42"
    assert json.loads((files / "status.json").read_text())["state"] == "succeeded"

    # the log stays readable after the pod is gone
    k8s_cluster.kubectl("delete", "job", f"primehub-job-{job['id']}", "-n", e2e_namespace)
    wait_for(lambda: job_pod(k8s_cluster, e2e_namespace, job["id"]) is None, 120, what="pod gone")
    assert "alpha is 21" in jobs.log(job["id"])


def test_failing_notebook_cancel_and_deadline_end_with_reasons(hub, alice):
    put_notebook(hub, alice, "team/e2e-jobs/fail.ipynb", notebook("raise ValueError('bad data')"))
    put_notebook(
        hub,
        alice,
        "team/e2e-jobs/slow.ipynb",
        notebook("print('first cell done', flush=True)", "import time\ntime.sleep(600)"),
    )
    jobs = Jobs(hub, alice)
    failing = jobs.submit(group="team", path="e2e-jobs/fail.ipynb", instanceType="cpu-1")
    cancelled = jobs.submit(group="team", path="e2e-jobs/slow.ipynb", instanceType="cpu-1")
    late = jobs.submit(group="team", path="e2e-jobs/slow.ipynb", instanceType="cpu-1", deadline=20)

    failed = jobs.wait(failing["id"], FINAL)
    assert failed["status"] == "failed"
    assert "The notebook raised an error" in failed["reason"]
    assert "ValueError: bad data" in jobs.log(failing["id"])

    jobs.wait(cancelled["id"], ("running",))
    wait_for(lambda: "first cell done" in jobs.log(cancelled["id"]), 120, what="first cell")
    resp = jobs.call("POST", f"/jobs/{cancelled['id']}/cancel")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "cancelled"
    assert resp.json()["reason"] == "Cancelled by alice"
    again = jobs.call("POST", f"/jobs/{cancelled['id']}/cancel")
    assert again.status_code == 409
    # the partial output notebook is kept
    partial = wait_for(
        lambda: (r := get_contents(hub, alice, f"team/{cancelled['outputPath']}")).ok and r,
        60,
        what="partial output",
    )
    assert "first cell done" in json.dumps(partial.json()["content"])

    timed_out = jobs.wait(late["id"], FINAL)
    assert timed_out["status"] == "failed"
    assert timed_out["reason"].startswith("Deadline exceeded: the job ran longer than 20 seconds")


def test_users_stay_in_their_groups_and_jobs(hub, alice):
    put_notebook(hub, alice, "team/e2e-jobs/fail.ipynb", notebook("raise ValueError('bad data')"))
    jobs = Jobs(hub, alice)
    mine = jobs.submit(group="team", path="e2e-jobs/fail.ipynb", instanceType="cpu-1")

    hub.create_user("bob")
    bob = Jobs(hub, hub.user_token("bob"))
    assert bob.call("GET", f"/jobs/{mine['id']}").status_code == 404
    assert bob.call("GET", f"/jobs/{mine['id']}/log").status_code == 404
    assert bob.call("POST", f"/jobs/{mine['id']}/cancel").status_code == 404
    assert mine["id"] not in [j["id"] for j in bob.call("GET", "/jobs").json()["jobs"]]

    hub.create_user("erin")
    erin = Jobs(hub, hub.user_token("erin"))
    resp = erin.call("POST", "/jobs", json={"group": "team", "path": "e2e-jobs/fail.ipynb"})
    assert resp.status_code == 403
    assert resp.json()["message"] == "group: you are not a member of 'team' (your groups: 'other')"

    for path in ("../other/x.ipynb", "/project/other/x.ipynb", "a/../../x.ipynb"):
        resp = jobs.call("POST", "/jobs", json={"group": "team", "path": path})
        assert resp.status_code == 400, resp.text
        assert "must be inside the group volume of 'team'" in resp.json()["message"]
    resp = jobs.call(
        "POST", "/jobs", json={"group": "team", "path": "x.ipynb", "instanceType": "gpu-8"}
    )
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("instance_type: 'gpu-8' is not available")

    # no token, or a token without access to the service
    anonymous = hub.session.get(jobs.base + "/jobs", timeout=30)
    assert anonymous.status_code == 401
    narrow = Jobs(hub, hub.user_token("alice", scopes=["read:users:name!user=alice"]))
    assert narrow.call("GET", "/jobs").status_code == 403
    jobs.wait(mine["id"], FINAL)


@pytest.mark.parametrize("name", ["alice?x", "alice#x", "%61lice"])
def test_a_name_that_looks_like_a_url_gets_only_its_own_groups(hub, alice, name):
    """The service asks the hub for the caller's groups by name: the name must be one escaped
    path segment, or ``alice?x`` would be answered with alice's groups (and admin flag)."""
    put_notebook(hub, alice, "team/e2e-jobs/mine.ipynb", notebook("print('mine')"))
    mine = Jobs(hub, alice).submit(group="team", path="e2e-jobs/mine.ipynb", instanceType="cpu-1")
    hub.create_user(name)
    assert hub.user(name)["name"] == name  # the hub keeps the name as typed
    intruder = Jobs(hub, hub.user_token(name))
    listing = intruder.call("GET", "/jobs")
    assert listing.status_code == 200, listing.text
    assert mine["id"] not in [j["id"] for j in listing.json()["jobs"]]
    assert intruder.call("GET", f"/jobs/{mine['id']}").status_code == 404
    resp = intruder.call("POST", "/jobs", json={"group": "team", "path": "e2e-jobs/mine.ipynb"})
    # a user of no group: the answer alice?x would get with alice's groups is a 201
    assert resp.status_code == 403, resp.text
    assert resp.json()["message"] == NO_GROUP_MESSAGE


def test_gpu_job_waits_for_group_quota_held_by_a_notebook(hub, alice, pods, catalog_file):
    catalog = yaml.safe_load(catalog_file.read_text())
    catalog["groups"]["team"]["projectQuota"] = {"gpu": 1}
    catalog_file.write_text(yaml.safe_dump(catalog))
    hub.create_user("bob")
    # bob's GPU notebook holds the group's only GPU
    deadline = time.monotonic() + 60
    while True:  # the hub re-reads the edited catalog on the next spawn
        resp = hub.start_server("bob", {"group": "team", "instance_type": "gpu-1"})
        if resp.status_code in (201, 202) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert resp.status_code in (201, 202), resp.text
    hub.wait_server("bob")
    try:
        put_notebook(hub, alice, "team/e2e-jobs/ok.ipynb", notebook("print('ok')"))
        jobs = Jobs(hub, alice)
        job = jobs.submit(group="team", path="e2e-jobs/ok.ipynb", instanceType="gpu-1")
        waiting = wait_for(
            lambda: (j := jobs.job(job["id"]))["reason"] and j, 60, what="a pending reason"
        )
        assert waiting["status"] == "pending"
        assert waiting["reason"] == "Group team exceeded gpu quota: 1, requesting 2"
    finally:
        hub.stop_server("bob")
    assert jobs.wait(job["id"], FINAL, timeout=300)["status"] == "succeeded"


def test_schedule_runs_and_skips_while_its_previous_run_is_active(hub, alice):
    put_notebook(hub, alice, "team/e2e-jobs/tick.ipynb", notebook("print('tick')"))
    jobs = Jobs(hub, alice)
    bad = jobs.call(
        "POST",
        "/schedules",
        json={
            "group": "team",
            "path": "e2e-jobs/tick.ipynb",
            "recurrence": "custom",
            "cron": "61 * * * *",
        },
    )
    assert bad.status_code == 400
    assert bad.json()["message"] == "minute: 61 is out of range 0-59"

    resp = jobs.call(
        "POST",
        "/schedules",
        json={
            "group": "team",
            "path": "e2e-jobs/tick.ipynb",
            "instanceType": "cpu-1",
            "recurrence": "custom",
            "cron": "* * * * *",
            "timezone": "Asia/Taipei",
        },
    )
    assert resp.status_code == 201, resp.text
    schedule = resp.json()
    assert schedule["nextRunAt"] is not None
    try:
        first = jobs.call("POST", f"/schedules/{schedule['id']}/run")
        assert first.status_code == 201, first.text
        assert first.json()["scheduleId"] == schedule["id"]
        # the previous run is still pending or running: this one is skipped
        skipped = jobs.call("POST", f"/schedules/{schedule['id']}/run")
        assert skipped.status_code == 409
        assert "is still" in skipped.json()["message"]
        jobs.wait(first.json()["id"], FINAL)

        # the cron fires by itself (every minute)
        def fired():
            s = jobs.call("GET", f"/schedules/{schedule['id']}").json()
            return s["runs"] >= 2 and s

        later = wait_for(fired, 150, what="a scheduled run")
        assert later["skipped"] >= 1
        run = jobs.job(later["lastJobId"])
        assert run["scheduleId"] == schedule["id"]
        assert jobs.wait(run["id"], FINAL)["status"] == "succeeded"

        # the scheduled run shows in JupyterLab's jobs list too (kubernetes backend)
        last: list = []

        def in_lab():
            listed = hub.session.get(
                f"{hub.url}/user/alice/primehub/api/jobs",
                headers={"Authorization": f"token {alice}"},
                timeout=30,
            ).json()["jobs"]
            last[:] = listed
            found = [j for j in listed if j["id"] == run["id"]]
            return found and found[0]["status"] == "succeeded" and found[0]

        try:
            lab_job = wait_for(in_lab, 60, what="the scheduled run in the lab's list")
        except WaitTimeout:
            pytest.fail(f"run {run['id']} not listed as succeeded by the lab: {last}")
        assert lab_job["backend"] == "kubernetes"
        assert lab_job["path"] == "team/e2e-jobs/tick.ipynb"
    finally:
        jobs.call("DELETE", f"/schedules/{schedule['id']}")


def test_submit_from_jupyterlab_runs_on_kubernetes(hub, alice):
    """The server extension's kubernetes backend hands the job to the hub service."""
    put_notebook(
        hub,
        alice,
        "team/e2e-jobs/lab.ipynb",
        notebook(
            "import os\n"
            "print('lab alpha', alpha, os.environ['INSTANCE_TYPE'])\n"
            "open(os.path.join(os.environ['PRIMEHUB_JOB_ARTIFACTS'], 'a.txt'), 'w').write('x')",
            parameters="alpha = 1",
        ),
    )
    server = f"{hub.url}/user/alice/primehub/api"
    headers = {"Authorization": f"token {alice}"}

    def context():
        data = hub.session.get(server + "/context", headers=headers, timeout=30).json()
        return "instanceTypes" in data and data

    ctx = wait_for(context, 60, what="the kubernetes backend's choices in the context")
    assert "kubernetes" in [b["name"] for b in ctx["backends"]]
    assert {"cpu-1", "gpu-1"} <= {it["name"] for it in ctx["instanceTypes"]}

    refused = hub.session.post(
        server + "/jobs",
        json={"path": "team/e2e-jobs/lab.ipynb", "backend": "kubernetes", "instanceType": "gpu-8"},
        headers=headers,
        timeout=30,
    )
    assert refused.status_code == 400
    assert refused.json()["message"].startswith("instanceType: 'gpu-8' is not available")

    resp = hub.session.post(
        server + "/jobs",
        json={
            "path": "team/e2e-jobs/lab.ipynb",
            "backend": "kubernetes",
            "instanceType": "gpu-1",
            "parameters": {"alpha": 5},
        },
        headers=headers,
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert job["backend"] == "kubernetes"

    def finished():
        j = hub.session.get(f"{server}/jobs/{job['id']}", headers=headers, timeout=30).json()
        return j["status"] in FINAL and j

    done = wait_for(finished, 240, what="the lab's kubernetes job to end")
    assert done["status"] == "succeeded", done
    log = hub.session.get(f"{server}/jobs/{job['id']}/log", headers=headers, timeout=30).text
    assert "lab alpha 5 gpu-1" in log
    # the same job on the hub service (under the id the hub chose), run as a Kubernetes Job
    # with the GPU instance type
    [remote] = [
        j
        for j in Jobs(hub, alice).call("GET", "/jobs").json()["jobs"]
        if j["path"] == "e2e-jobs/lab.ipynb" and j["parameters"] == {"alpha": 5}
    ]
    assert remote["id"] != job["id"]  # the hub chose its own id; the server maps its id to it
    assert (remote["status"], remote["instanceType"]) == ("succeeded", "gpu-1")
    out = get_contents(hub, alice, done["outputPath"])
    assert out.status_code == 200 and "lab alpha 5" in json.dumps(out.json()["content"])
    zipped = hub.session.get(f"{server}/jobs/{job['id']}/artifacts", headers=headers, timeout=30)
    assert zipped.status_code == 200 and b"a.txt" in zipped.content


def service_pid(hub) -> int | None:
    """PID of this hub's primehub-jobs process (its command line names the hub's state dir)."""
    marker = f"--state-dir={hub.workdir}/primehub-jobs".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"primehub_spawner.jobs" in args and marker in args:
            return int(entry)
    return None


def test_jobs_and_schedules_survive_a_service_crash(hub, alice):
    put_notebook(
        hub,
        alice,
        "team/e2e-jobs/long.ipynb",
        notebook(
            "print('before', flush=True)",
            "import time\ntime.sleep(30)\nprint('after', flush=True)",
        ),
    )
    jobs = Jobs(hub, alice)
    job = jobs.submit(group="team", path="e2e-jobs/long.ipynb", instanceType="cpu-1")
    resp = jobs.call(
        "POST",
        "/schedules",
        json={"group": "team", "path": "e2e-jobs/long.ipynb", "recurrence": "weekly"},
    )
    assert resp.status_code == 201, resp.text
    schedule = resp.json()
    try:
        jobs.wait(job["id"], ("running",))
        wait_for(lambda: "before" in jobs.log(job["id"]), 120, what="the first cell's output")

        pid = service_pid(hub)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        # the hub restarts its managed service; the job kept running in its pod meanwhile
        wait_for(
            lambda: (p := service_pid(hub)) is not None and p != pid,
            120,
            what="the service restarted by the hub",
        )
        done = jobs.wait(job["id"], FINAL, timeout=180)
        assert done["status"] == "succeeded", done
        assert "after" in jobs.log(job["id"])
        again = jobs.call("GET", f"/schedules/{schedule['id']}")
        assert again.status_code == 200
        assert again.json()["nextRunAt"] == schedule["nextRunAt"]
    finally:
        jobs.call("DELETE", f"/schedules/{schedule['id']}")


def test_a_waiting_job_of_a_user_removed_from_the_group_fails_and_never_starts(
    hub, k8s_cluster, e2e_namespace, catalog_file
):
    """Membership is checked when a job is admitted, not only at submit: vic (in the hub group
    ``viahub``) queues a job that waits for his quota; the admin removes him from the group
    through the hub's REST API; the job ends failed with that reason and never starts."""
    catalog = yaml.safe_load(catalog_file.read_text())
    catalog["groups"]["viahub"]["quota"] = {"cpu": 0.5}
    catalog_file.write_text(yaml.safe_dump(catalog))
    hub.create_user("vic")
    made = hub.api("POST", "/groups/viahub")
    assert made.status_code in (201, 409), made.text
    added = hub.api("POST", "/groups/viahub/users", json={"users": ["vic"]})
    assert added.status_code == 200, added.text
    # vic's quota in viahub is held by a pod of his that never gets a node
    holder = f"quota-holder-vic-{uuid.uuid4().hex[:6]}"
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": holder,
                "labels": {"primehub.io/group": "viahub", "primehub.io/user": "vic"},
            },
            "spec": {
                "nodeSelector": {"primehub.io/no-such-node": "true"},
                "containers": [
                    {
                        "name": "hold",
                        "image": "busybox",
                        "resources": {
                            "limits": {"cpu": "500m", "memory": "64Mi"},
                            "requests": {"cpu": "500m", "memory": "64Mi"},
                        },
                    }
                ],
            },
        },
        namespace=e2e_namespace,
    )
    try:
        jobs = Jobs(hub, hub.user_token("vic"))
        job = wait_for(  # the service re-reads the edited catalog on its own
            lambda: (
                (r := jobs.call("POST", "/jobs", json={"group": "viahub", "path": "x.ipynb"})).ok
                and r.json()
            ),
            60,
            what="a job accepted in viahub",
        )
        waiting = wait_for(
            lambda: (j := jobs.job(job["id"]))["reason"] and "quota" in j["reason"] and j,
            60,
            what="the job waiting for vic's quota",
        )
        assert waiting["status"] == "pending"
        assert waiting["reason"].startswith("User vic exceeded cpu quota")

        removed = hub.api("DELETE", "/groups/viahub/users", json={"users": ["vic"]})
        assert removed.status_code == 200, removed.text
        assert "viahub" not in hub.user("vic")["groups"]
        done = jobs.wait(job["id"], FINAL, timeout=60)
        assert (done["status"], done["reason"]) == (
            "failed",
            "vic is no longer a member of group viahub",
        )
        assert done["startedAt"] is None
        assert job_pod(k8s_cluster, e2e_namespace, job["id"]) is None
        k8s_jobs = k8s_cluster.get(
            "jobs", "-n", e2e_namespace, "-l", f"primehub.io/job={job['id']}"
        )
        assert k8s_jobs["items"] == []
    finally:
        k8s_cluster.kubectl("delete", "pod", holder, "-n", e2e_namespace, "--wait=false")
