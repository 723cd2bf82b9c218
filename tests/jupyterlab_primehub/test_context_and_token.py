"""GET /primehub/api/context and the API token endpoints."""

from __future__ import annotations

import os
import socket
import stat

import pytest


@pytest.fixture
def server_env():
    return {
        "GROUP_NAME": "phusers",
        "GROUP_ID": "g-123",
        "INSTANCE_TYPE": "cpu-1",
        "IMAGE_NAME": "base",
    }


async def test_context_reports_this_servers_launch(api):
    code, context = await api.call("GET", "context")
    assert code == 200
    assert context["group"] == {"name": "phusers", "id": "g-123"}
    assert context["instanceType"] == "cpu-1"
    assert context["image"] == "base"
    assert [b["name"] for b in context["backends"]] == ["local"]
    assert context["defaultBackend"] == "local"
    assert "python3" in [k["name"] for k in context["kernels"]]


async def test_local_jobs_accept_only_this_servers_instance_type(api, jp_root_dir, notebook):
    notebook(jp_root_dir / "nb.ipynb", "1")
    code, reply = await api.call("POST", "jobs", body={"path": "nb.ipynb", "instanceType": "gpu-1"})
    assert code == 400 and "cpu-1" in reply["message"]
    code, job = await api.call(
        "POST", "jobs", body={"path": "nb.ipynb", "instanceType": "cpu-1", "image": "base"}
    )
    assert code == 201 and job["instanceType"] == "cpu-1" and job["image"] == "base"
    await api.wait(job["id"])


async def test_token_is_stored_privately_and_never_returned(api, jobs_dir, caplog):
    secret = "s3cr3t-token-value-abcd"
    code, info = await api.call("GET", "token")
    assert code == 200 and info == {"set": False, "source": None, "hint": None}

    code, info = await api.call("PUT", "token", body={"token": secret})
    assert code == 200
    assert info == {"set": True, "source": "user", "hint": "…abcd"}
    path = jobs_dir / "api-token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    code, info = await api.call("GET", "token")
    assert secret not in str(info)

    code, result = await api.call("POST", "token", "test")
    assert code == 200 and result["ok"] is False
    assert "No remote job backend" in result["message"]

    code, info = await api.call("DELETE", "token")
    assert code == 200 and info["set"] is False and not path.exists()
    assert secret not in caplog.text


@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": 5}, {"token": "a b"}, [1]])
async def test_bad_tokens_are_refused(api, body):
    code, reply = await api.call("PUT", "token", body=body)
    assert code == 400
    assert "'token'" in reply["message"] or "JSON object" in reply["message"]


async def test_hub_token_is_reported_as_the_source(api, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token-value-wxyz")
    # A hub API nobody listens on: the test endpoint says so instead of failing with a 500.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("JUPYTERHUB_API_URL", f"http://127.0.0.1:{port}/hub/api")
    code, info = await api.call("GET", "token")
    assert info == {"set": True, "source": "hub", "hint": "…wxyz"}
    code, result = await api.call("POST", "token", "test")
    assert code == 200 and result["ok"] is False
    assert "Cannot reach the hub API" in result["message"]
