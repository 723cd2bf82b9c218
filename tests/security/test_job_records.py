"""A job record or Kubernetes Job is never taken over by another submit (issue 15, low)."""

from __future__ import annotations

import asyncio

import pytest
from test_queue_fairness import ALICE, BOB, Kube, service

from primehub_jobs_contract.errors import InvalidRequest
from primehub_spawner.jobs.kube import same_job


def test_ids_are_the_services_and_a_client_id_is_refused(tmp_path):
    jobs = service(tmp_path, Kube())
    first = asyncio.run(jobs.submit(ALICE, {"path": "a.ipynb"}))
    second = asyncio.run(jobs.submit(ALICE, {"path": "a.ipynb"}))
    assert first.id != second.id
    # bob saw alice's job folder in the group volume and tries to take its id (or to claim an
    # id before a client would use it): refused, whatever the id
    for claimed in (first.id, "0123456789ab"):
        with pytest.raises(InvalidRequest, match="'id' is chosen by the service"):
            asyncio.run(jobs.submit(BOB, {"id": claimed, "path": "evil.ipynb"}))
    kept = asyncio.run(jobs.get(ALICE, first.id))
    assert (kept.user, kept.path) == ("alice", "a.ipynb")
    assert asyncio.run(jobs.list(BOB))[1] == 0


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
