"""Pausing and resuming a schedule through its update (``PATCH {"paused": true|false}``), as the
JupyterLab jobs panel does: a paused schedule keeps its recurrence, never fires, and may still
be run by hand; resuming picks the next matching time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_jobs_service import ALICE, env, run  # noqa: F401  (fixture)

from primehub_jobs_contract.errors import JobsError


def test_a_paused_schedule_keeps_its_cron_never_fires_and_resumes(env):  # noqa: F811
    make, clock, _ = env
    service = make()
    body = {"path": "a.ipynb", "recurrence": "custom", "cron": "*/5 * * * *"}
    schedule = run(service.create_schedule(ALICE, body))
    with pytest.raises(JobsError, match="'paused' must be true or false, got 'yes'"):
        run(service.update_schedule(ALICE, schedule.id, {"paused": "yes"}))

    paused = run(service.update_schedule(ALICE, schedule.id, {"paused": True}))
    assert (paused.recurrence, paused.cron, paused.next_run) == ("custom", "*/5 * * * *", None)
    clock.now += timedelta(minutes=30)
    run(service.tick())
    assert run(service.get_schedule(ALICE, schedule.id)).runs == 0

    # "run now" still works while paused, and leaves it paused
    job = run(service.run_schedule(ALICE, schedule.id))
    after = run(service.get_schedule(ALICE, schedule.id))
    assert (after.runs, after.last_job_id, after.next_run) == (1, job.id, None)

    resumed = run(service.update_schedule(ALICE, schedule.id, {"paused": False}))
    assert resumed.next_run is not None and resumed.next_run > clock.now
    assert resumed.next_run.minute % 5 == 0 and resumed.runs == 1
    assert resumed.next_run - clock.now <= timedelta(minutes=5)
