"""A real JupyterHub spawning through the local SLURM with PrimeHubSlurmSpawner: the form,
refusals before any job exists, the sbatch request of a choice, fail fast, quota race, pending
reasons, the server reached through the proxy, stop cancelling the job, and batchspawner's two
security holes played against it."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml
from slurm_hubtesting import HUB_CONFIG, SLURM_USERS, catalog, first_progress, squeue

from localk8s.hubtesting import start_hub

ALICE, BOB = SLURM_USERS
MARKER = Path("/tmp/primehub-slurm-attack-marker")
SECRET_SETTING = "s3cret-7f3a9c"  # a value a user would not want in the hub's log


@pytest.fixture(scope="module")
def hub(localslurm, tmp_path_factory):
    """One hub for the module: a group quota of one CPU over both users."""
    workdir = tmp_path_factory.mktemp("slurmhub")
    path = workdir / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog(localslurm["python_prefix"], projectQuota={"cpu": 1})))
    # debug logging, as an admin chasing a problem runs it: still no token or env value logged
    config = HUB_CONFIG.format(
        catalog=str(path),
        conf=localslurm["conf"],
        cleanup=True,
        extra="c.JupyterHub.log_level = 'DEBUG'",
    )
    hub = start_hub(config, workdir)
    for user in SLURM_USERS:
        hub.create_user(user)
    yield hub
    hub.stop()


@pytest.fixture
def no_jobs(hub, localslurm):
    """Every server of the test users stopped and their jobs gone, before and after."""

    def clean():
        for user in SLURM_USERS:
            if hub.user(user).get("servers"):
                hub.stop_server(user)
            subprocess.run(
                ["scancel", "-u", user],
                env={"SLURM_CONF": localslurm["conf"], "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                check=False,
            )
        wait_for(lambda: not jobs_of(localslurm, *SLURM_USERS), 30, "jobs gone")

    clean()
    yield
    clean()


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for: {what}")


def jobs_of(localslurm, *users) -> list[str]:
    """Active job ids of ``users`` ("" lines dropped)."""
    out = squeue(localslurm["conf"], "-u", ",".join(users), "-t", "PD,R,CF,CG", "-o", "%i")
    return [line.strip() for line in out.splitlines() if line.strip()]


def scontrol(localslurm, *args) -> str:
    return subprocess.run(
        ["scontrol", *args],
        env={"SLURM_CONF": localslurm["conf"], "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_the_spawn_form_is_the_catalogs(hub):
    s = requests.Session()
    s.trust_env = False
    s.get(hub.url + "/hub/login", timeout=30)
    s.post(
        hub.url + "/hub/login",
        data={"username": ALICE, "password": "x", "_xsrf": s.cookies.get("_xsrf")},
        timeout=30,
    )
    form = s.get(hub.url + "/hub/spawn", timeout=30)
    assert form.status_code == 200
    assert 'name="instance_type__slurm-team"' in form.text
    assert "1 CPU / 512Mi / 1 GPU" in form.text
    assert 'value="gpu-only"' in form.text


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"group": "nope"}, 403, "group"),
        ({"instance_type": "huge"}, 400, "instance_type: 'huge'"),
        ({"instance_type": "cpu-1", "image": "gpu-only"}, 400, "image"),
        ({"env": {"JUPYTERHUB_API_TOKEN": "x"}}, 400, "set by the platform"),
        ({"kernel_gateway": True}, 400, "kernel_gateway: not available on SLURM"),
        # batchspawner hole: raw user_options merged over the script's variables
        ({"cmd": "/bin/sh -c 'id > /tmp/owned'"}, 400, "cmd: unknown option"),
        ({"options": "--uid=0"}, 400, "options: unknown option"),
        ({"memory": "900G", "nprocs": "64"}, 400, "unknown option"),
    ],
)
def test_refusals_are_4xx_with_a_message_and_submit_no_job(hub, localslurm, body, status, words):
    resp = hub.start_server(BOB, body)
    assert resp.status_code == status, resp.text
    assert words in resp.json()["message"]
    assert not jobs_of(localslurm, BOB)
    assert not hub.user(BOB)["servers"]


def test_a_gres_count_no_node_has_fails_fast_and_reserves_nothing(hub, localslurm, no_jobs):
    started = time.monotonic()
    resp = hub.start_server(ALICE, {"instance_type": "gpu-4", "image": "venv"})
    assert resp.status_code == 503, resp.text
    assert "Requested node configuration is not available" in resp.json()["message"]
    assert time.monotonic() - started < 30  # start_timeout is 90
    assert not jobs_of(localslurm, ALICE)
    # nothing is left reserved: the group's one CPU is still free
    ok = hub.start_server(BOB, {"instance_type": "gpu-1", "image": "venv"})
    assert ok.status_code in (201, 202), ok.text


def test_quota_race_admits_exactly_one_of_two_concurrent_gpu_spawns(hub, localslurm, no_jobs):
    body = {"group": "slurm-team", "instance_type": "gpu-1", "image": "venv"}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda u: (u, hub.start_server(u, body)), SLURM_USERS))
    admitted = [u for u, r in results if r.status_code in (201, 202)]
    refused = [(u, r) for u, r in results if r.status_code == 403]
    assert len(admitted) == 1 and len(refused) == 1, [(u, r.status_code) for u, r in results]
    assert "Group slurm-team exceeded cpu quota: 1, requesting 2" in refused[0][1].json()["message"]
    assert len(jobs_of(localslurm, *SLURM_USERS)) == 1


def test_server_through_the_proxy_runs_the_choice_and_stop_cancels_the_job(
    hub, localslurm, no_jobs
):
    body = {"instance_type": "gpu-1", "image": "venv", "env": {"MY_SETTING": SECRET_SETTING}}
    assert hub.start_server(ALICE, body).status_code in (201, 202)
    server = hub.wait_server(ALICE, timeout=120)
    job_id = server["state"]["job_id"]
    # the sbatch request carries what the choice means
    job = scontrol(localslurm, "show", "job", job_id)
    assert "NumCPUs=1" in job and "MinMemoryNode=512M" in job, job
    assert "gres:gpu:1" in job, job
    assert "Partition=debug" in job and "Account=primehub-lab" in job, job
    script = scontrol(localslurm, "write", "batch_script", job_id, "-")
    assert "#SBATCH --gres=gpu:1" in script
    # the server, reached through the proxy, runs as the user with the plan's environment
    token = hub.user_token(ALICE)
    assert hub.server_get(ALICE, "api/status", token).status_code == 200
    # the lab extension's server side runs unchanged there (local jobs backend)
    jobs = hub.server_get(ALICE, "primehub/api/jobs", token)
    assert jobs.status_code == 200, jobs.text
    code = (
        "import os, json, getpass\n"
        "print(json.dumps({k: os.environ.get(k) for k in ('GROUP_ID', 'GROUP_NAME', "
        "'INSTANCE_TYPE', 'IMAGE_NAME', 'MY_SETTING', 'SLURM_JOB_ID', 'SLURM_TMPDIR', "
        "'JUPYTERHUB_API_TOKEN')} | "
        "{'user': getpass.getuser(), 'tmp': os.readlink(os.path.expanduser('~/slurm_tmpdir')),"
        " 'data': os.readlink(os.path.expanduser('~/shared-data'))}))"
    )
    run = hub.run_code(ALICE, token, code)
    assert run.error is None, run.error
    seen = json.loads(run.stdout)
    assert seen["user"] == ALICE
    assert (seen["GROUP_NAME"], seen["INSTANCE_TYPE"], seen["IMAGE_NAME"]) == (
        "slurm-team",
        "gpu-1",
        "venv",
    )
    assert seen["MY_SETTING"] == SECRET_SETTING and seen["SLURM_JOB_ID"] == job_id
    # neither the server's hub token nor the user's environment values reach the hub's log
    logged = hub.log_path.read_text(errors="replace")
    assert f"SLURM job {job_id} of {ALICE} submitted" in logged  # (the log is this hub's)
    assert seen["JUPYTERHUB_API_TOKEN"] and seen["JUPYTERHUB_API_TOKEN"] not in logged
    assert SECRET_SETTING not in logged
    assert seen["tmp"] == seen["SLURM_TMPDIR"] and seen["tmp"].endswith(f"job_{job_id}")
    assert seen["data"] == "/usr/share/doc"
    hub.stop_server(ALICE)
    assert job_id not in jobs_of(localslurm, ALICE)


def test_the_jobs_token_can_report_a_port_only(hub, localslurm, no_jobs):
    """batchspawner's handler set any spawner attribute the job's token sent: exec_prefix or
    batch_query_cmd became a shell command the hub (root) runs at the next poll or stop."""
    MARKER.unlink(missing_ok=True)
    assert hub.start_server(ALICE, {"instance_type": "cpu-1"}).status_code in (201, 202)
    server = hub.wait_server(ALICE, timeout=120)
    token = hub.user_token(ALICE)
    # the user's own code in the job reads the server's token, as any code there can
    run = hub.run_code(ALICE, token, "import os; print(os.environ['JUPYTERHUB_API_TOKEN'])")
    server_token = run.stdout.strip()
    assert server_token
    url = hub.api_url + "/batchspawner"
    headers = {"Authorization": f"token {server_token}"}
    attacks = [
        {"exec_prefix": f"touch {MARKER};"},
        {"batch_query_cmd": f"touch {MARKER}", "port": 8888},
        {"batch_cancel_cmd": f"touch {MARKER}"},
        {"port": "8888; touch /tmp/x"},
        ["port", 1],
    ]
    for attack in attacks:
        resp = hub.session.post(url, json=attack, headers=headers, timeout=30)
        assert resp.status_code == 400, (attack, resp.status_code, resp.text)
    # a port once the server runs is refused too: the route cannot be moved
    moved = hub.session.post(url, json={"port": 1}, headers=headers, timeout=30)
    assert moved.status_code == 409, moved.text
    hub.stop_server(ALICE)  # polls and cancels with the spawner's own commands
    assert server["state"]["job_id"] not in jobs_of(localslurm, ALICE)
    assert not MARKER.exists()


def test_progress_shows_the_pending_reason_until_resources_free(hub, localslurm, no_jobs):
    env = {"SLURM_CONF": localslurm["conf"], "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    # bob holds both CPUs of the node with a job of his own
    holder = subprocess.run(
        ["runuser", "-u", BOB, "--", "sbatch", "--parsable", "--cpus-per-task=2",
         "--mem=64M", "--output=/dev/null", "--wrap=sleep 300"],
        env=env, capture_output=True, text=True, check=True, cwd="/tmp",
    ).stdout.strip()  # fmt: skip
    try:
        resp = hub.start_server(ALICE, {"instance_type": "cpu-1"})
        assert resp.status_code == 202, resp.text
        token = hub.user_token(ALICE)
        event = first_progress(hub, ALICE, token, "Pending in the SLURM queue (Resources)", 60)
        assert event is not None, "no progress event showed the pending reason"
        assert not hub.user(ALICE)["servers"][""]["ready"]
    finally:
        subprocess.run(["scancel", holder], env=env, check=True)
    hub.wait_server(ALICE, timeout=120)


def test_a_hub_user_without_a_unix_account_gets_a_503_and_no_job(hub, localslurm):
    ghost = "slurm-ghost"  # a member of the group through a JupyterHub group, no Unix user
    hub.create_user(ghost)
    if hub.api("POST", "/groups/slurm-team", json={"users": [ghost]}).status_code == 409:
        hub.api("POST", "/groups/slurm-team/users", json={"users": [ghost]})
    resp = hub.start_server(ghost, {"instance_type": "cpu-1"})
    assert resp.status_code == 503, resp.text
    assert "no Unix account 'slurm-ghost'" in resp.json()["message"]
    assert not hub.user(ghost)["servers"]


def test_a_pending_reason_that_cannot_resolve_fails_the_spawn_at_once(hub, localslurm, no_jobs):
    node = localslurm["node"]
    scontrol(localslurm, "update", f"nodename={node}", "state=drain", "reason=primehub-test")
    try:
        started = time.monotonic()
        resp = hub.start_server(ALICE, {"instance_type": "cpu-1"})
        if resp.status_code == 202:  # the hub answered before the spawn failed: wait for it
            wait_for(lambda: not hub.user(ALICE)["pending"], 60, "the spawn to end")
            assert not hub.user(ALICE)["servers"]
            assert "SLURM cannot start this server" in hub.log_tail(300)
        else:
            assert resp.status_code == 503, resp.text
            assert "SLURM cannot start this server" in resp.json()["message"]
            assert "(ReqNodeNotAvail)" in resp.json()["message"]
        assert time.monotonic() - started < 60  # start_timeout is 90
        wait_for(lambda: not jobs_of(localslurm, ALICE), 30, "the job cancelled")
    finally:
        scontrol(localslurm, "update", f"nodename={node}", "state=resume")
    wait_for(lambda: "IDLE" in scontrol(localslurm, "show", "node", node), 30, "node idle")
