"""The two hubs the spawn benchmarks compare, on the local cluster.

* PrimeHub: the reference ``jupyterhub_config.py`` with a one-group catalog.
* KubeSpawner: plain KubeSpawner with an equivalent one-profile ``profile_list`` (same
  resources, same home PVC and mount, same command), nothing PrimeHub-specific.

Both count their Kubernetes API requests (``bench.k8s_requests``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import yaml

from localk8s.hubtesting import HubProcess, start_hub
from localk8s.settings import REPO_ROOT

CPU, CPU_REQUEST, MEMORY, MEMORY_REQUEST = 0.5, 0.1, "512Mi", "256Mi"
#: On the node agent an image is only a label; on containerd both hubs run primehub-notebook.
AGENT_IMAGE = "jupyter/base-notebook:latest"


def catalog(users: list[str], image: str = AGENT_IMAGE) -> dict[str, Any]:
    """One group with one CPU instance type and one image, no datasets or group volume."""
    return {
        "instanceTypes": {
            "cpu-half": {
                "displayName": "CPU 0.5",
                "cpu": CPU,
                "memory": MEMORY,
                "cpuRequest": CPU_REQUEST,
                "memoryRequest": MEMORY_REQUEST,
            }
        },
        "images": {"base": {"displayName": "Base", "url": image}},
        "groups": {
            "bench": {
                "displayName": "Bench",
                "members": users,
                "instanceTypes": ["cpu-half"],
                "images": ["base"],
            }
        },
    }


COUNTING = "from bench.k8s_requests import install as _count\n_count(c)\n"

KUBESPAWNER_CONFIG = """
import sys
from pathlib import Path
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.JupyterHub.allow_named_servers = True
c.KubeSpawner.namespace = {namespace!r}
c.KubeSpawner.image = {image!r}
if {agent!r}:
    # the node agent runs the command from this venv (what the reference config does too)
    c.KubeSpawner.cmd = [str(Path(sys.prefix) / "bin" / "jupyterhub-singleuser")]
    c.KubeSpawner.args = ["--allow-root"]
    c.KubeSpawner.environment = {{"HOME": "/home/jovyan"}}
c.KubeSpawner.start_timeout = 300
c.KubeSpawner.http_timeout = 120
c.KubeSpawner.automount_service_account_token = False
# the same home volume PrimeHubSpawner creates
c.KubeSpawner.storage_pvc_ensure = True
c.KubeSpawner.pvc_name_template = "claim-{{username}}"
c.KubeSpawner.storage_capacity = "1Gi"
c.KubeSpawner.volumes = [
    {{"name": "home", "persistentVolumeClaim": {{"claimName": "claim-{{username}}"}}}}
]
c.KubeSpawner.volume_mounts = [{{"name": "home", "mountPath": "/home/jovyan"}}]
c.KubeSpawner.profile_list = [
    {{
        "display_name": "Bench: CPU 0.5",
        "slug": "bench",
        "default": True,
        "kubespawner_override": {{
            "cpu_limit": {cpu}, "cpu_guarantee": {cpu_request},
            "mem_limit": "512M", "mem_guarantee": "256M",
        }},
    }}
]
chp = Path({repo!r}) / "node_modules" / ".bin" / "configurable-http-proxy"
if chp.exists():
    c.ConfigurableHTTPProxy.command = [str(chp)]
"""


def start_primehub(
    cluster: Any, namespace: str, workdir: Path, users: list[str], image: str = AGENT_IMAGE
) -> HubProcess:
    """The reference hub with the bench catalog, counting its Kubernetes requests."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "catalog.yaml").write_text(yaml.safe_dump(catalog(users, image)))
    env = {
        **cluster.env,
        "PRIMEHUB_CATALOG": str(workdir / "catalog.yaml"),
        "PRIMEHUB_NAMESPACE": namespace,
        "PRIMEHUB_STATE_DIR": str(workdir),
        "PYTHONPATH": _pythonpath(),
    }
    config = f"load_subconfig({str(REPO_ROOT / 'jupyterhub_config.py')!r})\n{COUNTING}"
    return start_hub(config, workdir, hub_ip=cluster.bridge_ip, env=env)


