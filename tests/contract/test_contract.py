"""The contract: one wording for request errors on both sides, the executor's spec file."""

from __future__ import annotations

import json

import pytest

from jupyterlab_primehub.jobs.model import parse_job_request
from primehub_jobs_contract.errors import InvalidRequest, JobsError, NotFound, Unavailable
from primehub_jobs_contract.executor import (
    SPEC_ANNOTATION,
    ExecutorSpec,
    SpecError,
    executor_command,
    pod_spec_path,
    pod_spec_volume,
)
from primehub_jobs_contract.states import State
from primehub_jobs_contract.status import termination_message
from primehub_jobs_contract.times import from_iso, iso, utcnow
from primehub_spawner.jobs.requests import parse_submit

BAD_FIELDS = [
    {"timeout": True},
    {"timeout": 0},
    {"timeout": -5},
    {"timeout": float("inf")},
    {"deadline": "soon"},
    {"deadline": 10**9},
    {"name": 7},
    {"name": "x" * 201},
    {"name": "two\nlines"},
    {"parameters": []},
    {"parameters": {"1bad": 1}},
    {"parameters": {"a": float("nan")}},
    {"parameters": {f"p{i}": i for i in range(201)}},
    {"kernel": ["python3"]},
    {"image": "x" * 5000},
    {"colour": "red"},
]


@pytest.mark.parametrize("fields", BAD_FIELDS, ids=lambda f: ",".join(f))
def test_both_sides_refuse_a_bad_field_with_the_same_words(fields):
    """The lab's submit and the hub service's submit answer one mistake with one message."""
    with pytest.raises(InvalidRequest) as lab:
        parse_job_request({"path": "a.ipynb", **fields}, max_seconds=366 * 86400)
    with pytest.raises(InvalidRequest) as hub:
        parse_submit({"path": "a.ipynb", **fields}, max_deadline=366 * 86400)
    # the allowed field lists differ (the hub takes a group, the lab a backend): compare the rest
    assert lab.value.message.split("; allowed")[0] == hub.value.message.split("; allowed")[0]
    assert lab.value.status_code == hub.value.status_code == 400


def test_one_error_base_carries_the_http_status():
    assert issubclass(InvalidRequest, JobsError) and issubclass(NotFound, JobsError)
    assert (InvalidRequest("x").status_code, NotFound("x").status_code) == (400, 404)
    assert Unavailable("x").status_code == 503
    assert JobsError("x", 403).status_code == 403


def test_times_round_trip_at_millisecond_precision():
    now = utcnow()
    text = iso(now)
    assert text.endswith("Z") and len(text.split(".")[1]) == 4  # 3 digits + Z
    assert from_iso(text) == now
    assert iso(None) is None and from_iso("") is None


def test_states():
    assert [s for s in State if s.is_final] == [State.SUCCEEDED, State.FAILED, State.CANCELLED]
    assert State("preparing").is_active


def test_the_spec_round_trips_and_names_what_is_wrong(tmp_path):
    spec = ExecutorSpec(
        input="/p/in.ipynb", output="/p/out.ipynb", parameters={"a": [1, 2]}, timeout=30.0
    )
    path = tmp_path / "spec.json"
    spec.write(path)
    assert ExecutorSpec.read(path) == spec
    # whole seconds written by another tool are fine
    assert ExecutorSpec.from_json('{"input": "a", "output": "b", "timeout": 5}').timeout == 5.0
    with pytest.raises(SpecError, match="'output' is required"):
        ExecutorSpec.from_json('{"input": "a"}')
    with pytest.raises(SpecError, match="'parameters' must be a dict"):
        ExecutorSpec.from_json('{"input": "a", "output": "b", "parameters": [1]}')
    with pytest.raises(SpecError, match="'timeout' must be a float"):
        ExecutorSpec.from_json('{"input": "a", "output": "b", "timeout": true}')
    with pytest.raises(SpecError, match="not JSON"):
        ExecutorSpec.from_json("{")
    path.write_text(" " * (200 * 1024))
    with pytest.raises(SpecError, match="larger than"):
        ExecutorSpec.read(path)


def test_the_pod_reads_its_spec_from_its_own_annotation():
    volume, mount = pod_spec_volume()
    item = volume["downwardAPI"]["items"][0]
    assert item["fieldRef"]["fieldPath"] == f"metadata.annotations['{SPEC_ANNOTATION}']"
    assert f"{mount['mountPath']}/{item['path']}" == pod_spec_path()
    assert mount["readOnly"] is True
    assert executor_command(pod_spec_path()) == [
        "python",
        "-m",
        "primehub_executor",
        pod_spec_path(),
    ]


def test_termination_message_is_short():
    message = termination_message(
        {
            "state": "succeeded",
            "endedEarly": {"cellIndex": 2, "ename": "SystemExit", "evalue": "0" * 9000},
        }
    )
    assert len(message) < 400
    assert json.loads(message)["endedEarly"]["cellIndex"] == 2


@pytest.mark.parametrize("name", ["class", "lambda", "None", "True"])
def test_a_parameter_named_like_a_python_keyword_is_refused(name):
    with pytest.raises(InvalidRequest, match="is a Python keyword"):
        parse_job_request({"path": "a.ipynb", "parameters": {name: 1}})
    with pytest.raises(InvalidRequest, match="is a Python keyword"):
        parse_submit({"path": "a.ipynb", "parameters": {name: 1}}, max_deadline=60)


def test_parameters_are_capped_in_size_on_both_sides():
    big = {"blob": "x" * (65 * 1024)}
    with pytest.raises(InvalidRequest, match="at most 64 KiB"):
        parse_job_request({"path": "a.ipynb", "parameters": big})
    with pytest.raises(InvalidRequest, match="at most 64 KiB"):
        parse_submit({"path": "a.ipynb", "parameters": big}, max_deadline=60)
    assert parse_job_request({"path": "a.ipynb", "parameters": {"blob": "x" * 1000}}).parameters


def test_a_soft_keyword_is_a_valid_parameter_name():
    assert parse_job_request({"path": "a.ipynb", "parameters": {"match": 1}}).parameters
