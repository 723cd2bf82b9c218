"""A real ``jupyter server`` with the PrimeHub extension as a subprocess, and a small REST client.

Used by the notebook-jobs benchmark and by the fault tests (which kill and restart it).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

FINAL = ("succeeded", "failed", "cancelled")


def free_port() -> int:
    """A loopback TCP port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class JupyterServer:
    """A running server: its URL, token, folders and process."""

    root: Path
    jobs_dir: Path
    port: int
    token: str
    proc: subprocess.Popen
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``method`` on ``/primehub/api/<path>`` with the server token."""
        headers = kwargs.pop("headers", {})
        headers.setdefault("Authorization", f"token {self.token}")
        kwargs.setdefault("timeout", 60)
        return self.session.request(
            method, f"{self.url}/primehub/api/{path.lstrip('/')}", headers=headers, **kwargs
        )

    def submit(self, **body: Any) -> dict[str, Any]:
        """POST a job; raise with the server's message unless it is accepted (201)."""
        resp = self.request("POST", "jobs", json=body)
        if resp.status_code != 201:
            raise RuntimeError(f"submit refused: {resp.status_code} {resp.text}")
        return resp.json()

    def job(self, job_id: str) -> dict[str, Any]:
        """GET one job."""
        resp = self.request("GET", f"jobs/{job_id}")
        resp.raise_for_status()
        return resp.json()

    def wait(self, job_id: str, timeout: float = 300, interval: float = 0.05) -> dict[str, Any]:
        """Poll until the job is final; return it."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in FINAL:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not final after {timeout:.0f}s: {job}")
            time.sleep(interval)

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's output."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the server process only (detached job executors keep running)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 30) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.session.close()


def start_server(
    root: Path,
    jobs_dir: Path,
    *,
    config: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
    token: str | None = None,
    timeout: float = 120,
) -> JupyterServer:
    """Start ``jupyter server`` serving ``root`` with the extension; wait until the API answers.

    ``config`` adds ``PrimeHubApp`` traits (e.g. ``{"max_concurrent_jobs": 2}``). Pass the
    ``port`` and ``token`` of an earlier server to restart "the same" server.
    """
    root.mkdir(parents=True, exist_ok=True)
    jobs_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    token = token or secrets.token_hex(16)
    traits = {"jobs_dir": str(jobs_dir), **(config or {})}
    cmd = [
        sys.executable, "-m", "jupyter_server",
        f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False", "--ServerApp.allow_root=True",
        "--ServerApp.jpserver_extensions=jupyterlab_primehub=True",
        *(f"--PrimeHubApp.{k}={json.dumps(v) if not isinstance(v, str) else v}"
          for k, v in traits.items()),
    ]  # fmt: skip
    log_path = jobs_dir.parent / f"jupyter-server-{port}.log"
    run_env = {**os.environ, **(env or {})}
    # the repository first, so a checkout without `pip install -e .` still finds the extension
    repo = str(Path(__file__).resolve().parent.parent)
    run_env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, run_env.get("PYTHONPATH")]))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=run_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = JupyterServer(root, jobs_dir, port, token, proc, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter server exited ({proc.returncode}):\n{server.log_tail()}")
        try:
            if server.request("GET", "context", timeout=5).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"jupyter server did not answer in {timeout:.0f}s:\n{server.log_tail()}")
