"""Run a real JupyterHub (subprocess, real configurable-http-proxy) for end-to-end tests.

``start_hub(config, workdir, hub_ip=...)`` starts JupyterHub on free loopback ports with the given
config file or config text loaded on top of a small harness config (database and secrets in
``workdir``, DummyAuthenticator allowing everyone, and a service token with admin scopes for the
test), waits until its API answers through the proxy, and returns a ``HubProcess`` with REST
helpers. ``HubProcess.stop()`` (or the ``running_hub`` context manager) stops the hub, its proxy
and, through JupyterHub's own shutdown, the single-user servers it spawned.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from localk8s.settings import REPO_ROOT

HARNESS_SERVICE = "hub-harness"


def q(part: str) -> str:
    """One path segment of a hub API URL, escaped (user names may hold ``?``, ``#``, ``%``)."""
    return quote(part, safe="")


class HubError(AssertionError):
    """The hub did not start or a REST call did not do what the test expected (with log tail)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _local_session() -> requests.Session:
    """A requests session that ignores proxy settings (the hub is on loopback)."""
    session = requests.Session()
    session.trust_env = False
    return session


@dataclass
class HubProcess:
    """A running JupyterHub and REST helpers around its API."""

    url: str
    token: str
    proc: subprocess.Popen
    workdir: Path
    log_path: Path
    session: requests.Session = field(default_factory=lambda: _local_session())

    @property
    def api_url(self) -> str:
        """Base URL of the hub REST API (through the proxy)."""
        return self.url + "/hub/api"

    def log_tail(self, lines: int = 80) -> str:
        """The last lines of the hub's output (for assertion messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def api(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """Call the hub API (``path`` relative to /hub/api) with the harness token by default."""
        headers = kwargs.pop("headers", {})
        headers["Authorization"] = f"token {token or self.token}"
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.api_url + path, headers=headers, **kwargs)

    def _ok(self, resp: requests.Response, *codes: int) -> requests.Response:
        if resp.status_code not in codes:
            raise HubError(
                f"{resp.request.method} {resp.url} -> {resp.status_code}: {resp.text}\n"
                f"--- hub log ---\n{self.log_tail()}"
            )
        return resp

    def create_user(self, name: str, admin: bool = False) -> dict[str, Any]:
        """Create a user (no error if it exists)."""
        resp = self.api("POST", f"/users/{q(name)}", json={"admin": admin})
        if resp.status_code == 409:
            return self.user(name)
        return self._ok(resp, 201).json()

    def user(self, name: str) -> dict[str, Any]:
        """The user model (with servers)."""
        return self._ok(self.api("GET", f"/users/{q(name)}"), 200).json()

    def user_token(self, name: str, scopes: list[str] | None = None) -> str:
        """A new API token of ``name`` (default: the user's own permissions)."""
        body: dict[str, Any] = {"note": "hub harness", "expires_in": 3600}
        if scopes is not None:
            body["scopes"] = scopes
        return self._ok(self.api("POST", f"/users/{q(name)}/tokens", json=body), 200, 201).json()[
            "token"
        ]

    def start_server(
        self, name: str, user_options: dict[str, Any] | None = None, server_name: str = ""
    ) -> requests.Response:
        """Request a spawn (returns the raw response: 201 started, 202 pending, 4xx refused)."""
        path = (
            f"/users/{q(name)}/servers/{q(server_name)}"
            if server_name
            else f"/users/{q(name)}/server"
        )
        return self.api("POST", path, json=user_options or {})

    def wait_server(self, name: str, server_name: str = "", timeout: float = 180) -> dict[str, Any]:
        """Wait until the server is ready; return its server model (HubError with log if not)."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.user(name)
            server = last.get("servers", {}).get(server_name)
            if server and server.get("ready"):
                return server
            if not server and not last.get("pending") and time.monotonic() > deadline - timeout + 5:
                raise HubError(
                    f"server of {name} is gone (spawn failed?): {last}\n"
                    f"--- hub log ---\n{self.log_tail()}"
                )
            time.sleep(0.5)
        raise HubError(
            f"server of {name} not ready in {timeout:.0f}s: {last}\n"
            f"--- hub log ---\n{self.log_tail()}"
        )

    def stop_server(self, name: str, server_name: str = "", timeout: float = 120) -> None:
        """Stop the server and wait until the hub reports it stopped."""
        path = (
            f"/users/{q(name)}/servers/{q(server_name)}"
            if server_name
            else f"/users/{q(name)}/server"
        )
        self._ok(self.api("DELETE", path), 202, 204)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            user = self.user(name)
            if server_name not in user.get("servers", {}) and not user.get("pending"):
                return
            time.sleep(0.5)
        raise HubError(f"server of {name} did not stop in {timeout:.0f}s\n{self.log_tail()}")

    def server_get(
        self, name: str, path: str, token: str, server_name: str = ""
    ) -> requests.Response:
        """GET ``path`` of the user's single-user server through the proxy with ``token``."""
        prefix = f"/user/{name}/{server_name + '/' if server_name else ''}"
        return self.session.get(
            self.url + prefix + path.lstrip("/"),
            headers={"Authorization": f"token {token}"},
            timeout=30,
            allow_redirects=False,
        )

    def progress_events(self, name: str, token: str, timeout: float = 150) -> list[dict[str, Any]]:
        """The spawn's progress stream as the spawn page reads it, until it ends."""
        with self.session.get(
            self.api_url + f"/users/{q(name)}/server/progress",
            headers={"Authorization": f"token {token}"},
            stream=True,
            timeout=timeout,
        ) as stream:
            return [
                json.loads(line[len("data:") :])
                for line in stream.iter_lines(decode_unicode=True)
                if line and line.startswith("data:")
            ]

    def run_code(
        self, name: str, token: str, code: str, server_name: str = "", timeout: float = 120
    ) -> KernelRun:
        """Start a kernel in the user's server (REST), run ``code`` over the kernel websocket
        through the proxy, as JupyterLab does, and report what a user would see.

        Returns when the cell finished (``stdout``, ``error``) or the kernel died under it
        (``died``: the server announced a restart, JupyterLab's "kernel appears to have died").
        The kernel is shut down afterwards.
        """
        import websocket  # websocket-client, a jupyter-server dependency

        prefix = f"/user/{name}/{server_name + '/' if server_name else ''}"
        headers = {"Authorization": f"token {token}"}
        resp = self.session.post(
            self.url + prefix + "api/kernels",
            json={"name": "python3"},
            headers=headers,
            timeout=timeout,
        )
        if resp.status_code != 201:
            raise HubError(f"kernel start -> {resp.status_code}: {resp.text}")
        kernel_id = resp.json()["id"]
        ws_url = self.url.replace("http://", "ws://") + prefix + f"api/kernels/{kernel_id}/channels"
        ws = websocket.create_connection(
            ws_url, header=[f"Authorization: token {token}"], timeout=timeout
        )
        result = KernelRun(kernel_id=kernel_id)
        try:
            msg_id = secrets.token_hex(16)
            ws.send(
                json.dumps(
                    {
                        "header": {
                            "msg_id": msg_id,
                            "username": name,
                            "session": secrets.token_hex(16),
                            "msg_type": "execute_request",
                            "version": "5.3",
                        },
                        "parent_header": {},
                        "metadata": {},
                        "content": {"code": code, "silent": False, "store_history": False},
                        "channel": "shell",
                    }
                )
            )
            out: list[str] = []
            while True:
                msg = json.loads(ws.recv())
                kind = msg.get("msg_type")
                state = (msg.get("content") or {}).get("execution_state")
                if kind == "status" and state in ("restarting", "dead"):
                    result.died = True
                    break
                if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
                    continue
                if kind == "stream":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    content = msg["content"]
                    result.error = f"{content.get('ename')}: {content.get('evalue')}"
                elif kind == "status" and state == "idle":
                    break
            result.stdout = "".join(out)
            return result
        finally:
            ws.close()
            self.session.delete(
                self.url + prefix + f"api/kernels/{kernel_id}", headers=headers, timeout=60
            )

    def stop(self, timeout: float = 90) -> None:
        """Stop the hub (it stops its servers and proxy), then kill anything left of its group."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.session.close()


@dataclass
class KernelRun:
    """What running one cell showed: its stdout, its error, or that the kernel died."""

    kernel_id: str
    stdout: str = ""
    error: str | None = None
    died: bool = False


_WRAPPER = """\
# Written by localk8s.hubtesting: the test's config, then what the harness needs.
c = get_config()  # noqa
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.cleanup_servers = True
{user_config}
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {proxy_port}
c.JupyterHub.hub_ip = "{hub_ip}"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.hub_connect_ip = "{hub_ip}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.should_start = True
c.JupyterHub.db_url = "sqlite:///{workdir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{workdir}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = "{workdir}/jupyterhub.pid"
c.JupyterHub.services.append({{"name": "{service}", "api_token": "{token}"}})
c.JupyterHub.load_roles.append({{
    "name": "{service}",
    "scopes": ["admin:users", "admin:servers", "admin:groups", "tokens", "list:users",
               "read:users", "access:servers", "read:hub"],
    "services": ["{service}"],
}})
"""


def start_hub(
    config: str | Path,
    workdir: Path,
    *,
    hub_ip: str = "127.0.0.1",
    env: dict[str, str] | None = None,
    timeout: float = 120,
    jupyterhub: str | None = None,
) -> HubProcess:
    """Start JupyterHub with ``config`` (a file path or config text) and wait until it answers.

    ``hub_ip`` is where the hub API listens and what spawned servers are told to connect to (the
    cluster's bridge IP for pods on localk8s). ``env`` is the hub's environment (e.g. KUBECONFIG);
    the repo's ``node_modules/.bin`` and the venv's ``bin`` are put first on its PATH.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(config, Path) or (
        isinstance(config, str)
        and "\n" not in config
        and config.endswith(".py")
        and Path(config).exists()
    ):
        user_config = f"load_subconfig({str(Path(config).resolve())!r})"
    else:
        user_config = str(config)
    token = secrets.token_hex(24)
    text = _WRAPPER.format(
        user_config=user_config,
        proxy_port=free_port(),
        hub_ip=hub_ip,
        hub_port=free_port(hub_ip),
        proxy_api_port=free_port(),
        workdir=workdir,
        service=HARNESS_SERVICE,
        token=token,
    )
    cfg = workdir / "jupyterhub_harness_config.py"
    cfg.write_text(text)
    proxy_port = int(text.split("c.JupyterHub.port = ")[1].split("\n")[0])
    run_env = dict(env if env is not None else os.environ)
    bin_dirs = [str(REPO_ROOT / "node_modules" / ".bin"), str(Path(sys.executable).parent)]
    run_env["PATH"] = os.pathsep.join([*bin_dirs, run_env.get("PATH", "")])
    exe = jupyterhub or str(Path(sys.executable).parent / "jupyterhub")
    log_path = workdir / "jupyterhub.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [exe, "-f", str(cfg)],
            cwd=workdir,
            env=run_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    hub = HubProcess(
        url=f"http://127.0.0.1:{proxy_port}",
        token=token,
        proc=proc,
        workdir=workdir,
        log_path=log_path,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HubError(f"jupyterhub exited with {proc.returncode}\n{hub.log_tail()}")
        try:
            if hub.api("GET", "/", timeout=5).status_code == 200:
                return hub
        except requests.RequestException:
            pass
        time.sleep(0.3)
    hub.stop()
    raise HubError(f"jupyterhub did not answer within {timeout:.0f}s\n{hub.log_tail()}")


@contextmanager
def running_hub(config: str | Path, workdir: Path, **kwargs: Any) -> Iterator[HubProcess]:
    """``start_hub`` as a context manager that always stops the hub."""
    hub = start_hub(config, workdir, **kwargs)
    try:
        yield hub
    finally:
        hub.stop()
