"""Idle culling on a real hub and the local cluster, with timeouts of seconds: the server culls an
idle kernel after its group's ``kernelIdleTimeout`` (not the spawner's default), the hub's
``jupyterhub-idle-culler`` stops an idle server, and a server running a local notebook job stays
up while the job runs and is culled once it has ended and the idle time has passed."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import nbformat
import pytest
import yaml

from localk8s.hubtesting import start_hub
from localk8s.settings import REPO_ROOT
from localk8s.testing import wait_for

from .conftest import HERE, PASSWORD

pytestmark = pytest.mark.cluster

HUB_IDLE = 10  # the hub's culler: --timeout (s)
KERNEL_IDLE = 3  # the group's culling.kernelIdleTimeout (the spawner default stays 1800 s)
JOB_SECONDS = 30  # a job longer than the culler's timeout + cull interval + activity interval


@pytest.fixture(scope="module")
def hub(k8s_cluster, tmp_path_factory):
    """The reference config with a culler of HUB_IDLE seconds checking every 2 s, servers that
    report their activity every 2 s, and a group whose kernels idle out after KERNEL_IDLE s."""
    namespace = k8s_cluster.create_namespace("cull")
    workdir = tmp_path_factory.mktemp("cullhub")
    catalog = yaml.safe_load((HERE / "catalog.yaml").read_text())
    catalog["groups"]["idlers"] = {
        "members": ["kim", "lou", "max"],
        "instanceTypes": ["cpu-small"],
        "sharedVolume": {"capacity": "1Gi", "homeSymlink": True},  # jobs run from here
        "culling": {"kernelIdleTimeout": KERNEL_IDLE},
    }
    (workdir / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    env = {
        **k8s_cluster.env,
        "PRIMEHUB_CATALOG": str(workdir / "catalog.yaml"),
        "PRIMEHUB_NAMESPACE": namespace,
        "PRIMEHUB_STATE_DIR": str(workdir),
        "PRIMEHUB_DEMO_PASSWORD": PASSWORD,
        "PRIMEHUB_IDLE_TIMEOUT": str(HUB_IDLE),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    config = f"""
load_subconfig({str(REPO_ROOT / "jupyterhub_config.py")!r})
for _service in c.JupyterHub.services:
    if _service["name"] == "idle-culler":
        _service["command"].append("--cull-every=2")
c.KubeSpawner.environment["JUPYTERHUB_ACTIVITY_INTERVAL"] = "2"
"""
    hub = start_hub(config, workdir, hub_ip=k8s_cluster.bridge_ip, env=env)
    try:
        yield hub
    finally:
        hub.stop()
        k8s_cluster.delete_namespace(namespace)


def start(hub, user: str) -> str:
    hub.create_user(user)
    token = hub.user_token(user)
    resp = hub.start_server(user, {"group": "idlers", "instance_type": "cpu-small"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_server(user)
    return token


def server_of(hub, user: str) -> dict | None:
    """The user's default server as the hub sees it (asking the hub is not server activity)."""
    return hub.user(user).get("servers", {}).get("")


def culled(hub, user: str) -> bool:
    model = hub.user(user)
    return not model.get("servers") and not model.get("pending")


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_an_idle_kernel_is_culled_after_its_groups_timeout(hub):
    token = start(hub, "kim")
    headers = {"Authorization": f"token {token}"}
    kernels = f"{hub.url}/user/kim/api/kernels"
    resp = hub.session.post(kernels, json={"name": "python3"}, headers=headers, timeout=60)
    assert resp.status_code == 201, resp.text
    kernel = resp.json()["id"]

    # listing kernels keeps the server active (the hub does not cull it) but not the kernel
    def gone() -> bool:
        listed = hub.session.get(kernels, headers=headers, timeout=30)
        assert listed.status_code == 200, listed.text
        return kernel not in [k["id"] for k in listed.json()]

    wait_for(gone, 90, interval=1, what="the idle kernel culled by the server")
    assert server_of(hub, "kim") is not None  # the kernel went, the server stayed
    hub.stop_server("kim")


def test_an_idle_server_is_stopped_by_the_hubs_culler(hub):
    start(hub, "lou")
    wait_for(lambda: culled(hub, "lou"), 120, interval=1, what="lou's idle server culled")
    # the hub's culler is what stopped it (the server's own idle shutdown is off: timeout 0)
    assert "Culling server lou " in hub.log_path.read_text()


def test_a_server_running_a_local_job_is_culled_only_after_the_job(hub):
    token = start(hub, "max")
    headers = {"Authorization": f"token {token}"}
    base = f"{hub.url}/user/max"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"import time; time.sleep({JOB_SECONDS})")]
    # the home symlink to the group volume (~/idlers) comes from the pod's start
    wait_for(
        lambda: hub.session.get(f"{base}/api/contents/idlers", headers=headers, timeout=30).ok,
        60,
        what="~/idlers in the server",
    )
    resp = hub.session.put(
        f"{base}/api/contents/idlers/busy.ipynb",
        json={"type": "notebook", "format": "json", "content": nb},
        headers=headers,
        timeout=30,
    )
    assert resp.status_code in (200, 201), resp.text
    resp = hub.session.post(
        f"{base}/primehub/api/jobs",
        json={"path": "idlers/busy.ipynb", "backend": "local"},
        headers=headers,
        timeout=60,
    )
    assert resp.status_code == 201, resp.text
    job = resp.json()
    submitted = datetime.now(timezone.utc)

    # From here on nobody talks to the server while the job runs: only the job keeps it active.
    # An idle server would be culled HUB_IDLE s after the submit; this one outlives that many
    # times over, and the hub hears of its activity well after the culler's timeout.
    def job_activity_reported() -> bool:
        server = server_of(hub, "max")
        assert server is not None, "the server was culled while its job ran"
        last = (server or {}).get("last_activity")
        return bool(last) and (when(last) - submitted).total_seconds() > HUB_IDLE + 6

    wait_for(job_activity_reported, JOB_SECONDS, interval=1, what="activity of the running job")

    def job_over() -> dict | None:
        server = server_of(hub, "max")
        assert server is not None, "the server was culled while its job ran"
        resp = hub.session.get(f"{base}/primehub/api/jobs/{job['id']}", headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
        status = resp.json()
        return status if status["status"] not in ("pending", "running") else None

    # asking for the job is activity too, but only from its end on the server can go idle
    ended = wait_for(job_over, JOB_SECONDS + 60, interval=5, what="the job's end")
    assert ended["status"] == "succeeded", ended
    wait_for(lambda: culled(hub, "max"), 120, interval=1, what="max's server culled after its job")
