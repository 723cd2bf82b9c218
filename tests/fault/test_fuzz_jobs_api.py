"""Property-based fuzzing of the jobs REST API of a real jupyter server with our extension.

Thousands of generated submissions, queries and raw bodies: never a 5xx, every refusal is a
4xx with a message, and the only jobs that exist afterwards are the accepted (201) ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.jupyter_server import JupyterServer, start_server

from .conftest import executor_pids, write_notebook
from .fuzzcount import SINGLE_USER, sent

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
VALID_PATHS = {"ok.ipynb", "sub/other.ipynb", "./ok.ipynb", "sub/../ok.ipynb"}
PATHS = sorted(
    VALID_PATHS
    | {
        "../outside/secret.ipynb", "/etc/passwd", "link.ipynb", "linkdir/secret.ipynb",
        "data.txt", "junk.ipynb", "folder.ipynb", "missing.ipynb", "", ".", "ok.ipynb\x00.txt",
        "sub", "~/ok.ipynb", "%2e%2e/outside/secret.ipynb", "ok.ipynb/..",
    }
)  # fmt: skip
FIELDS = ["path", "name", "parameters", "kernel", "timeout", "deadline", "backend",
          "instanceType", "image"]  # fmt: skip

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
param_names = st.sampled_from(["x", "y", "label", "bad-name", "class", "_", "x1"]) | st.text(
    max_size=10
)
bodies = st.fixed_dictionaries(
    {"path": st.sampled_from(PATHS) | st.text(max_size=30)},
    optional={
        "name": st.text(max_size=300) | json_values,
        "parameters": st.dictionaries(param_names, json_values, max_size=4) | json_values,
        "kernel": st.sampled_from(["python3", "nope", ""]) | json_values,
        "timeout": st.sampled_from([1, 60, 0, -1, "soon", 1e12]) | json_values,
        "deadline": st.sampled_from([60, 0, -5, "x"]) | json_values,
        "backend": st.sampled_from(["local", "kubernetes", "slurm"]) | json_values,
        "instanceType": st.sampled_from(["cpu-1", "gpu-9"]) | json_values,
        "image": st.sampled_from(["base", ""]) | json_values,
    },
) | st.dictionaries(st.sampled_from([*FIELDS, "id", "status", "__proto__"]), json_values)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> JupyterServer:
    tmp = tmp_path_factory.mktemp("fuzz")
    root = tmp / "root"
    write_notebook(root / "ok.ipynb", "x * 2", parameters="x = 1")
    write_notebook(root / "sub" / "other.ipynb", "print(label)", parameters="label = 'a'")
    write_notebook(tmp / "outside" / "secret.ipynb", "1")
    (root / "data.txt").write_text("not a notebook")
    (root / "junk.ipynb").write_text("{ not json")
    (root / "folder.ipynb").mkdir()
    os.symlink(tmp / "outside" / "secret.ipynb", root / "link.ipynb")
    os.symlink(tmp / "outside", root / "linkdir")
    # one job at a time: accepted jobs queue instead of loading the machine
    srv = start_server(root, tmp / "jobs", config={"max_concurrent_jobs": 1})
    srv.accepted = []  # type: ignore[attr-defined]
    yield srv
    for job_id in srv.accepted:  # type: ignore[attr-defined]
        srv.request("POST", f"jobs/{job_id}/cancel")
    srv.stop()
    for pid in executor_pids(srv.jobs_dir):
        os.kill(pid, 9)


def request(server: JupyterServer, method: str, path: str, **kwargs: Any) -> Any:
    """One request to the server's jobs API, counted (``fuzzcount``)."""
    sent(SINGLE_USER)
    return server.request(method, path, **kwargs)


def check_response(resp: Any) -> None:
    assert resp.status_code < 500, f"{resp.status_code}: {resp.text}"
    if resp.status_code >= 400:
        assert resp.json().get("message"), resp.text


@FUZZ
@given(bodies)
def test_generated_submissions_never_fail_the_server(server, body):
    # json.dumps (not requests' json=): NaN and Infinity are sent as Python writes them
    resp = request(
        server, "POST", "jobs", data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    check_response(resp)
    if resp.status_code == 201:
        job = resp.json()
        server.accepted.append(job["id"])
        # only real notebooks inside the root are ever accepted
        assert os.path.normpath(body["path"]) in {os.path.normpath(p) for p in VALID_PATHS}
        assert job["status"] in ("pending", "running", "succeeded", "failed")


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(["", "pending", "running", "nope", "SUCCEEDED"]) | st.text(max_size=10),
    st.sampled_from(["", "0", "10", "-1", "1e9", "x", "99999999999999999999"]) | st.text(),
    st.sampled_from(["", "0", "5", "-3", "y"]) | st.text(max_size=10),
)
def test_generated_listing_queries_never_fail_the_server(server, status, limit, offset):
    params = {k: v for k, v in (("status", status), ("limit", limit), ("offset", offset)) if v}
    resp = request(server, "GET", "jobs", params=params)
    check_response(resp)
    if resp.status_code == 200:
        data = resp.json()
        assert isinstance(data["jobs"], list) and data["total"] >= len(data["jobs"])


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(["GET", "POST", "DELETE"]),
    st.sampled_from(["", "/log", "/cancel", "/artifacts"]),
    st.text(alphabet="abcdef0123456789-_.%~", max_size=40),
)
def test_generated_job_ids_never_fail_the_server(server, method, suffix, job_id):
    resp = request(server, method, f"jobs/{job_id}{suffix}")
    assert resp.status_code < 500, f"{method} jobs/{job_id}{suffix}: {resp.status_code}"


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=200))
def test_raw_bodies_never_fail_the_server(server, raw):
    resp = request(server, "POST", "jobs", data=raw, headers={"Content-Type": "application/json"})
    check_response(resp)
    if resp.status_code == 201:
        server.accepted.append(resp.json()["id"])


def test_only_accepted_submissions_created_jobs(server):
    # runs after the fuzzers in this module (file order): nothing refused left a job behind
    listed: set[str] = set()
    while True:
        resp = server.request("GET", "jobs", params={"limit": "500", "offset": str(len(listed))})
        assert resp.status_code == 200, resp.text
        page = resp.json()["jobs"]
        listed |= {j["id"] for j in page}
        if not page:
            break
    assert listed == set(server.accepted)
    # job folders are named by job id (other folders, e.g. warm/ of pre-started kernels, are not)
    job_dirs = {
        p.name
        for p in Path(server.jobs_dir).iterdir()
        if p.is_dir() and len(p.name) == 12 and set(p.name) <= set("0123456789abcdef")
    }
    assert job_dirs <= set(server.accepted)
