"""Bad input gets the right 4xx with a message, and creates nothing."""

from __future__ import annotations

import json
import os

import pytest

from primehub_jobs_contract.validation import JOB_ID


@pytest.fixture
def layout(jp_root_dir, tmp_path, notebook):
    """A root with a notebook, a non-notebook, junk, and escapes to a notebook outside it."""
    notebook(jp_root_dir / "ok.ipynb", "1")
    notebook(tmp_path / "outside" / "secret.ipynb", "1")
    (jp_root_dir / "data.txt").write_text("not a notebook")
    (jp_root_dir / "junk.ipynb").write_text("{ not json")
    (jp_root_dir / "folder.ipynb").mkdir()
    os.symlink(tmp_path / "outside" / "secret.ipynb", jp_root_dir / "link.ipynb")
    os.symlink(tmp_path / "outside", jp_root_dir / "linkdir")
    return tmp_path / "outside"


def _cases(outside_marker: str) -> list:
    return [
        # (body, status, words in the message)
        ({"path": "../outside/secret.ipynb"}, 400, "outside the server's root"),
        ({"path": "sub/../../outside/secret.ipynb"}, 400, "outside the server's root"),
        ({"path": outside_marker}, 400, "outside the server's root"),
        ({"path": "link.ipynb"}, 403, "outside the server's root"),
        ({"path": "linkdir/secret.ipynb"}, 403, "outside the server's root"),
        ({"path": "missing.ipynb"}, 400, "No such notebook"),
        ({"path": "data.txt"}, 400, "not a notebook"),
        ({"path": "folder.ipynb"}, 400, "not a notebook"),
        ({"path": "junk.ipynb"}, 400, "not a valid notebook"),
        ({"path": "ok.ipynb\x00.txt"}, 400, "NUL"),
        ({"path": ""}, 400, "'path' is required"),
        ({"path": "."}, 400, "not the root folder"),
        ({"path": "ok.ipynb", "parameters": [1, 2]}, 400, "'parameters' must be a JSON object"),
        ({"path": "ok.ipynb", "parameters": {"bad-name": 1}}, 400, "not a valid variable name"),
        ({"path": "ok.ipynb", "timeout": "soon"}, 400, "'timeout' must be a number"),
        ({"path": "ok.ipynb", "deadline": -5}, 400, "positive"),
        ({"path": "ok.ipynb", "kernel": "nope"}, 400, "Unknown kernel 'nope'; available:"),
        (
            {"path": "ok.ipynb", "backend": "slurm"},
            400,
            "Unknown backend 'slurm'; available: local",
        ),
        ({"path": "ok.ipynb", "instanceType": "gpu-9"}, 400, "instanceType"),
        ({"path": "ok.ipynb", "name": 42}, 400, "'name' must be a string"),
        ([{"path": "ok.ipynb"}], 400, "must be a JSON object"),
    ]


async def _assert_nothing_created(api, jobs_dir):
    code, page = await api.call("GET", "jobs")
    assert code == 200 and page["total"] == 0
    # job folders (named by job id); the pre-started kernels' folder `warm` is not a job
    leftovers = (
        [p.name for p in jobs_dir.iterdir() if JOB_ID.match(p.name)] if jobs_dir.exists() else []
    )
    assert leftovers == []


async def test_bad_submissions_are_refused_with_a_message(api, layout, jobs_dir):
    for body, status, words in _cases(str(layout / "secret.ipynb")):
        code, reply = await api.call("POST", "jobs", body=body)
        assert (code, words in reply.get("message", "")) == (status, True), (body, code, reply)
    await _assert_nothing_created(api, jobs_dir)


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"null", b"\xff\xfe", b'"ok.ipynb"', json.dumps({"path": None}).encode()]
)
async def test_malformed_bodies(api, layout, jobs_dir, raw):
    code, reply = await api.call("POST", "jobs", raw=raw)
    assert code == 400 and reply["message"]
    await _assert_nothing_created(api, jobs_dir)


@pytest.mark.parametrize(
    "method, parts",
    [
        ("GET", ("jobs", "0123456789ab")),
        ("GET", ("jobs", "..")),
        ("GET", ("jobs", "0123456789ab", "log")),
        ("GET", ("jobs", "0123456789ab", "artifacts")),
        ("POST", ("jobs", "0123456789ab", "cancel")),
        ("DELETE", ("jobs", "not-a-job")),
    ],
)
async def test_unknown_job_ids_are_404(api, method, parts):
    code, reply = await api.call(method, *parts)
    assert code == 404 and "No job with id" in reply["message"]


@pytest.mark.parametrize(
    "params, words",
    [({"limit": "x"}, "'limit'"), ({"offset": "-3"}, "'offset'"), ({"status": "ok"}, "status")],
)
async def test_bad_listing_queries(api, params, words):
    code, reply = await api.call("GET", "jobs", params=params)
    assert code == 400 and words in reply["message"]


async def test_requests_without_token_or_xsrf_are_refused(api, layout, jobs_dir):
    body = json.dumps({"path": "ok.ipynb"}).encode()
    for headers in ({"Authorization": ""}, {"Authorization": "token wrong"}):
        response = await api.fetch(
            "primehub", "api", "jobs", method="POST", body=body, headers=headers, raise_error=False
        )
        assert response.code == 403
        response = await api.fetch("primehub", "api", "context", headers=headers, raise_error=False)
        assert response.code == 403
    # A browser session cookie without the XSRF token is refused too.
    response = await api.fetch(
        "primehub",
        "api",
        "jobs",
        method="POST",
        body=body,
        headers={"Authorization": "", "Cookie": "username-127-0-0-1=anything"},
        raise_error=False,
    )
    assert response.code == 403
    await _assert_nothing_created(api, jobs_dir)


async def test_conflicting_actions(api, jp_root_dir, notebook):
    notebook(jp_root_dir / "long.ipynb", "import time\ntime.sleep(300)")
    job = await api.submit(path="long.ipynb")
    await api.wait(job["id"], "running")
    code, reply = await api.call("DELETE", "jobs", job["id"])
    assert code == 409 and "cancel it" in reply["message"]
    code, _ = await api.call("POST", "jobs", job["id"], "cancel")
    assert code == 200
    done = await api.wait(job["id"])
    assert done["status"] == "cancelled"
    code, _ = await api.call("DELETE", "jobs", job["id"])
    assert code == 204
