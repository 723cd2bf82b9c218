"""A job record or Kubernetes Job is never taken over by another submit (issue 15, low)."""

from __future__ import annotations

import asyncio

import pytest
from test_queue_fairness import ALICE, BOB, Kube, service

from primehub_jobs_contract.errors import Conflict
from primehub_spawner.jobs.kube import same_job


def test_a_claimed_id_is_refused_and_the_first_job_is_kept(tmp_path):
    jobs = service(tmp_path, Kube())
    first = asyncio.run(jobs.submit(ALICE, {"id": "0123456789ab", "path": "a.ipynb"}))
    with pytest.raises(Conflict, match="exists already"):
        asyncio.run(jobs.submit(BOB, {"id": "0123456789ab", "path": "evil.ipynb"}))
    kept = asyncio.run(jobs.get(ALICE, first.id))
    assert (kept.user, kept.path) == ("alice", "a.ipynb")


def test_an_existing_kubernetes_job_is_adopted_only_when_it_is_this_jobs():
    manifest = {
        "metadata": {
            "name": "primehub-job-0123456789ab",
            "labels": {
                "primehub.io/job": "0123456789ab",
                "primehub.io/user": "alice",
                "component": "primehub-job",
            },
        }
    }
    assert same_job(manifest, dict(manifest["metadata"]["labels"]))
    assert not same_job(manifest, {**manifest["metadata"]["labels"], "primehub.io/user": "bob"})
    assert not same_job(manifest, {})  # someone else's Job of that name
