"""The hub's job-admissions API (one quota ledger for notebooks and jobs) on a real hub.

The race it exists for is played in ``tests/fault/test_one_ledger_race.py``.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.cluster


def test_the_job_admissions_api_is_only_for_the_jobs_service(hub):
    hub.create_user("racer")
    body = {
        "job": "0123456789ab",
        "user": "racer",
        "group": "race",
        "instanceType": "cpu-small",
        "namespace": "x",
    }
    # a user's own token (even an admin's harness token lacks the custom scope) is refused
    for token in (hub.user_token("racer"), None):
        resp = hub.api("POST", "/primehub/job-admissions", token=token, json=body)
        assert resp.status_code == 403, resp.text
        assert "custom:primehub:admit-jobs" in resp.json()["message"]
