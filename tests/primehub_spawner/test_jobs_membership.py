"""Membership is checked again when a queued job is admitted and when a schedule fires: the
groups a user had at submit are not reused (issue 15, medium 4).

The hub's answers come from a stand-in directory (the real lookup is
``test_jobs_hub_users.py``, the real hub ``tests/e2e/test_hub_jobs.py``); the store is the real
SQLite file and the round the real one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from test_jobs_service import Clock, RecordingKube

from primehub_jobs_contract.errors import JobsError, Unavailable
from primehub_spawner.catalog import CatalogSource
from primehub_spawner.jobs.hub_users import Caller
from primehub_spawner.jobs.service import JobsService, Settings
from primehub_spawner.jobs.store import JobStore

# Research_Lab's members come from JupyterHub groups only (the catalog lists none)
LAB = {"group": "Research_Lab", "path": "a.ipynb", "instanceType": "gpu-2"}


class Hub:
    """What the hub says about its users now: a name -> Caller, a deleted user (None), or
    no answer at all (``down``)."""

    def __init__(self) -> None:
        self.users: dict[str, Caller | None] = {}
        self.down = False
        self.asked: list[str] = []

    async def caller(self, name: str) -> Caller | None:
        self.asked.append(name)
        if self.down:
            raise Unavailable("Cannot read the groups of 'alice' from the hub: HTTP 599")
        return self.users.get(name, Caller(name))


@pytest.fixture
def env(tmp_path, catalog_dict):
    clock = Clock(datetime(2026, 3, 1, 10, 0, 30, tzinfo=timezone.utc))
    kube = RecordingKube()
    hub = Hub()
    hub.users["alice"] = Caller("alice", ("Research_Lab",))
    service = JobsService(
        JobStore(tmp_path / "jobs.sqlite"),
        kube,
        CatalogSource(data=catalog_dict),
        tmp_path / "logs",
        Settings(namespace="ns"),
        clock=clock,
        users=hub,
    )
    return service, hub, kube, clock


def run(coro):
    return asyncio.run(coro)


ALICE = Caller("alice", ("Research_Lab",))


def test_a_queued_job_of_a_user_who_left_the_group_fails_and_never_starts(env):
    service, hub, kube, _ = env
    job = run(service.submit(ALICE, LAB))
    assert job.state.value == "pending"
    hub.users["alice"] = Caller("alice", ())  # removed from Research_Lab on the hub
    run(service.tick())
    failed = run(service.get(ALICE, job.id))
    assert (failed.state.value, failed.reason) == (
        "failed",
        "alice is no longer a member of group Research_Lab",
    )
    assert kube.created == []
    assert "alice" in hub.asked


def test_a_queued_job_of_a_deleted_user_fails_with_that_reason(env):
    service, hub, kube, _ = env
    job = run(service.submit(ALICE, LAB))
    hub.users["alice"] = None  # the hub answers 404
    run(service.tick())
    failed = run(service.get(Caller("root", admin=True), job.id))
    assert failed.state.value == "failed"
    assert failed.reason == (
        "alice is no longer a member of group Research_Lab (the user was deleted from the hub)"
    )
    assert kube.created == []


def test_a_member_through_the_catalog_keeps_their_jobs(env):
    service, hub, kube, _ = env
    # alice is a member of phusers by the catalog's members list: no hub group needed
    job = run(service.submit(ALICE, {"group": "phusers", "path": "a.ipynb"}))
    hub.users["alice"] = Caller("alice", ())
    run(service.tick())
    assert run(service.get(ALICE, job.id)).state.value == "preparing"
    assert [m["metadata"]["labels"]["primehub.io/job"] for m in kube.created] == [job.id]


def test_a_queued_job_waits_while_the_hub_cannot_say_and_starts_after(env):
    service, hub, kube, _ = env
    job = run(service.submit(ALICE, LAB))
    hub.down = True
    run(service.tick())
    waiting = run(service.get(ALICE, job.id))
    assert waiting.state.value == "pending"
    assert waiting.reason.startswith("Waiting for the hub: Cannot read the groups of 'alice'")
    assert kube.created == []
    hub.down = False
    run(service.tick())
    assert run(service.get(ALICE, job.id)).state.value == "preparing"
    assert len(kube.created) == 1


def test_a_schedule_of_a_user_who_left_is_refused_and_paused(env):
    service, hub, kube, clock = env
    schedule = run(
        service.create_schedule(ALICE, {**LAB, "recurrence": "custom", "cron": "*/5 * * * *"})
    )
    hub.users["alice"] = Caller("alice", ())
    clock.now += timedelta(minutes=5)
    run(service.tick())
    refused = run(service.get_schedule(ALICE, schedule.id))
    assert refused.runs == 0 and refused.next_run is None  # paused: it does not fire again
    assert refused.last_message == (
        "The run at 2026-03-01T10:05:30.000Z was refused: alice is no longer a member of "
        "group Research_Lab. The schedule is paused."
    )
    assert kube.created == [] and run(service.list(ALICE))[1] == 0
    clock.now += timedelta(minutes=5)
    run(service.tick())
    assert run(service.get_schedule(ALICE, schedule.id)).last_message == refused.last_message
    # run now: refused the same way (403), no job
    with pytest.raises(JobsError) as info:
        run(service.run_schedule(ALICE, schedule.id))
    assert info.value.status_code == 403
    assert info.value.message == "alice is no longer a member of group Research_Lab"
    assert run(service.list(ALICE))[1] == 0


def test_a_schedule_waits_while_the_hub_cannot_say(env):
    service, hub, kube, clock = env
    schedule = run(
        service.create_schedule(ALICE, {**LAB, "recurrence": "custom", "cron": "*/5 * * * *"})
    )
    hub.down = True
    clock.now += timedelta(minutes=5)
    run(service.tick())
    waiting = run(service.get_schedule(ALICE, schedule.id))
    assert (waiting.runs, waiting.next_run) == (0, schedule.next_run)
    assert "waits: Cannot read the groups of 'alice' from the hub" in waiting.last_message
    hub.down = False
    run(service.tick())
    ran = run(service.get_schedule(ALICE, schedule.id))
    assert ran.runs == 1 and ran.last_message is None