def start_kubespawner(
    cluster: Any, namespace: str, workdir: Path, image: str = AGENT_IMAGE
) -> HubProcess:
    """Plain KubeSpawner with the equivalent profile, counting its Kubernetes requests."""
    config = KUBESPAWNER_CONFIG.format(
        namespace=namespace,
        cpu=CPU,
        cpu_request=CPU_REQUEST,
        repo=str(REPO_ROOT),
        image=image,
        agent=image == AGENT_IMAGE,
    )
    env = {**cluster.env, "PYTHONPATH": _pythonpath()}
    return start_hub(config + COUNTING, workdir, hub_ip=cluster.bridge_ip, env=env)


def workdir(section: str) -> Path:
    """A fresh folder for a section's hubs, kept after the run for their logs (git-ignored)."""
    path = REPO_ROOT / ".state" / "bench" / section
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _pythonpath() -> str:
    return os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))


def request_records(hub: HubProcess, since: int = 0) -> tuple[int, list[list[str]]]:
    """(total so far, records from ``since``) of the hub's Kubernetes requests."""
    resp = hub.api("GET", f"/bench/k8s-requests?since={since}")
    if resp.status_code != 200:
        raise RuntimeError(f"request counts: {resp.status_code} {resp.text}\n{hub.log_tail(40)}")
    data = resp.json()
    return data["total"], data["records"]


def summarize(records: list[list[str]], after: list[list[str]] = ()) -> dict[str, int]:
    """``verb resource`` -> count; reflector cycles (a list, then a watch of the same path and
    selector: KubeSpawner's reflectors re-list every 10-30 s whatever the hub does) are
    counted under ``reflector <resource>`` instead. ``after``: the records that followed, so a
    reflector's list at the very end of the window is recognised by its watch."""
    reflector = set()
    pending_lists = {}
    for i, (verb, _, path, selector) in enumerate(records):
        if verb == "list":
            pending_lists[(path, selector)] = i
        elif verb == "watch":
            pending_lists.pop((path, selector), None)
    for verb, _, path, selector in after:
        if verb == "watch" and (path, selector) in pending_lists:
            reflector.add(pending_lists.pop((path, selector)))
    for i, (verb, _, path, selector) in enumerate(records):
        if verb == "watch":
            reflector.add(i)
            for j in range(i - 1, -1, -1):
                if records[j][0] == "list" and records[j][2:] == [path, selector]:
                    reflector.add(j)
                    break
    counts: Counter[str] = Counter()
    for i, (verb, resource, _, _) in enumerate(records):
        counts[f"reflector {resource}" if i in reflector else f"{verb} {resource}"] += 1
    return dict(counts)


def spawn_and_wait(
    hub: HubProcess, user: str, options: dict[str, Any] | None, timeout: float = 300
) -> float:
    """POST a spawn and poll (every 0.1 s) until the server is ready; seconds it took."""
    start = time.perf_counter()
    resp = hub.start_server(user, options)
    if resp.status_code not in (201, 202):
        raise RuntimeError(f"spawn of {user} refused: {resp.status_code} {resp.text}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = hub.user(user)
        server = model.get("servers", {}).get("")
        if server and server.get("ready"):
            return time.perf_counter() - start
        if not server and not model.get("pending"):
            raise RuntimeError(f"spawn of {user} failed: {model}\n{hub.log_tail(30)}")
        time.sleep(0.1)
    raise RuntimeError(f"{user} not ready after {timeout:.0f}s\n{hub.log_tail(30)}")


def cluster_session(runtime: str = "agent") -> AbstractContextManager[Any]:
    """The local cluster with ``runtime`` for a benchmark, held like a test session holds it.

    The bench takes a session lease (``localk8s.testing.session_cluster``), so a test session that
    ends meanwhile does not stop the cluster under it; a cluster the bench had to start is
    stopped when the bench is the last one out, as test sessions do.
    """
    from localk8s.testing import session_cluster

    return contextmanager(session_cluster)(runtime)
