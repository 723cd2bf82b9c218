"""The extension under a real JupyterHub (jupyterhub-singleuser, configurable-http-proxy):
context from the spawner's env, the hub's token, the token test, and idle-culling protection."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICE_TOKEN = "primehub-test-service-token-0123456789"
WAIT = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proxy() -> str:
    local = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
    found = str(local) if local.exists() else shutil.which("configurable-http-proxy")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("configurable-http-proxy is not installed (make setup installs it)")
        pytest.skip("configurable-http-proxy is not installed (make setup installs it)")
    return found


def _call(url: str, method: str = "GET", body: object = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Authorization": f"token {SERVICE_TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
            return response.status, json.loads(payload) if payload else None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def _until(predicate, what: str, timeout: float = WAIT):
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hub")
    port, hub_port, api_port = _free_port(), _free_port(), _free_port()
    jobs_dir = tmp / "jobs"
    (tmp / "jupyterhub_config.py").write_text(
        f"""
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{_proxy()!r}]
c.JupyterHub.db_url = "sqlite:///{tmp}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{tmp}/cookie_secret"
c.Authenticator.allow_all = True
c.JupyterHub.services = [{{"name": "tester", "api_token": {SERVICE_TOKEN!r}}}]
c.JupyterHub.load_roles = [{{"name": "tester", "services": ["tester"],
    "scopes": ["admin:users", "admin:servers", "access:servers"]}}]
c.SimpleLocalProcessSpawner.home_dir_template = "{tmp}/home/{{username}}"
c.Spawner.cmd = [{str(Path(sys.executable).parent / "jupyterhub-singleuser")!r}]
c.Spawner.args = ["--allow-root", "--PrimeHubApp.jobs_dir={jobs_dir}",
                  "--PrimeHubApp.poll_interval=0.2"]
c.Spawner.environment = {{"GROUP_NAME": "phusers", "GROUP_ID": "g1", "INSTANCE_TYPE": "cpu-1",
                          "IMAGE_NAME": "base", "JUPYTERHUB_ACTIVITY_INTERVAL": "1"}}
c.Spawner.start_timeout = {WAIT}
"""
    )
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    log = open(tmp / "hub.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(tmp / "jupyterhub_config.py")],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        assert proc.poll() is None, (tmp / "hub.log").read_text()[-3000:]
        try:
            return _call(f"{base}/hub/api/")[0] == 200
        except OSError:
            return False

    try:
        _until(up, "JupyterHub to start")
        assert _call(f"{base}/hub/api/users/alice", "POST")[0] == 201
        assert _call(f"{base}/hub/api/users/alice/server", "POST")[0] in (201, 202)

        def ready():
            user = _call(f"{base}/hub/api/users/alice")[1]
            return (user.get("servers") or {}).get("", {}).get("ready")

        _until(ready, "alice's server to be ready")
        home = tmp / "home" / "alice"
        yield {"base": base, "server": f"{base}/user/alice", "home": home, "jobs": jobs_dir}
        _call(f"{base}/hub/api/users/alice/server", "DELETE")
        _until(lambda: not ready(), "alice's server to stop", timeout=60)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()


def test_context_and_token_come_from_the_hub(hub):
    code, context = _call(f"{hub['server']}/primehub/api/context")
    assert code == 200
    assert (context["user"], context["group"]) == ("alice", {"name": "phusers", "id": "g1"})
    assert (context["instanceType"], context["image"], context["inHub"]) == ("cpu-1", "base", True)
    code, info = _call(f"{hub['server']}/primehub/api/token")
    assert code == 200 and info["set"] is True and info["source"] == "hub"
    code, result = _call(f"{hub['server']}/primehub/api/token/test", "POST")
    assert code == 200 and result == {"ok": True, "message": "The hub token works (user alice)."}


def test_running_job_keeps_the_server_active_for_the_hub(hub):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("import time; time.sleep(6)"),
    ]
    nbformat.write(nb, str(hub["home"] / "busy.ipynb"))
    code, job = _call(f"{hub['server']}/primehub/api/jobs", "POST", {"path": "busy.ipynb"})
    assert code == 201, job
    # From here on nobody talks to the server: only the job can make it look active.
    status_file = hub["jobs"] / job["id"] / "status.json"

    def finished():
        try:
            status = json.loads(status_file.read_text())
        except (OSError, ValueError):
            return None
        return status if status.get("state") in ("succeeded", "failed", "cancelled") else None

    assert _until(finished, "the job to finish")["state"] == "succeeded"
    out = nbformat.read(hub["home"] / job["outputPath"], as_version=4)
    sleep_started = datetime.fromisoformat(
        out.cells[1].metadata["papermill"]["start_time"].replace("Z", "+00:00")
    )

    def reported_after_sleep_started():
        user = _call(f"{hub['base']}/hub/api/users/alice")[1]
        last = user["servers"][""]["last_activity"]
        return datetime.fromisoformat(last.replace("Z", "+00:00")) > sleep_started

    _until(reported_after_sleep_started, "the hub to hear of activity during the job", 60)
