"""Property-based fuzzing of the hub's ``primehub-jobs`` REST API on the local cluster.

Generated submissions and schedules (random bodies, unicode, traversal and huge values), ids,
suffixes, query parameters and raw bodies, sent with a user's token through the hub's proxy to
the real service: never a 5xx, every refusal a 4xx with a JSON message, and another user's job
is never visible. The fuzzer's user may launch only the ``parked`` instance type, whose pods
wait for a node that never comes: accepted jobs load nothing, and are cancelled at once.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from localk8s.testing import wait_for

from .fuzzcount import HUB_JOBS, sent

pytestmark = pytest.mark.cluster

USER, PEER = "jobfuzzer", "jobfuzz-peer"
FUZZ = settings(max_examples=700, deadline=None, suppress_health_check=list(HealthCheck))
HUGE = "x" * 100_000
SUBMIT_FIELDS = ["id", "group", "path", "output", "snapshot", "snapshotSha256", "name",
                 "instanceType", "image", "parameters", "kernel", "timeout",
                 "deadline"]  # fmt: skip
PATHS = [
    "nb.ipynb", "sub/nb.ipynb", "/project/jobfuzz/nb.ipynb", "/project/faults/nb.ipynb",
    "/project/jobfuzz/../faults/nb.ipynb", "../faults/nb.ipynb", "a/../../x.ipynb",
    ".primehub-jobs/0123456789ab/input.ipynb", "訓練/訓練.ipynb", "ü🙂.ipynb", "nb.ipynb\x00",
    "a\\b.ipynb", "", ".", "..", "~/nb.ipynb", "%2e%2e/nb.ipynb", "nb.txt", "/", "//etc/passwd",
    HUGE + ".ipynb", " nb.ipynb ", "\u202enb.ipynb", "nb.ipynb/..",
]  # fmt: skip

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from([HUGE, 10**40, -(10**40), 1e308, -0.0, "\x00", "訓練", "../.."])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
paths = (
    st.sampled_from(PATHS) | st.text(max_size=40) | st.text(max_size=30).map(lambda s: s + ".ipynb")
)
groups = st.sampled_from(["jobfuzz", "faults", "other", "", "JobFuzz", "../jobfuzz", "訓練"])
param_names = st.sampled_from(["x", "lr", "class", "bad-name", "_", "訓練", "a" * 300])
submit_fields: dict[str, Any] = {
    "group": groups | json_values,
    "name": st.text(max_size=300) | json_values,
    "parameters": st.dictionaries(param_names | st.text(max_size=10), json_values, max_size=4)
    | json_values,
    "instanceType": st.sampled_from(["parked", "cpu-small", "gpu-1", ""]) | json_values,
    "image": st.sampled_from(["base", "cuda", ""]) | json_values,
    "kernel": st.sampled_from(["python3", "ir", ""]) | json_values,
    "timeout": st.sampled_from([1, 60, 0, -1, 1e12, float("nan")]) | json_values,
    "deadline": st.sampled_from([60, 0, -5, 10**9, "x"]) | json_values,
    "id": st.sampled_from(["0123456789ab", "ABCDEF012345", "../../x", ""]) | json_values,
    "output": paths | json_values,
    "snapshot": paths | json_values,
    "snapshotSha256": st.sampled_from(["0" * 64, "z" * 64, ""]) | json_values,
}
submits = st.fixed_dictionaries({"path": paths}, optional=submit_fields) | st.dictionaries(
    st.sampled_from([*SUBMIT_FIELDS, "status", "user", "__proto__"]), json_values
)
schedule_fields = {
    k: v
    for k, v in submit_fields.items()
    if k not in ("id", "output", "snapshot", "snapshotSha256")
}
schedule_fields |= {
    "recurrence": st.sampled_from(["inactive", "daily", "weekly", "monthly", "custom", "hourly"])
    | json_values,
    "cron": st.sampled_from(
        ["* * * * *", "0 4 * * *", "61 * * * *", "*/0 * * * *", "a b c d e", "1-0 * * * *", ""]
    )
    | st.text(max_size=30)
    | json_values,
    "timezone": st.sampled_from(["UTC", "Asia/Taipei", "Mars/Base", "../../etc/passwd", ""])
    | json_values,
}
schedules = st.fixed_dictionaries(
    {"path": paths, "recurrence": st.sampled_from(["inactive", "custom", "daily"])},
    optional={k: v for k, v in schedule_fields.items() if k != "recurrence"},
) | st.dictionaries(st.sampled_from([*schedule_fields, "path", "id"]), json_values)


class Client:
    """A user's client of the service (through the hub's proxy), counting each request."""

    def __init__(self, hub: Any, token: str) -> None:
        self.base = hub.url + "/services/primehub-jobs/api/"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"token {token}"
        self.accepted: list[str] = []
        self.schedules: list[str] = []
        self.own_job = self.peer_job = self.own_schedule = ""

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        sent(HUB_JOBS)
        if "json" in kwargs:  # NaN and Infinity go out as Python writes them
            kwargs["data"] = json.dumps(kwargs.pop("json"))
            kwargs.setdefault("headers", {})["Content-Type"] = "application/json"
        return self.session.request(method, self.base + path, timeout=60, **kwargs)


def check(resp: requests.Response, routed: bool = True) -> None:
    """Never a 5xx; a refusal of a routed request is JSON with a message."""
    assert resp.status_code < 500, (
        f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text}"
    )
    if routed and resp.status_code >= 400:
        assert resp.json().get("message"), resp.text


@pytest.fixture(scope="module")
def jobs(fault_hub) -> Any:
    """jobfuzzer's client, with one job and one schedule of theirs, and a job of another user."""
    for name in (USER, PEER):
        fault_hub.create_user(name)
    client = Client(fault_hub, fault_hub.user_token(USER))
    peer = Client(fault_hub, fault_hub.user_token(PEER))
    wait_for(lambda: client.call("GET", "context").status_code == 200, 120, what="primehub-jobs")
    body = {"path": "nb.ipynb", "instanceType": "parked"}
    client.own_job = client.call("POST", "jobs", json=body).json()["id"]
    client.accepted.append(client.own_job)
    client.peer_job = peer.call("POST", "jobs", json=body).json()["id"]
    resp = client.call("POST", "schedules", json={**body, "recurrence": "inactive"})
    assert resp.status_code == 201, resp.text
    client.own_schedule = resp.json()["id"]
    yield client
    for job_id in [*client.accepted, client.peer_job]:
        (peer if job_id == client.peer_job else client).call("POST", f"jobs/{job_id}/cancel")
    for schedule_id in [*client.schedules, client.own_schedule]:
        client.call("DELETE", f"schedules/{schedule_id}")


