"""A hub job that cannot start says why while it waits, and fails with that reason when its
preparing timeout passes, giving its quota back (issue 17, part 3) - on the real scheduler.

The local node has 2 GPUs; ``gpu-8`` (group ``big``) asks for 8, so its pod stays
Unschedulable. The catalog is edited while the hub runs (both hub processes re-read it): the
preparing timeout is set to one second only once the live reason was seen, so the test does
not depend on how fast the machine is.
"""

from __future__ import annotations

import pytest
import yaml

from localk8s.testing import wait_for

from .test_hub_jobs import Jobs

pytestmark = pytest.mark.cluster


def job_objects(k8s_cluster, namespace: str, job_id: str) -> list[dict]:
    """The job's Kubernetes Job and pods that still exist."""
    selector = ("-l", f"primehub.io/job={job_id}")
    pods = k8s_cluster.get("pods", "-n", namespace, *selector)["items"]
    jobs = k8s_cluster.get("jobs", "-n", namespace, *selector)["items"]
    return [p for p in pods + jobs if not p["metadata"].get("deletionTimestamp")]


def test_an_unschedulable_job_says_why_then_fails_and_frees_its_quota(
    hub, k8s_cluster, e2e_namespace, catalog_file
):
    catalog = yaml.safe_load(catalog_file.read_text())
    catalog["groups"]["big"]["quota"] = {"gpu": 8}  # room for one gpu-8 job at a time
    catalog_file.write_text(yaml.safe_dump(catalog))
    hub.create_user("dora")
    jobs = Jobs(hub, hub.user_token("dora"))
    first = jobs.submit(path="never.ipynb", group="big", instanceType="gpu-8")
    second = None
    try:
        waiting = wait_for(
            lambda: (j := jobs.job(first["id"]))["reason"].startswith("Waiting for a node") and j,
            90,
            what="the scheduler's verdict in the job's reason",
        )
        assert waiting["status"] == "preparing"
        assert waiting["reason"].startswith("Waiting for a node with 8 GPUs: 0/1 nodes")
        assert "Insufficient nvidia.com/gpu" in waiting["reason"]
        # the preparing job holds the group's quota: the next one waits for it
        second = jobs.submit(path="never.ipynb", group="big", instanceType="gpu-8")
        queued = wait_for(
            lambda: (j := jobs.job(second["id"]))["reason"] and j,
            30,
            what="the second job's reason",
        )
        assert queued["status"] == "pending", queued
        assert "quota" in queued["reason"], queued

        catalog["instanceTypes"]["gpu-8"]["preparingTimeout"] = 1
        catalog_file.write_text(yaml.safe_dump(catalog))
        failed = jobs.wait(first["id"], ("failed",), timeout=60)
        assert failed["reason"] == (
            f"The job did not start within 1 second (preparing timeout): {waiting['reason']}"
        )
        assert not job_objects(k8s_cluster, e2e_namespace, first["id"])
        # its quota is free: the second job starts (and is the one waiting for a node now)
        catalog["instanceTypes"]["gpu-8"]["preparingTimeout"] = 0
        catalog_file.write_text(yaml.safe_dump(catalog))
        jobs.wait(second["id"], ("preparing",), timeout=60)
    finally:
        for job in (first, second):
            if job is not None:
                jobs.call("POST", f"/jobs/{job['id']}/cancel")
        wait_for(
            lambda: (
                not any(
                    job_objects(k8s_cluster, e2e_namespace, j["id"]) for j in (first, second) if j
                )
            ),
            60,
            what="the jobs' pods deleted",
        )
