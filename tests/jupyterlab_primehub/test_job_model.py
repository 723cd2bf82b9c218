"""Validation of submit requests and listing queries (pure)."""

from __future__ import annotations

import pytest

from jupyterlab_primehub.jobs.model import (
    State,
    parse_job_request,
    parse_page,
    parse_status_filter,
)
from primehub_jobs_contract.errors import InvalidRequest


def test_minimal_request():
    request = parse_job_request({"path": "a.ipynb"})
    assert request.path == "a.ipynb"
    assert request.parameters == {} and request.name is None and request.timeout is None


def test_full_request():
    request = parse_job_request(
        {
            "path": "a.ipynb",
            "name": " train ",
            "parameters": {"alpha": 0.1, "tags": ["x"], "opts": {"k": None}},
            "kernel": "python3",
            "timeout": 30,
            "deadline": 60.5,
            "backend": "local",
            "instanceType": "cpu-1",
            "image": "base",
        }
    )
    assert request.name == "train"
    assert request.timeout == 30.0 and request.deadline == 60.5
    assert request.instance_type == "cpu-1"


@pytest.mark.parametrize(
    "body, message",
    [
        ([], "must be a JSON object"),
        ({}, "'path' is required"),
        ({"path": 3}, "'path' is required"),
        ({"path": "a.ipynb", "parameters": [1]}, "'parameters' must be a JSON object"),
        ({"path": "a.ipynb", "parameters": "alpha=1"}, "'parameters' must be a JSON object"),
        ({"path": "a.ipynb", "parameters": {"1x": 1}}, "not a valid variable name"),
        ({"path": "a.ipynb", "parameters": {"a b": 1}}, "not a valid variable name"),
        ({"path": "a.ipynb", "timeout": "10"}, "'timeout' must be a number"),
        ({"path": "a.ipynb", "timeout": True}, "'timeout' must be a number"),
        ({"path": "a.ipynb", "timeout": -1}, "positive"),
        ({"path": "a.ipynb", "deadline": 0}, "positive"),
        ({"path": "a.ipynb", "deadline": 10**12}, "at most"),
        ({"path": "a.ipynb", "name": 5}, "'name' must be a string"),
        ({"path": "a.ipynb", "name": "x" * 201}, "at most 200"),
        ({"path": "a.ipynb", "kernel": ["py"]}, "'kernel' must be a string"),
        ({"path": "a.ipynb", "colour": "red"}, "Unknown field"),
    ],
)
def test_bad_requests_name_the_field(body, message):
    with pytest.raises(InvalidRequest, match=message):
        parse_job_request(body)


def test_status_filter():
    assert parse_status_filter("") is None
    assert parse_status_filter("running") is State.RUNNING
    with pytest.raises(InvalidRequest, match="pending, preparing, running"):
        parse_status_filter("done")


@pytest.mark.parametrize("limit, offset, expected", [(None, None, (50, 0)), ("10", "20", (10, 20))])
def test_page(limit, offset, expected):
    assert parse_page(limit, offset) == expected


@pytest.mark.parametrize("limit, offset", [("0", None), ("x", None), ("10", "-1"), ("501", "0")])
def test_bad_page(limit, offset):
    with pytest.raises(InvalidRequest):
        parse_page(limit, offset)
