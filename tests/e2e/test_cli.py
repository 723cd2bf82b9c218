"""The installed ``primehub`` executable against a real hub, its ``primehub-jobs`` service and
the local cluster, as a user runs it from a laptop (a subprocess, a token stored by ``login``)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

from localk8s.hubtesting import q
from localk8s.testing import wait_for

pytestmark = pytest.mark.cluster

PRIMEHUB = shutil.which("primehub", path=str(Path(sys.executable).parent)) or "primehub"


def cli_env(config_home: Path) -> dict[str, str]:
    """A laptop's environment: nothing of a server or proxy, the login under ``config_home``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTERHUB_", "PRIMEHUB_")) and "proxy" not in k.lower()
    }
    env.update(XDG_CONFIG_HOME=str(config_home), PRIMEHUB_CLI_POLL="0.5")
    return env


def run(
    config_home: Path, *args: str, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``primehub ARGS`` (``env``: added to the environment)."""
    return subprocess.run(
        [PRIMEHUB, *args],
        env={**cli_env(config_home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def volume_dir(k8s_cluster, namespace: str, claim: str) -> Path:
    pvc = k8s_cluster.get("pvc", claim, "-n", namespace)
    return Path(k8s_cluster.get("pv", pvc["spec"]["volumeName"])["spec"]["hostPath"]["path"])


@pytest.fixture
def alice_cli(hub, tmp_path, stop_all, k8s_cluster, e2e_namespace):
    """alice logged in with ``primehub login`` (token file 0600); her servers stopped after,
    her jobs' pods deleted."""
    hub.create_user("alice")
    stop_all("alice")
    token = hub.user_token("alice")
    out = ok(run(tmp_path, "login", hub.url, "--token", token))
    assert "as alice" in out
    creds = tmp_path / "primehub" / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    yield tmp_path
    k8s_cluster.kubectl(
        "delete", "jobs", "-n", e2e_namespace, "-l", "primehub.io/user=alice,component=primehub-job"
    )


def test_servers_and_hub_jobs_from_the_shell(hub, alice_cli, pods, k8s_cluster, e2e_namespace):
    groups = json.loads(ok(run(alice_cli, "groups", "--json")))
    assert [g["name"] for g in groups["groups"]] == ["team"]
    # inside a server: the hub URL and token of its environment, no login (tmp_path / "none")
    inside = {"JUPYTERHUB_API_URL": hub.url + "/hub/api"}
    # the user-level scopes of the reference config's "server" role (what a server's token has)
    server_scopes = ["users:activity!user", "read:servers!user"]
    mine = {**inside, "JUPYTERHUB_API_TOKEN": hub.user_token("alice", server_scopes)}
    assert json.loads(ok(run(alice_cli / "none", "groups", "--json", env=mine))) == groups
    narrow = {**inside, "JUPYTERHUB_API_TOKEN": hub.user_token("alice", ["users:activity!user"])}
    refused = run(alice_cli / "none", "groups", env=narrow)
    assert refused.returncode == 1, refused.stderr
    assert "(HTTP 403); this server's own token may not do that: run `primehub login`" in (
        refused.stderr
    )

    # refused by the hub: exit 1 with its message, no traceback, no pod
    bad = run(alice_cli, "notebook", "start", "bad", "--instance-type", "gpu-8")
    assert bad.returncode == 1, (bad.stdout, bad.stderr)
    assert "error: instance_type: 'gpu-8' is not available in group 'team'" in bad.stderr
    assert bad.stderr.strip().endswith("(HTTP 400)")
    assert "Traceback" not in bad.stderr
    assert run(alice_cli, "notebook", "start", "--no-such-option").returncode == 2

    started = run(
        alice_cli, "notebook", "start", "cli", "-g", "team", "-t", "cpu-1", "-e", "COLOR=blue", "-w"
    )
    out = ok(started)
    assert out.strip().endswith("/user/alice/cli/"), out
    assert "[100%]" in started.stderr or "ready" in started.stderr.lower(), started.stderr
    (pod,) = pods("alice")
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["COLOR"] == "blue"

    (server,) = json.loads(ok(run(alice_cli, "notebook", "list", "--json")))
    assert (server["name"], server["state"], server["instanceType"]) == ("cli", "ready", "cpu-1")
    assert ok(run(alice_cli, "notebook", "open", "cli")).strip() == hub.url + "/user/alice/cli/"

    log = wait_for(
        lambda: "Jupyter" in (text := ok(run(alice_cli, "notebook", "logs", "cli"))) and text,
        60,
        what="the server's log",
    )
    assert "Traceback" not in log

    # the logs API: alice's own server yes, bob (and a name that is not alice) never, admin yes
    hub.create_user("bob")
    bob = hub.user_token("bob")
    path = "/primehub/users/alice/servers/cli/logs"
    assert hub.api("GET", path, token=hub.user_token("alice")).status_code == 200
    refused = hub.api("GET", path, token=bob)
    assert refused.status_code == 404, refused.text
    assert "Jupyter" not in refused.text
    for sneaky in (
        f"/primehub/users/{q('alice/servers/cli')}/server/logs",
        f"/primehub/users/{q('alice?x')}/servers/cli/logs",
    ):
        assert hub.api("GET", sneaky, token=bob).status_code == 404
    assert hub.api("GET", path).status_code == 200  # the harness service has admin scopes
    assert hub.api("GET", path + "?tail=0", token=bob).status_code == 400

    run_a_hub_job(alice_cli, k8s_cluster, e2e_namespace)
    schedules(alice_cli)

    # `logs -f` follows the server until it stops, then ends with exit 0
    follower = subprocess.Popen(
        [PRIMEHUB, "notebook", "logs", "cli", "-f", "-n", "5"],
        env=cli_env(alice_cli),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ok(run(alice_cli, "notebook", "stop", "cli"))
        wait_for(
            lambda: json.loads(ok(run(alice_cli, "notebook", "list", "--json"))) == [],
            120,
            what="alice's server stopped",
        )
        followed, errors = follower.communicate(timeout=120)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 0, errors
    assert followed and "Traceback" not in errors


def run_a_hub_job(alice_cli, k8s_cluster, e2e_namespace) -> None:
    """A job on the hub's Kubernetes (alice's server made the group volume)."""
    folder = volume_dir(k8s_cluster, e2e_namespace, "project-team") / "e2e-cli"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o777)  # the job pod's user writes the output next to the notebook
    marker = uuid.uuid4().hex[:8]
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": [
            {
                "cell_type": "code",
                "id": "c1",
                "metadata": {},
                "source": f"print('hello from {marker}', n)\n"
                "import os\n"
                "open(os.environ['PRIMEHUB_JOB_ARTIFACTS'] + '/n.txt', 'w').write(str(n))",
                "outputs": [],
                "execution_count": None,
            }
        ],
    }
    (folder / "hello.ipynb").write_text(json.dumps(notebook))

    bad = run(alice_cli, "job", "submit", "e2e-cli/hello.ipynb", "-t", "gpu-8")
    assert bad.returncode == 1 and "(HTTP 4" in bad.stderr and "Traceback" not in bad.stderr

    submitted = run(
        alice_cli,
        "job",
        "submit",
        "e2e-cli/hello.ipynb",
        "-g",
        "team",
        "-t",
        "cpu-1",
        "-p",
        "n=7",
        "--wait",
    )
    out = ok(submitted)
    job_id = out.split()[2]
    assert "status:        succeeded" in out, (out, submitted.stderr)

    listed = json.loads(ok(run(alice_cli, "job", "list", "--json")))
    assert job_id in [j["id"] for j in listed["jobs"]]
    status = json.loads(ok(run(alice_cli, "job", "status", job_id, "--json")))
    assert (status["status"], status["instanceType"], status["parameters"]) == (
        "succeeded",
        "cpu-1",
        {"n": 7},
    )
    assert f"hello from {marker} 7" in ok(run(alice_cli, "job", "logs", job_id))
    missing = run(alice_cli, "job", "status", "0123456789ab")
    assert missing.returncode == 1 and "(HTTP 404)" in missing.stderr

    archive = alice_cli / f"{job_id}.zip"
    ok(run(alice_cli, "job", "artifacts", job_id, "-o", str(archive)))
    with zipfile.ZipFile(archive) as z:
        assert [z.read(n) for n in z.namelist() if n.endswith("n.txt")] == [b"7"]


def schedules(alice_cli) -> None:
    """A weekly schedule: created, listed, paused (recurrence kept), resumed, deleted."""
    out = ok(
        run(
            alice_cli,
            "schedule",
            "create",
            "e2e-cli/hello.ipynb",
            "-g",
            "team",
            "-t",
            "cpu-1",
            "--cron",
            "0 4 * * 1",
            "--tz",
            "Asia/Taipei",
        )
    )
    schedule_id = out.split()[2]
    (listed,) = json.loads(ok(run(alice_cli, "schedule", "list", "--json")))["schedules"]
    assert (listed["id"], listed["cron"], listed["timezone"]) == (
        schedule_id,
        "0 4 * * 1",
        "Asia/Taipei",
    )
    assert listed["nextRunAt"]
    ok(run(alice_cli, "schedule", "pause", schedule_id))
    assert "paused: 0 4 * * 1" in ok(run(alice_cli, "schedule", "list"))
    assert "next run: 20" in ok(run(alice_cli, "schedule", "resume", schedule_id))
    ok(run(alice_cli, "schedule", "delete", schedule_id))
    gone = run(alice_cli, "schedule", "pause", schedule_id)
    assert gone.returncode == 1 and "(HTTP 404)" in gone.stderr
