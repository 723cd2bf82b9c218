"""The primehub-jobs service's identity and access rule are explicit, never "anything goes".

Before, the scope callers' tokens needed came from ``$JUPYTERHUB_OAUTH_ACCESS_SCOPES`` (or
``$JUPYTERHUB_SERVICE_NAME``); an external service started without them let any hub token in.
Now the service refuses to start without its hub API URL and token, and always requires
``access:services!service=primehub-jobs`` of callers, whatever its environment says.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from localk8s.hubtesting import free_port
from localk8s.settings import REPO_ROOT
from localk8s.testing import wait_for

CATALOG = REPO_ROOT / "demo" / "catalog.yaml"
HUB_ENV = (
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_API_TOKEN",
    "JUPYTERHUB_SERVICE_NAME",
    "JUPYTERHUB_OAUTH_ACCESS_SCOPES",
    "JUPYTERHUB_OAUTH_SCOPES",
    "JUPYTERHUB_SERVICE_URL",
    "JUPYTERHUB_SERVICE_PREFIX",
)


def _bare_env(**extra: str) -> dict[str, str]:
    """The environment without anything a hub would pass to its service."""
    env = {k: v for k, v in os.environ.items() if k not in HUB_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def _start(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "primehub_spawner.jobs",
            f"--catalog={CATALOG}",
            f"--state-dir={tmp_path / 'jobs-state'}",
            *args,
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.mark.parametrize(
    "env, args, missing",
    [
        (
            {},
            (),
            [
                "the hub API URL ($JUPYTERHUB_API_URL or --JobsApp.hub_api_url)",
                "the service's own hub API token ($JUPYTERHUB_API_TOKEN or --JobsApp.api_token)",
            ],
        ),
        (
            {"JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api"},
            (),
            ["the service's own hub API token ($JUPYTERHUB_API_TOKEN or --JobsApp.api_token)"],
        ),
        (
            {"JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api", "JUPYTERHUB_API_TOKEN": "t"},
            ("--JobsApp.access_scopes=access:services!service=other",),
            ["the access scope 'access:services!service=primehub-jobs' in --JobsApp.access_scopes"],
        ),
        (
            {"JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api", "JUPYTERHUB_API_TOKEN": "t"},
            (
                "--JobsApp.access_scopes=access:services!service=primehub-jobs",
                "--JobsApp.access_scopes=read:users",
            ),
            ["access scopes that grant access to this service only, not read:users"],
        ),
    ],
    ids=["nothing", "no-token", "other-service-scope", "unrelated-scope"],
)
def test_the_jobs_service_refuses_to_start_without_what_it_needs_to_check_tokens(
    tmp_path, env, args, missing
):
    proc = _start(tmp_path, _bare_env(**env), *args)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    assert "primehub-jobs: refusing to start, it could not check callers' tokens" in out, out
    for item in missing:
        assert item in out, out
    assert not (tmp_path / "jobs-state").exists()  # nothing was served, nothing was written


def test_without_scopes_in_its_environment_a_token_lacking_the_access_scope_gets_403(
    hub, k8s_cluster, k8s_namespace, tmp_path
):
    """The attack: an external service started with only its hub URL and token (no
    $JUPYTERHUB_SERVICE_NAME or $JUPYTERHUB_OAUTH_ACCESS_SCOPES, which used to mean "every hub
    token may call it"). A token of alice that can only read her name is refused; her own
    token works; the service's root URL says what it is, without a token."""
    hub.create_user("alice")
    port = free_port()
    env = _bare_env(
        JUPYTERHUB_API_URL=hub.api_url,
        JUPYTERHUB_API_TOKEN=hub.token,
        KUBECONFIG=k8s_cluster.env["KUBECONFIG"],
    )
    proc = _start(
        tmp_path,
        env,
        f"--namespace={k8s_namespace}",
        "--JobsApp.ip=127.0.0.1",
        f"--JobsApp.port={port}",
    )
    base = f"http://127.0.0.1:{port}/services/primehub-jobs"
    try:

        def about():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            return hub.session.get(base + "/", timeout=5)

        resp = wait_for(lambda: about().status_code == 200 and about(), 120, what="the service")
        info = resp.json()
        assert info["service"] == "primehub-jobs"
        assert info["api"] == "/services/primehub-jobs/api/jobs"
        assert hub.token not in resp.text

        narrow = hub.user_token("alice", scopes=["read:users:name!user=alice"])
        refused = hub.session.get(
            base + "/api/jobs", headers={"Authorization": f"token {narrow}"}, timeout=30
        )
        assert refused.status_code == 403, refused.text
        assert "access:services!service=primehub-jobs" in refused.json()["message"]

        own = hub.user_token("alice")
        allowed = hub.session.get(
            base + "/api/jobs", headers={"Authorization": f"token {own}"}, timeout=30
        )
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["jobs"] == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        proc.wait(30)
