"""Hub jobs service logic without a cluster: request checks, Job outcomes, schedules.

The Kubernetes side is an in-memory double recording created Jobs (the e2e tests run the real
thing); the store is the real SQLite file, so restarts are real too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from primehub_jobs_contract.errors import Conflict, JobsError
from primehub_jobs_contract.states import State
from primehub_spawner.catalog import CatalogError, CatalogSource
from primehub_spawner.jobs.outcome import (
    DELETED_OUTSIDE,
    Outcome,
    ended_early,
    final_outcome,
    job_outcome,
    pending_reason,
)
from primehub_spawner.jobs.requests import parse_submit, volume_path
from primehub_spawner.jobs.service import Caller, JobsService, Settings
from primehub_spawner.jobs.store import JobStore

ALICE = Caller("alice")


class RecordingKube:
    """Records Jobs; no pods ever appear (jobs stay 'preparing')."""

    def __init__(self) -> None:
        self.created: list[dict] = []
        self.pods: dict = {}
        self.statuses: dict[str, dict] = {}  # Job name -> status, as the controller sets it

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def list_jobs(self) -> dict:
        return {
            m["metadata"]["name"]: {"status": self.statuses.get(m["metadata"]["name"], {})}
            for m in self.created
        }

    def one_view(self):  # the real one indexes the pod cache for a round
        return contextlib.nullcontext()

    def job_pods(self, name: str) -> list:
        return self.pods.get(name, [])

    async def fresh_pods(self) -> dict:  # the watch cache for a quota decision: always fresh
        return {}

    async def ensure_pvcs(self, pvcs) -> None: ...

    async def create_job(self, manifest: dict) -> None:
        self.created.append(manifest)

    async def delete_job(self, name: str) -> None:
        self.created = [m for m in self.created if m["metadata"]["name"] != name]

    async def pod_log(self, pod: str, limit_bytes=None) -> str:
        return ""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def env(tmp_path, catalog_dict):
    clock = Clock(datetime(2026, 3, 1, 10, 0, 30, tzinfo=timezone.utc))
    kube = RecordingKube()

    def make() -> JobsService:
        return JobsService(
            JobStore(tmp_path / "jobs.sqlite"),
            kube,
            CatalogSource(data=catalog_dict),
            tmp_path / "logs",
            Settings(namespace="ns"),
            clock=clock,
        )

    return make, clock, kube


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize(
    "raw, message",
    [
        ("../x.ipynb", "must be inside the group volume of 'phusers'"),
        ("/project/other/x.ipynb", "must be inside the group volume of 'phusers'"),
        ("a/../../x.ipynb", "must be inside the group volume of 'phusers'"),
        ("notes.txt", "must be a notebook"),
        (".primehub-jobs/1/input.ipynb", "must be outside the .primehub-jobs folder"),
    ],
)
def test_paths_stay_in_the_group_volume(raw, message):
    with pytest.raises(JobsError, match=message):
        volume_path(raw, "path", "phusers", "/project", jobs_folder=False)


def test_absolute_paths_inside_the_volume_are_relative_afterwards():
    got = volume_path(
        "/project/phusers/a/./b.ipynb", "path", "phusers", "/project", jobs_folder=False
    )
    assert got == "a/b.ipynb"


@pytest.mark.parametrize(
    "body, message",
    [
        ([], "must be a JSON object"),
        ({"path": "a.ipynb", "color": 1}, "Unknown field.s. color"),
        ({}, "'path' is required"),
        ({"path": "a.ipynb", "deadline": 0}, "'deadline' must be a positive number"),
        ({"path": "a.ipynb", "deadline": True}, "'deadline' must be a number"),
        ({"path": "a.ipynb", "parameters": {"1x": 1}}, "not a valid variable name"),
        ({"path": "a.ipynb", "id": "../../etc"}, "'id' must be 12 lower-case"),
    ],
)
def test_bad_submit_bodies_say_what_to_change(body, message):
    with pytest.raises(JobsError, match=message):
        parse_submit(body, max_deadline=86400)


def test_submit_uses_the_spawn_rules_and_messages(env):
    make, _, _ = env
    service = make()
    with pytest.raises(JobsError) as info:
        run(service.submit(ALICE, {"group": "Research_Lab", "path": "a.ipynb"}))
    assert info.value.status_code == 403
    assert info.value.message == (
        "group: you are not a member of 'Research_Lab' (your groups: 'phusers')"
    )
    with pytest.raises(JobsError, match="instance_type: 'gpu-2' is not available"):
        run(service.submit(ALICE, {"path": "a.ipynb", "instanceType": "gpu-2"}))
    job = run(service.submit(ALICE, {"path": "team/a.ipynb", "instanceType": "gpu-1"}))
    assert (job.group, job.image, job.state.value, job.deadline) == (
        "phusers",
        "torch",
        "pending",
        86400,
    )
    assert job.output.startswith("team/a-20260301100030-") and job.output.endswith("-output.ipynb")


def test_jobs_are_private_to_their_user_and_admins_see_all(env):
    make, _, _ = env
    service = make()
    job = run(service.submit(ALICE, {"path": "a.ipynb"}))
    with pytest.raises(JobsError) as info:
        run(service.get(Caller("bob"), job.id))
    assert info.value.status_code == 404
    assert run(service.get(Caller("root", admin=True), job.id)).id == job.id
    assert run(service.list(Caller("bob")))[1] == 0


def test_pending_cancel_and_final_cancel_conflict(env):
    make, _, _ = env
    service = make()
    job = run(service.submit(ALICE, {"path": "a.ipynb"}))
    cancelled = run(service.cancel(ALICE, job.id))
    assert (cancelled.state.value, cancelled.reason) == ("cancelled", "Cancelled by alice")
    with pytest.raises(Conflict):
        run(service.cancel(ALICE, job.id))


def test_schedule_runs_skips_while_active_and_survives_restart(env):
    make, clock, kube = env
    service = make()
    with pytest.raises(JobsError, match="minute: 61 is out of range"):
        run(
            service.create_schedule(
                ALICE, {"path": "a.ipynb", "recurrence": "custom", "cron": "61 * * * *"}
            )
        )
    schedule = run(
        service.create_schedule(
            ALICE,
            {
                "path": "a.ipynb",
                "recurrence": "custom",
                "cron": "*/5 * * * *",
                "timezone": "Asia/Taipei",
            },
        )
    )
    assert schedule.next_run == datetime(2026, 3, 1, 10, 5, tzinfo=timezone.utc)

    clock.now += timedelta(minutes=5)
    run(service.tick())
    after = run(service.get_schedule(ALICE, schedule.id))
    assert (after.runs, after.skipped) == (1, 0)
    assert after.next_run == datetime(2026, 3, 1, 10, 10, tzinfo=timezone.utc)
    first = run(service.get(ALICE, after.last_job_id))
    assert first.schedule_id == schedule.id
    # the round admitted it and created the Kubernetes Job: it is now preparing
    assert first.state.value == "preparing"
    assert kube.created[0]["metadata"]["name"] == f"primehub-job-{first.id}"

    # a hub restart: a new service over the same database
    service = make()
    clock.now += timedelta(minutes=5)
    run(service.tick())
    after = run(service.get_schedule(ALICE, schedule.id))
    assert (after.runs, after.skipped) == (1, 1)
    assert f"the previous run (job {first.id}) is still preparing" in after.last_message
    with pytest.raises(Conflict, match="is still preparing"):
        run(service.run_schedule(ALICE, schedule.id))


def test_a_schedule_due_while_the_catalog_is_broken_runs_once_it_is_fixed(env, catalog_dict):
    make, clock, kube = env
    service = make()
    schedule = run(
        service.create_schedule(
            ALICE, {"path": "a.ipynb", "recurrence": "custom", "cron": "*/5 * * * *"}
        )
    )
    good = service.shared.catalog

    class Broken:  # an admin saved a catalog with a typo
        def get(self):
            raise CatalogError("groups.bad name: bad name")

    service.shared.catalog = Broken()
    clock.now += timedelta(minutes=5)
    run(service.tick())
    waiting = run(service.get_schedule(ALICE, schedule.id))
    assert (waiting.runs, waiting.next_run) == (0, schedule.next_run)
    assert "waits: Job options are unavailable: the catalog has an error" in waiting.last_message
    service.shared.catalog = good  # fixed
    clock.now += timedelta(seconds=30)
    run(service.tick())
    ran = run(service.get_schedule(ALICE, schedule.id))
    assert ran.runs == 1 and ran.last_message is None
    assert ran.next_run == schedule.next_run + timedelta(minutes=5)


def test_job_outcomes_from_the_kubernetes_job_and_pod():
    def pod(code, reason="Error"):
        return {
            "status": {
                "containerStatuses": [
                    {"state": {"terminated": {"exitCode": code, "reason": reason}}}
                ]
            }
        }

    failed = {"status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]}}
    assert job_outcome({"status": {"active": 1}}, None, 60) is None
    # a failed pod before the controller's Failed condition: not decided yet (a pod killed for
    # the deadline exits 143 too and must not read as a cancel)
    assert job_outcome({"status": {"failed": 1}}, pod(143), 60) is None
    assert job_outcome({"status": {"succeeded": 1}}, pod(0), 60)[0].value == "succeeded"
    state, reason, code = job_outcome(failed, pod(1), 60)
    assert (state.value, code) == ("failed", 1)
    assert reason.startswith("The notebook raised an error")
    deadline = {
        "status": {
            "conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]
        }
    }
    assert job_outcome(deadline, None, 60)[1].startswith(
        "Deadline exceeded: the job ran longer than 60 seconds"
    )
    assert "OOMKilled" in job_outcome(failed, pod(137, "OOMKilled"), 60)[1]
    # exit 143 is not a cancel (a user's cancel is recorded before the Job is deleted)
    stopped = job_outcome(failed, pod(143), 60)
    assert stopped[0].value == "failed" and "stopped by Kubernetes" in stopped[1]
    evicted = pod(143)
    evicted["status"] |= {"reason": "Evicted", "message": "The node was low on memory."}
    assert job_outcome(failed, evicted, 60)[:2] == (
        State.FAILED,
        "The job's pod was evicted: The node was low on memory.",
    )


def _terminated_pod(code: int, message: str | None) -> dict:
    terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}
    if message is not None:
        terminated["message"] = message
    return {
        "metadata": {"name": "p"},
        "status": {"containerStatuses": [{"state": {"terminated": terminated}}]},
    }


def test_ended_early_comes_from_the_executors_termination_message():
    ended = {"cellIndex": 1, "ename": "SystemExit", "evalue": "0"}
    message = json.dumps({"state": "succeeded", "endedEarly": ended})
    assert ended_early(_terminated_pod(0, message)) == ended
    ran_to_the_end = json.dumps({"state": "succeeded", "endedEarly": None})
    assert ended_early(_terminated_pod(0, ran_to_the_end)) is None
    # no message (an older executor, a runtime without termination messages), garbage, or a
    # message that does not say succeeded: nothing is claimed
    assert ended_early(_terminated_pod(0, None)) is None
    assert ended_early(_terminated_pod(0, "not json")) is None
    assert ended_early(_terminated_pod(0, "[1]")) is None
    failed = json.dumps({"state": "failed", "endedEarly": ended})
    assert ended_early(_terminated_pod(1, failed)) is None
    assert ended_early(None) is None
    odd = json.dumps({"state": "succeeded", "endedEarly": {"cellIndex": "2", "evalue": None}})
    assert ended_early(_terminated_pod(0, odd)) == {
        "cellIndex": None,
        "ename": "SystemExit",
        "evalue": "",
    }


def test_final_outcome_adds_where_a_success_ended_early_and_a_deleted_job():
    ended = {"cellIndex": 2, "ename": "SystemExit", "evalue": "0"}
    message = json.dumps({"state": "succeeded", "endedEarly": ended})
    assert final_outcome({"status": {"active": 1}}, None, 60) is None
    assert final_outcome({"status": {"succeeded": 1}}, _terminated_pod(0, message), 60) == (
        Outcome(State.SUCCEEDED, None, 0, ended)
    )
    # only a success says where it ended early
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    lying = json.dumps({"state": "succeeded", "endedEarly": ended})
    outcome = final_outcome(failed, _terminated_pod(1, lying), 60)
    assert (outcome.state, outcome.exit_code, outcome.ended_early) == (State.FAILED, 1, None)
    # the Job is gone before it ended: failed, with nothing read from a pod
    assert final_outcome(None, _terminated_pod(0, message), 60) == Outcome(
        State.FAILED, DELETED_OUTSIDE, None, None
    )


def test_a_job_that_ended_early_is_succeeded_with_where_it_ended(env):
    make, clock, kube = env
    service = make()
    service.logs_dir.mkdir(parents=True, exist_ok=True)  # what start() does
    job = run(service.submit(ALICE, {"path": "a.ipynb"}))
    run(service.tick())
    name = f"primehub-job-{job.id}"
    ended = {"cellIndex": 1, "ename": "SystemExit", "evalue": ""}
    message = json.dumps({"state": "succeeded", "endedEarly": ended})
    kube.pods[name] = [_terminated_pod(0, message)]
    kube.statuses[name] = {"succeeded": 1}
    run(service.tick())
    done = run(service.get(ALICE, job.id))
    assert (done.state.value, done.exit_code, done.reason) == ("succeeded", 0, None)
    assert done.ended_early == ended
    assert done.to_json()["endedEarly"] == ended
    # stored: a restarted service still says so
    again = run(make().get(ALICE, job.id))
    assert again.to_json()["endedEarly"] == ended


def test_pending_reason_quotes_the_scheduler():
    pod = {
        "status": {
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
                }
            ]
        }
    }
    assert pending_reason(pod) == (
        "Waiting for a node: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    )


def test_restart_reconciles_with_the_kubernetes_jobs(env):
    make, clock, kube = env
    service = make()
    done = run(service.submit(ALICE, {"path": "a.ipynb"}))
    gone = run(service.submit(ALICE, {"path": "b.ipynb"}))
    run(service.tick())
    assert run(service.get(ALICE, done.id)).state.value == "preparing"
    # while the service is down, one Job completes and the other is deleted by someone
    kube.statuses[f"primehub-job-{done.id}"] = {"succeeded": 1}
    kube.created = [m for m in kube.created if gone.id not in m["metadata"]["name"]]
    service = make()
    run(service.tick())
    assert run(service.get(ALICE, done.id)).state.value == "succeeded"
    lost = run(service.get(ALICE, gone.id))
    assert lost.state.value == "failed"
    assert lost.reason == "The Kubernetes Job was deleted outside PrimeHub before it finished."


def test_saved_logs_expire_after_the_retention_period(env, tmp_path):
    make, clock, _ = env
    service = make()
    job = run(service.submit(ALICE, {"path": "a.ipynb"}))
    job = run(service.cancel(ALICE, job.id))
    job.log_saved = True
    service.store.save_job(job)
    (tmp_path / "logs").mkdir(exist_ok=True)
    (tmp_path / "logs" / f"{job.id}.log").write_text("old output\n")
    clock.now += timedelta(days=6)
    run(service.tick())
    assert run(service.read_log(ALICE, job.id))[0] == b"old output\n"
    clock.now += timedelta(days=2)
    run(service.tick())
    assert not (tmp_path / "logs" / f"{job.id}.log").exists()
    expired = run(service.get(ALICE, job.id))
    assert expired.reason == "Cancelled by alice (log expired)"


def test_the_service_shares_the_pod_cache_without_loading_the_spawner():
    # one watch cache class for both hub processes, in its own module: the jobs service does
    # not import the KubeSpawner glue to get it
    code = (
        "import sys; import primehub_spawner.jobs.app; "
        "from primehub_spawner.jobs import kube; from primehub_spawner import podcache; "
        "assert kube.GroupPodReflector is podcache.GroupPodReflector; "
        "assert 'primehub_spawner.spawner' not in sys.modules, 'spawner.py was imported'; "
        "from primehub_spawner import spawner; "
        "assert spawner.GroupPodReflector is podcache.GroupPodReflector"
    )
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root)


def test_a_job_cut_off_before_its_kubernetes_job_was_created_is_queued_again(env):
    make, clock, kube = env
    service = make()
    job = run(service.submit(ALICE, {"path": "a.ipynb"}))

    async def stopped(manifest):  # the service stops between "preparing" and the create
        raise asyncio.CancelledError

    kube.create_job = stopped
    with pytest.raises(asyncio.CancelledError):
        run(service.tick())
    cut = run(service.get(ALICE, job.id))
    assert (cut.state.value, cut.reason) == ("preparing", "Creating the Kubernetes Job")
    assert kube.created == []
    del kube.create_job  # the next run of the service can create Jobs

    service = make()
    run(service.tick())
    again = run(service.get(ALICE, job.id))
    # never "deleted outside PrimeHub": queued again and launched in the same round
    assert (again.state.value, again.reason) == (
        "preparing",
        "Kubernetes Job created; waiting for its pod",
    )
    assert [m["metadata"]["name"] for m in kube.created] == [f"primehub-job-{job.id}"]

    # once its creation was confirmed, a Job that disappears was deleted outside PrimeHub
    kube.created = []
    run(service.tick())
    lost = run(service.get(ALICE, job.id))
    assert (lost.state.value, lost.reason) == ("failed", DELETED_OUTSIDE)


def test_a_job_created_just_before_the_service_stopped_is_not_created_twice(env):
    make, clock, kube = env
    service = make()
    job = run(service.submit(ALICE, {"path": "a.ipynb"}))

    async def created_then_stopped(manifest):  # the create went through, its answer did not
        kube.created.append(manifest)
        raise asyncio.CancelledError

    kube.create_job = created_then_stopped
    with pytest.raises(asyncio.CancelledError):
        run(service.tick())
    del kube.create_job
    assert run(service.get(ALICE, job.id)).reason == "Creating the Kubernetes Job"

    service = make()
    run(service.tick())  # the Job is listed: it was created, the record says so now
    seen = run(service.get(ALICE, job.id))
    assert (seen.state.value, seen.reason) == (
        "preparing",
        "Kubernetes Job created; waiting for its pod",
    )
    assert len(kube.created) == 1
    kube.created = []
    run(service.tick())
    assert run(service.get(ALICE, job.id)).reason == DELETED_OUTSIDE
