"""One user must not stall everyone's hub jobs (issue 15, high 2), played against the real
jobs service code with a recording Kubernetes stand-in (the round's logic, not the cluster)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from primehub_jobs_contract.errors import TooMany
from primehub_spawner.catalog import CatalogSource
from primehub_spawner.jobs.service import Caller, JobsService, Settings
from primehub_spawner.jobs.store import JobStore

CATALOG = Path(__file__).parents[1] / "primehub_spawner" / "catalog_fixture.yaml"
ALICE, BOB = Caller("alice"), Caller("bob")


class Kube:
    """Records the Jobs the service creates; none of them ends."""

    def __init__(self) -> None:
        self.created: list[dict] = []
        self.pods: dict = {}  # the group pod cache: empty, in-flight launches are counted

    async def list_jobs(self) -> dict:
        return {m["metadata"]["name"]: {"status": {}} for m in self.created}

    def one_view(self):  # the real one indexes the pod cache for a round
        return contextlib.nullcontext()

    def job_pods(self, name: str) -> list:
        return []

    async def fresh_pods(self) -> dict:  # the watch cache for a quota decision: always fresh
        return {}

    async def ensure_pvcs(self, pvcs) -> None: ...

    async def create_job(self, manifest: dict) -> None:
        self.created.append(manifest)

    async def delete_job(self, name: str) -> None: ...

    async def pod_log(self, pod: str, limit_bytes=None) -> str:
        return ""


def service(tmp_path, kube, **settings) -> JobsService:
    return JobsService(
        JobStore(tmp_path / "jobs.sqlite"),
        kube,
        CatalogSource(data=yaml.safe_load(CATALOG.read_text())),
        tmp_path / "logs",
        Settings(namespace="ns", **settings),
        clock=lambda: datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc),
    )


def created_for(kube: Kube, user: str) -> int:
    return sum(m["metadata"]["labels"]["primehub.io/user"] == user for m in kube.created)


def test_a_user_with_1001_waiting_jobs_does_not_stall_another_users_job(tmp_path):
    kube = Kube()
    jobs = service(tmp_path, kube, max_active_jobs_per_user=2000)
    # alice's GPU jobs: the first holds her GPU quota of 1, the other 1,000 wait for it
    for _ in range(1001):
        asyncio.run(jobs.submit(ALICE, {"path": "a.ipynb", "instanceType": "gpu-1"}))
    bob = asyncio.run(jobs.submit(BOB, {"path": "b.ipynb", "instanceType": "cpu-2"}))
    asyncio.run(jobs.tick())
    assert created_for(kube, "alice") == 1
    assert created_for(kube, "bob") == 1
    assert asyncio.run(jobs.get(BOB, bob.id)).state.value == "preparing"


def test_past_the_per_user_limit_a_submit_is_refused_with_429(tmp_path):
    jobs = service(tmp_path, Kube(), max_active_jobs_per_user=3)
    for _ in range(3):
        asyncio.run(jobs.submit(ALICE, {"path": "a.ipynb", "instanceType": "gpu-1"}))
    with pytest.raises(TooMany) as refused:
        asyncio.run(jobs.submit(ALICE, {"path": "a.ipynb"}))
    assert refused.value.status_code == 429
    assert "You have 3 jobs pending or running (at most 3)" in refused.value.message
    asyncio.run(jobs.submit(BOB, {"path": "b.ipynb"}))  # others are not affected


def test_schedules_are_capped_per_user(tmp_path):
    jobs = service(tmp_path, Kube(), max_schedules_per_user=2)
    body = {"path": "a.ipynb", "recurrence": "daily"}
    for _ in range(2):
        asyncio.run(jobs.create_schedule(ALICE, body))
    with pytest.raises(TooMany, match="You have 2 schedules"):
        asyncio.run(jobs.create_schedule(ALICE, body))


def test_old_finished_records_are_purged(tmp_path):
    kube = Kube()
    now = {"t": datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)}
    jobs = service(tmp_path, kube, history_retention=timedelta(days=30))
    jobs.shared.clock = lambda: now["t"]
    job = asyncio.run(jobs.submit(ALICE, {"path": "a.ipynb"}))
    asyncio.run(jobs.cancel(ALICE, job.id))
    now["t"] += timedelta(days=31)
    asyncio.run(jobs.tick())
    assert asyncio.run(jobs.list(ALICE))[1] == 0
