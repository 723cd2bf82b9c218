"""``primehub-job`` against a real ``jupyter server`` subprocess with the extension."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest

STARTUP = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(path: Path, *sources: str, parameters: str | None = None) -> None:
    nb = nbformat.v4.new_notebook()
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real server for the module: starting it takes several seconds on a busy machine."""
    tmp_path = tmp_path_factory.mktemp("cli")
    root, runtime = tmp_path / "root", tmp_path / "runtime"
    root.mkdir()
    runtime.mkdir()
    _write(root / "work" / "params.ipynb", "print('alpha is', alpha)", parameters="alpha = 1")
    _write(root / "work" / "broken.ipynb", "print('about to fail')", "1/0")
    _write(
        root / "work" / "early.ipynb",
        "print('one')",
        "import sys\nsys.exit()",
        "print('three')",
        "print('four')",
    )
    env = dict(os.environ)
    env.update(
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
    )
    env.pop("JUPYTERHUB_API_TOKEN", None)
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.jpserver_extensions=jupyterlab_primehub=True",
            f"--PrimeHubApp.jobs_dir={tmp_path / 'jobs'}",
            "--PrimeHubApp.poll_interval=0.2",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/primehub/api/context"
    end = time.monotonic() + STARTUP
    while True:
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=5):
                pass
            if list(runtime.glob("jpserver-*.json")):
                break
        except OSError:
            pass
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        assert time.monotonic() < end, "jupyter server did not start"
        time.sleep(0.3)
    yield {"root": root, "env": env, "token": token, "port": port}
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


def run_cli(server, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jupyterlab_primehub.cli", *args],
        cwd=cwd or server["root"] / "work",
        env=server["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_submit_wait_prints_progress_and_exits_zero(server):
    result = run_cli(server, "submit", "params.ipynb", "-p", "alpha=2.5", "--wait")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "3/3 cells  succeeded" in result.stderr
    assert "status:   succeeded" in result.stdout
    assert 'parameters: {"alpha": 2.5}' in result.stdout
    job_id = result.stdout.split()[2]

    logs = run_cli(server, "logs", job_id)
    assert logs.returncode == 0 and "alpha is 2.5" in logs.stdout
    status = run_cli(server, "status", job_id, "--json")
    assert json.loads(status.stdout)["status"] == "succeeded"
    listing = run_cli(server, "list")
    assert job_id in listing.stdout and "succeeded" in listing.stdout


def test_failing_notebook_exits_non_zero(server):
    result = run_cli(server, "submit", "broken.ipynb", "--wait", "--name", "broken run")
    assert result.returncode == 1, result.stderr + result.stdout
    assert "status:   failed" in result.stdout
    assert "ZeroDivisionError: division by zero (cell 1)" in result.stdout
    job_id = result.stdout.split()[2]
    follow = run_cli(server, "logs", job_id, "-f")
    assert follow.returncode == 1 and "about to fail" in follow.stdout


def test_early_exit_succeeds_and_status_says_it_ended_early(server):
    result = run_cli(server, "submit", "early.ipynb", "--wait")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "2/4 cells  succeeded" in result.stderr
    ended = "ended:    early at cell 1 (SystemExit); the remaining cells were not run"
    assert "status:   succeeded" in result.stdout and ended in result.stdout
    job_id = result.stdout.split()[2]
    status = run_cli(server, "status", job_id)
    assert status.returncode == 0 and ended in status.stdout
    as_json = json.loads(run_cli(server, "status", job_id, "--json").stdout)
    assert as_json["endedEarly"] == {"cellIndex": 1, "ename": "SystemExit", "evalue": ""}


def test_cli_errors_are_messages_not_tracebacks(server):
    for args, words in [
        (("submit", "missing.ipynb"), "No such notebook"),
        (("submit", "params.ipynb", "-p", "alpha"), "use -p name=value"),
        (("submit", "params.ipynb", "-j", "[1]"), "must be a mapping"),
        (("status", "0123456789ab"), "No job with id"),
        (("cancel", "0123456789ab"), "No job with id"),
    ]:
        result = run_cli(server, *args)
        assert result.returncode == 1, args
        assert result.stderr.startswith("error: ") and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_explicit_url_and_token(server, tmp_path):
    env = dict(server["env"], JUPYTER_RUNTIME_DIR=str(tmp_path / "empty"))
    url = f"http://127.0.0.1:{server['port']}/"
    result = subprocess.run(
        [sys.executable, "-m", "jupyterlab_primehub.cli", "--url", url, "--token", "wrong", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "HTTP 403" in result.stderr
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyterlab_primehub.cli",
            "--url",
            url,
            "--token",
            server["token"],
            "list",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "ID" in result.stdout


def test_primehub_job_inside_a_server_uses_its_jobs_api(server, tmp_path):
    """``primehub job`` with no hub login finds the running server as ``primehub-job`` does:
    submit, status, rerun with the same parameters, artifacts as a zip."""
    _write(
        server["root"] / "work" / "art.ipynb",
        "import os\nopen(os.path.join(os.environ['PRIMEHUB_JOB_ARTIFACTS'], 'n.txt'), 'w')"
        ".write(str(n))",
        parameters="n = 0",
    )
    env = dict(server["env"], XDG_CONFIG_HOME=str(tmp_path / "config"), PRIMEHUB_CLI_POLL="0.2")

    def primehub(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "primehub_cli.main", "job", *args],
            cwd=server["root"] / "work",
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = primehub("submit", "art.ipynb", "-p", "n=5", "--wait")
    assert first.returncode == 0, first.stderr + first.stdout
    assert "3/3 cells  succeeded" in first.stderr and "status:        succeeded" in first.stdout
    job_id = first.stdout.split()[2]
    status = json.loads(primehub("status", job_id, "--json").stdout)
    assert (status["path"], status["parameters"]) == ("work/art.ipynb", {"n": 5})

    again = primehub("rerun", job_id, "--wait")
    assert again.returncode == 0, again.stderr + again.stdout
    rerun_id = again.stdout.split()[2]
    assert rerun_id != job_id and f"a rerun of {job_id}" in again.stdout
    assert 'parameters:    {"n": 5}' in again.stdout

    archive = tmp_path / "a.zip"
    got = primehub("artifacts", rerun_id, "-o", str(archive))
    assert got.returncode == 0, got.stderr
    with zipfile.ZipFile(archive) as z:
        (name,) = [n for n in z.namelist() if n.endswith("n.txt")]
        assert z.read(name) == b"5"
    listed = json.loads(primehub("list", "--json").stdout)
    assert {job_id, rerun_id} <= {j["id"] for j in listed["jobs"]}
    refused = primehub("submit", "art.ipynb", "--group", "team")
    assert refused.returncode == 1 and "--group is for jobs sent to the hub" in refused.stderr
