"""Notebook spawns and jobs reserve quota in one ledger (the hub's), on the local cluster.

The race made deterministic: the Job controller is paused, so the jobs the ``primehub-jobs``
service admitted have Kubernetes Jobs but no pods yet, which is exactly when the hub's own pod
cache cannot see them. Ten spawns then ask for the same quota: with two ledgers they would all
be admitted on top of the jobs; with one, every spawn is refused and two pods hold the quota.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from localk8s.testing import wait_for

from .cluster import paused

pytestmark = pytest.mark.cluster

SMALL = {"group": "race", "instance_type": "cpu-small"}
FINAL = ("succeeded", "failed", "cancelled")


def active_race_pods(cluster, namespace: str) -> list[str]:
    """Pending/Running pods of group race that are not being deleted."""
    items = cluster.get("pods", "-n", namespace, "-l", "primehub.io/group=race")["items"]
    return sorted(
        p["metadata"]["name"]
        for p in items
        if (p.get("status") or {}).get("phase", "Pending") in ("Pending", "Running")
        and not p["metadata"].get("deletionTimestamp")
    )


def hold_notebook(seconds: int) -> str:
    cell = {
        "cell_type": "code",
        "id": uuid.uuid4().hex[:8],
        "metadata": {},
        "source": f"import time\ntime.sleep({seconds})",
        "outputs": [],
        "execution_count": None,
    }
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "cells": [cell],
        }
    )


def test_spawns_cannot_take_the_quota_of_jobs_whose_pods_do_not_exist_yet(
    disruptable_cluster, fault_hub, fault_namespace
):
    cluster, hub = disruptable_cluster, fault_hub
    hub.create_user("racer")
    base = hub.url + "/services/primehub-jobs/api"
    headers = {"Authorization": f"token {hub.user_token('racer')}"}

    def call(method: str, path: str, **kwargs):
        return hub.session.request(method, base + path, headers=headers, timeout=30, **kwargs)

    def job(job_id: str) -> dict:
        return call("GET", f"/jobs/{job_id}").json()

    def submit(path: str) -> str:
        resp = call(
            "POST", "/jobs", json={"group": "race", "path": path, "instanceType": "cpu-small"}
        )
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    job_ids: list[str] = []
    try:
        # a first job makes the group volume (its notebook is missing: it fails at once) ...
        first = submit("missing.ipynb")
        job_ids.append(first)
        wait_for(lambda: job(first)["status"] in FINAL, 180, what="the first job to end")
        pvc = cluster.get("pvc", "project-race", "-n", fault_namespace)
        folder = Path(cluster.get("pv", pvc["spec"]["volumeName"])["spec"]["hostPath"]["path"])
        # ... into which goes a notebook that holds its quota for a while
        (folder / "hold.ipynb").write_text(hold_notebook(300))
        folder.chmod(0o777)

        with paused(cluster, "kube-controller-manager"):
            held = [submit("hold.ipynb"), submit("hold.ipynb")]
            job_ids += held
            wait_for(
                lambda: all(job(j)["status"] == "preparing" for j in held),
                60,
                what="both jobs admitted (their Kubernetes Jobs created)",
            )
            assert active_race_pods(cluster, fault_namespace) == []  # no pods yet
            with ThreadPoolExecutor(10) as pool:
                answers = list(
                    pool.map(
                        lambda i: hub.start_server("racer", SMALL, server_name=f"race{i}"),
                        range(10),
                    )
                )
        # every spawn was refused: the quota is the jobs', though their pods did not exist
        assert [r.status_code for r in answers] == [403] * 10, [r.text for r in answers]
        assert all("Group race exceeded cpu quota" in r.text for r in answers)

        # the Job controller is back: the two job pods hold the quota, never more than two
        wait_for(lambda: len(active_race_pods(cluster, fault_namespace)) == 2, 120, what="2 pods")
        for _ in range(20):
            active = active_race_pods(cluster, fault_namespace)
            assert len(active) <= 2, f"the quota of two was overshot: {active}"
            time.sleep(0.5)
        assert all(n.startswith("primehub-job-") for n in active), active
    finally:
        for job_id in job_ids:
            call("POST", f"/jobs/{job_id}/cancel")
        selector = "component=primehub-job,primehub.io/user=racer"
        cluster.kubectl("delete", "jobs", "-n", fault_namespace, "-l", selector)
        for server in list(hub.user("racer").get("servers", {})):
            hub.api("DELETE", f"/users/racer/servers/{server}")
        wait_for(
            lambda: not active_race_pods(cluster, fault_namespace), 180, what="race pods deleted"
        )