@FUZZ
@given(submits)
@example({"path": "訓練/訓練.ipynb", "name": "訓練", "instanceType": "parked"})
@example({"path": HUGE + ".ipynb"})
@example({"path": "nb.ipynb", "parameters": {"x": 10**40}, "instanceType": "parked"})
def test_generated_submissions_never_fail_the_service(jobs, body):
    resp = jobs.call("POST", "jobs", json=body)
    check(resp)
    if resp.status_code == 201:
        job = resp.json()
        jobs.accepted.append(job["id"])
        assert job["group"] == "jobfuzz" and job["instanceType"] == "parked", job
        assert not job["path"].startswith(("/", "../")) and "/../" not in job["path"], job
        cancel = jobs.call("POST", f"jobs/{job['id']}/cancel")
        check(cancel)
        assert cancel.status_code in (200, 409), cancel.text


@FUZZ
@given(schedules)
@example({"path": "nb.ipynb", "recurrence": "custom", "cron": "0 4 * * *", "timezone": "訓練"})
def test_generated_schedules_never_fail_the_service(jobs, body):
    resp = jobs.call("POST", "schedules", json=body)
    check(resp)
    if resp.status_code == 201:
        schedule_id = resp.json()["id"]
        deleted = jobs.call("DELETE", f"schedules/{schedule_id}")
        check(deleted)
        if deleted.status_code != 204:
            jobs.schedules.append(schedule_id)


@FUZZ
@given(
    schedule_fields
    and st.dictionaries(st.sampled_from([*schedule_fields, "path", "id"]), json_values)
)
def test_generated_schedule_updates_never_fail_the_service(jobs, body):
    resp = jobs.call("PATCH", f"schedules/{jobs.own_schedule}", json=body)
    check(resp)


ids = st.sampled_from(["own", "peer", "0" * 12, "ffffffffffff", "..", "%2e%2e", "訓練"]) | st.text(
    max_size=30
)


@settings(max_examples=1200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(["GET", "POST", "DELETE", "PATCH", "PUT"]),
    st.sampled_from(["jobs", "schedules"]),
    ids,
    st.sampled_from(["", "/log", "/cancel", "/run", "/artifacts", "/../../context", "/"]),
)
def test_generated_ids_and_routes_never_fail_the_service(jobs, method, collection, item, suffix):
    item = {"own": jobs.own_job if collection == "jobs" else jobs.own_schedule}.get(item, item)
    item = jobs.peer_job if item == "peer" else item
    if method == "POST" and suffix in ("/run",) and item == jobs.own_schedule:
        suffix = "/cancel"  # running the schedule starts jobs: the submit fuzzer covers those
    if method == "DELETE" and item == jobs.own_schedule:
        method = "GET"  # keep the schedule the update fuzzer needs
    resp = jobs.call(method, f"{collection}/{quote(item, safe='')}{suffix}")
    routed = resp.headers.get("Content-Type", "").startswith("application/json")
    check(resp, routed)
    if item == jobs.peer_job and ".." not in suffix:  # another user's job is never visible
        assert resp.status_code in (404, 405), resp.text


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(["jobs", "own/log"]),
    st.dictionaries(
        st.sampled_from(["status", "limit", "offset", "cursor", "download"]) | st.text(max_size=5),
        st.sampled_from(
            [
                "",
                "0",
                "-1",
                "1e9",
                "99999999999999999999",
                "running,pending",
                "x",
                "2026-03-01T10:00:00Z,1",
                "訓練",
                HUGE[:3000],
            ]
        )
        | st.text(max_size=30),
        max_size=4,
    ),  # fmt: skip
)
def test_generated_query_parameters_never_fail_the_service(jobs, path, params):
    path = path.replace("own", f"jobs/{jobs.own_job}")
    check(jobs.call("GET", path, params=params))


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["POST jobs", "POST schedules", "PATCH schedule"]), st.binary(max_size=300))
def test_raw_bodies_never_fail_the_service(jobs, target, raw):
    method, path = target.split()
    path = f"schedules/{jobs.own_schedule}" if path == "schedule" else path
    resp = jobs.call(method, path, data=raw, headers={"Content-Type": "application/json"})
    check(resp)
    if resp.status_code == 201 and path == "jobs":
        jobs.accepted.append(resp.json()["id"])
    elif resp.status_code == 201:
        jobs.schedules.append(resp.json()["id"])
