"""Kernel-gateway split on a real hub and the local cluster: users start split servers, run code
over the kernel websocket through the hub's proxy, and the code runs where the kernels should.

One hub for this module (its own namespace), with the reference config, the e2e catalog and
``kernel_gateway = "optional"``; per user, the test config picks the mode: alice sidecar, bob
separate pod, erin a gateway that never listens, dora a gateway pod no node can take.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
import requests
import websocket

from localk8s.hubtesting import HubProcess, start_hub
from localk8s.settings import REPO_ROOT
from localk8s.testing import wait_for

pytestmark = pytest.mark.cluster

HERE = Path(__file__).parent
EXTRA_CONFIG = """
c.PrimeHubSpawner.kernel_gateway = "optional"
c.PrimeHubSpawner.kernel_gateway_notebook_image = "jupyter/base-notebook:latest"
# a dead gateway pod is noticed at the next poll: short, so the test does not wait 30 s
c.PrimeHubSpawner.poll_interval = 3


async def _per_user_gateway(spawner, options):
    # test knobs: the mode (and a broken gateway) per user
    import asyncio
    import os
    from pathlib import Path

    if spawner.user.name == "bob":
        spawner.kernel_gateway_mode = "pod"
    if spawner.user.name == "dora":
        # the gateway pod asks for 8 GPUs (the node has 2); the spawn goes on once the test
        # has the spawn page's progress stream open (it creates the file); meanwhile the
        # POST answers 202 after JupyterHub's slow_spawn_timeout (10 s)
        spawner.kernel_gateway_mode = "pod"
        gate = Path(os.environ["PRIMEHUB_STATE_DIR"]) / "dora-go"
        while not await asyncio.to_thread(gate.exists):
            await asyncio.sleep(0.2)
    if spawner.user.name == "erin":
        # never listens (the gateway options become the script's ignored arguments)
        spawner.kernel_gateway_command = ["sh", "-c", "sleep 3600", "kg"]
        spawner.kernel_gateway_ready_timeout = 15
    if spawner.user.name == "racer":
        spawner.kernel_gateway_command = ["python3", "-c", "raise SystemExit(3)"]
    await spawner.apply_primehub_options(options)


c.PrimeHubSpawner.apply_user_options = _per_user_gateway
"""

# What the kernel reports about where it runs.
PROBE = """
import json, os, socket
print(json.dumps({
    "parent": open(f"/proc/{os.getppid()}/cmdline").read().replace("\\0", " "),
    "hostname": socket.gethostname(),
    "cwd": os.getcwd(),
    "env": {k: os.environ.get(k) for k in (
        "GROUP_NAME", "INSTANCE_TYPE", "IMAGE_NAME", "MY_VAR", "HOME", "NVIDIA_VISIBLE_DEVICES",
        "JUPYTER_GATEWAY_URL", "JUPYTERHUB_API_TOKEN", "KG_AUTH_TOKEN")},
    "shared_file": open(os.path.expanduser("~/kg-shared.txt")).read(),
}))
"""


def start_kg_hub(k8s_cluster, workdir: Path, namespace: str) -> HubProcess:
    """A hub offering the split (the module's config) whose servers go to ``namespace``."""
    shutil.copy(HERE / "catalog.yaml", workdir / "catalog.yaml")
    env = {
        **k8s_cluster.env,
        "PRIMEHUB_CATALOG": str(workdir / "catalog.yaml"),
        "PRIMEHUB_NAMESPACE": namespace,
        "PRIMEHUB_STATE_DIR": str(workdir),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    config = f"load_subconfig({str(REPO_ROOT / 'jupyterhub_config.py')!r})\n{EXTRA_CONFIG}"
    return start_hub(config, workdir, hub_ip=k8s_cluster.bridge_ip, env=env)


@pytest.fixture(scope="module")
def kg_hub(k8s_cluster, tmp_path_factory):
    """(hub, namespace): a hub offering the split, in a namespace of its own."""
    namespace = k8s_cluster.create_namespace("kg")
    hub = start_kg_hub(k8s_cluster, tmp_path_factory.mktemp("kg-hub"), namespace)
    try:
        yield hub, namespace
    finally:
        hub.stop()
        k8s_cluster.delete_namespace(namespace)


@pytest.fixture
def hub(kg_hub) -> HubProcess:
    return kg_hub[0]


@pytest.fixture
def pods(k8s_cluster, kg_hub):
    """``pods(user)``: the user's pods (servers and gateway pods) in the hub's namespace."""

    def list_pods(user: str) -> list[dict]:
        return k8s_cluster.get("pods", "-n", kg_hub[1], "-l", f"primehub.io/user={user}")["items"]

    return list_pods


def by_name(items: list[dict]) -> dict[str, dict]:
    return {item["name"]: item for item in items}


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def server_url(hub: HubProcess, user: str) -> str:
    return f"{hub.url}/user/{user}/"


def put_file(hub: HubProcess, user: str, token: str, path: str, text: str) -> None:
    """Write a file through the notebook server's contents API (the notebook container)."""
    resp = requests.put(
        server_url(hub, user) + f"api/contents/{path}",
        json={"type": "file", "format": "text", "content": text},
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    assert resp.status_code in (200, 201), resp.text


def run_code(hub: HubProcess, user: str, token: str, code: str) -> str:
    """Start a kernel through the server's REST API, run ``code`` over the kernel websocket
    (through the hub's proxy) and return its stdout."""
    headers = {"Authorization": f"token {token}"}
    base = server_url(hub, user)
    # generous: the first kernel start goes notebook server -> gateway -> new kernel
    resp = requests.post(
        base + "api/kernels", json={"name": "python3"}, headers=headers, timeout=120
    )
    assert resp.status_code == 201, resp.text
    kernel_id = resp.json()["id"]
    try:
        return execute(hub, user, token, kernel_id, code)
    finally:
        # the kernel listing goes through the gateway too (list_kernels=True)
        listed = requests.get(base + "api/kernels", headers=headers, timeout=60)
        assert listed.status_code == 200, listed.text
        assert kernel_id in {k["id"] for k in listed.json()}
        requests.delete(base + f"api/kernels/{kernel_id}", headers=headers, timeout=60)


def run_in_notebook(hub: HubProcess, user: str, token: str, path: str, code: str) -> str:
    """Open notebook ``path`` as JupyterLab does (a session: the server starts the kernel for
    the notebook's folder), run ``code`` in its kernel and return its stdout."""
    headers = {"Authorization": f"token {token}"}
    base = server_url(hub, user)
    body = {
        "path": path,
        "name": path.rsplit("/", 1)[-1],
        "type": "notebook",
        "kernel": {"name": "python3"},
    }
    resp = requests.post(base + "api/sessions", json=body, headers=headers, timeout=120)
    assert resp.status_code == 201, resp.text
    session = resp.json()
    try:
        return execute(hub, user, token, session["kernel"]["id"], code)
    finally:
        requests.delete(base + f"api/sessions/{session['id']}", headers=headers, timeout=60)


def execute(hub: HubProcess, user: str, token: str, kernel_id: str, code: str) -> str:
    """Run ``code`` in kernel ``kernel_id`` over the kernel websocket (through the hub's
    proxy) and return its stdout."""
    base = server_url(hub, user)
    ws_url = base.replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels"
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=120)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": user,
                        "session": uuid.uuid4().hex,
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
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()


def make_folder(hub: HubProcess, user: str, token: str, path: str) -> None:
    resp = requests.put(
        server_url(hub, user) + f"api/contents/{path}",
        json={"type": "directory"},
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    assert resp.status_code in (200, 201), resp.text


# In the notebook's folder: the file beside the notebook, by its relative name.
FOLDER_PROBE = "import os; print(os.getcwd()); print(open('data.csv').read(), end='')"


def check_kernels_start_in_the_notebooks_folder(hub: HubProcess, user: str, token: str) -> None:
    """A notebook in ~/team/project/ reads data.csv beside it (Kernel Gateway 3 alone starts
    every kernel in home); a folder whose link leads out of the volumes starts in home."""
    for folder in ("team", "team/project"):
        make_folder(hub, user, token, folder)
    put_file(hub, user, token, "team/project/data.csv", "a,b\n1,2\n")
    cwd, data = run_in_notebook(
        hub, user, token, "team/project/analysis.ipynb", FOLDER_PROBE
    ).split("\n", 1)
    assert data == "a,b\n1,2\n"
    assert cwd.endswith("/team/project"), cwd  # ~/team links to the group volume
    # a link planted in the user's files, leading out of the mounted volumes: refused
    run_code(hub, user, token, "import os; os.symlink('/etc', os.path.expanduser('~/escape'))")
    try:
        cwd = run_in_notebook(hub, user, token, "escape/x.ipynb", "import os; print(os.getcwd())")
        assert cwd.strip() == "/home/jovyan"
    finally:
        run_code(hub, user, token, "import os; os.unlink(os.path.expanduser('~/escape'))")


def spawn(hub: HubProcess, user: str, options: dict) -> str:
    hub.create_user(user)
    resp = hub.start_server(user, options)
    assert resp.status_code in (201, 202), resp.text
    hub.wait_server(user, timeout=300)
    return hub.user_token(user)


def test_sidecar_runs_code_in_the_kernel_container(hub, pods):
    token = spawn(
        hub,
        "alice",
        {
            "group": "team",
            "instance_type": "cpu-1",
            "kernel_gateway": True,
            "env": {"MY_VAR": "hi"},
        },
    )
    try:
        (pod,) = pods("alice")
        containers = by_name(pod["spec"]["containers"])
        assert list(containers) == ["notebook", "kernel"]
        notebook, kernel = containers["notebook"], containers["kernel"]
        # the notebook container's own small limits count in quota too
        assert notebook["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}
        assert kernel["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
        assert env_of(notebook)["JUPYTER_GATEWAY_URL"] == "http://127.0.0.1:8889"

        put_file(hub, "alice", token, "kg-shared.txt", "written by the notebook server")
        report = json.loads(run_code(hub, "alice", token, PROBE))
        # the kernel's parent is the gateway: it ran in the kernel container
        assert "kernelgateway" in report["parent"], report
        env = report["env"]
        # the env whitelist: PrimeHub env and the user's variables reach the kernel ...
        assert env["GROUP_NAME"] == "team" and env["INSTANCE_TYPE"] == "cpu-1"
        assert env["IMAGE_NAME"] == "base" and env["MY_VAR"] == "hi"
        assert env["HOME"] == "/home/jovyan" and env["NVIDIA_VISIBLE_DEVICES"] == "none"
        # ... the notebook server's own settings and the hub token do not
        assert env["JUPYTER_GATEWAY_URL"] is None and env["JUPYTERHUB_API_TOKEN"] is None
        # same volumes at the same paths: the kernel sees the file the server wrote
        assert report["shared_file"] == "written by the notebook server"
        assert report["cwd"] == "/home/jovyan"  # a kernel without a notebook: home
        check_kernels_start_in_the_notebooks_folder(hub, "alice", token)
    finally:
        hub.stop_server("alice", timeout=180)
    wait_for(lambda: not pods("alice"), 120, what="alice's pod deleted")


def test_sidecar_gpu_limit_only_on_kernel(hub, pods):
    spawn(hub, "alice", {"group": "team", "instance_type": "gpu-1", "kernel_gateway": True})
    try:
        (pod,) = pods("alice")
        containers = by_name(pod["spec"]["containers"])
        assert containers["kernel"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        notebook = containers["notebook"]
        assert "nvidia.com/gpu" not in json.dumps(notebook["resources"])
        assert env_of(notebook)["NVIDIA_VISIBLE_DEVICES"] == "none"
        assert "NVIDIA_VISIBLE_DEVICES" not in env_of(containers["kernel"])
        assert pod["spec"]["nodeSelector"] == {"gpu": "true"}
    finally:
        hub.stop_server("alice", timeout=180)
    wait_for(lambda: not pods("alice"), 120, what="alice's pod deleted")


def test_separate_pod_runs_code_and_goes_away_with_the_server(hub, pods, k8s_cluster, kg_hub):
    token = spawn(hub, "bob", {"group": "team", "instance_type": "gpu-1", "kernel_gateway": True})
    try:
        found = {p["metadata"]["name"]: p for p in pods("bob")}
        server = next(
            p for p in found.values() if p["metadata"]["labels"]["component"] == "singleuser-server"
        )
        name = server["metadata"]["name"]
        kpod = found[f"{name}-kernel"]
        # owned by the notebook pod: Kubernetes garbage-collects it with the server
        (owner,) = kpod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "Pod",
            name,
            server["metadata"]["uid"],
        )
        # the kernel pod holds the GPU and counts in quota (group/user labels, limits)
        (kernel,) = kpod["spec"]["containers"]
        assert kernel["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert kpod["metadata"]["labels"]["primehub.io/group"] == "team"
        assert "primehub.io/usage" in kpod["metadata"]["annotations"]
        assert kpod["spec"]["nodeSelector"] == {"gpu": "true"}
        (notebook,) = server["spec"]["containers"]
        assert notebook["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}
        assert "nodeSelector" not in server["spec"]
        assert env_of(notebook)["JUPYTER_GATEWAY_URL"].endswith(":8889")

        put_file(hub, "bob", token, "kg-shared.txt", "bob's file")
        report = json.loads(run_code(hub, "bob", token, PROBE))
        assert report["hostname"] == kpod["metadata"]["name"], report  # ran in the kernel pod
        assert report["env"]["GROUP_NAME"] == "team" and report["env"]["INSTANCE_TYPE"] == "gpu-1"
        assert report["env"]["KG_AUTH_TOKEN"] is None  # the gateway's secret stays out of kernels
        assert report["shared_file"] == "bob's file"
        check_kernels_start_in_the_notebooks_folder(hub, "bob", token)

        # the gateway token is in a per-server Secret owned by the notebook pod, never a value
        # in either pod's spec (whoever may read pods must not read the token)
        secret = k8s_cluster.get("secret", f"{name}-kernel-token", "-n", kg_hub[1])
        (owner,) = secret["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "Pod",
            name,
            server["metadata"]["uid"],
        )
        token_value = base64.b64decode(secret["data"]["token"]).decode()
        assert len(token_value) >= 32
        for pod in (server, kpod):
            assert token_value not in json.dumps(pod)
        for container, var in ((kernel, "KG_AUTH_TOKEN"), (notebook, "JUPYTER_GATEWAY_AUTH_TOKEN")):
            (entry,) = [e for e in container["env"] if e["name"] == var]
            assert entry == {
                "name": var,
                "valueFrom": {"secretKeyRef": {"name": f"{name}-kernel-token", "key": "token"}},
            }

        # the gateway refuses requests without its token (other pods cannot use it)
        ip = kpod["status"]["podIP"]
        anonymous = requests.get(f"http://{ip}:8889/api/kernels", timeout=30)
        assert anonymous.status_code in (401, 403), anonymous.text
        # a second GPU server of bob is over his quota (gpu: 1): the kernel pod counts
        refused = hub.start_server(
            "bob", {"group": "team", "instance_type": "gpu-1"}, server_name="second"
        )
        assert refused.status_code == 403, refused.text
        assert "exceeded gpu quota" in refused.json()["message"]
    finally:
        hub.stop_server("bob", timeout=180)
    wait_for(lambda: not pods("bob"), 120, what="bob's server and kernel pods deleted")
    wait_for(
        lambda: secret_gone(k8s_cluster, kg_hub[1], f"{name}-kernel-token"),
        60,
        what="the token's Secret deleted with the server",
    )


def secret_gone(k8s_cluster, namespace: str, name: str) -> bool:
    proc = k8s_cluster.kubectl("get", "secret", name, "-n", namespace, check=False)
    return proc.returncode != 0 and "NotFound" in proc.stderr


def test_unschedulable_gateway_pod_fails_fast_saying_why_on_the_spawn_page(
    hub, pods, k8s_cluster, kg_hub
):
    """Pod mode, a gateway pod asking for 8 GPUs on a node with 2: the spawn page says the
    kernel pod is starting on a GPU node, and the spawn fails at once with the scheduler's
    reason (as for a notebook pod), leaving nothing behind."""
    hub.create_user("dora")
    token = hub.user_token("dora")
    gate = hub.workdir / "dora-go"
    gate.unlink(missing_ok=True)
    resp = hub.start_server(
        "dora", {"group": "big", "instance_type": "gpu-8", "kernel_gateway": True}
    )
    assert resp.status_code == 202, resp.text
    events = []
    with hub.session.get(
        hub.api_url + "/users/dora/server/progress",
        headers={"Authorization": f"token {token}"},
        stream=True,
        timeout=240,
    ) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                events.append(json.loads(line[len("data:") :]))
                gate.touch()  # the stream follows the spawn: let it go on
    messages = [e["message"] for e in events]
    assert "Starting the kernel pod on a GPU node..." in messages, messages
    assert events[-1].get("failed"), events
    assert "The kernel pod cannot be scheduled" in events[-1]["message"], events
    assert "Insufficient nvidia.com/gpu" in events[-1]["message"], events
    wait_for(lambda: not pods("dora"), 120, what="dora's kernel pod removed")
    wait_for(
        lambda: secret_gone(k8s_cluster, kg_hub[1], "jupyter-dora-kernel-token"),
        60,
        what="dora's token Secret removed",
    )
    assert hub.user("dora")["servers"] == {}


@pytest.mark.parametrize(
    "user, group, expected",
    [
        ("erin", "other", "did not become ready within 15 s"),
        ("racer", "race", "keeps exiting (exit code 3"),
    ],
)
def test_gateway_that_never_gets_ready_fails_the_spawn_saying_so(hub, pods, user, group, expected):
    hub.create_user(user)
    token = hub.user_token(user)
    resp = hub.start_server(user, {"group": group, "kernel_gateway": True})
    assert resp.status_code in (202, 503), resp.text
    if resp.status_code == 503:
        message = resp.json()["message"]
    else:
        with hub.session.get(
            hub.api_url + f"/users/{user}/server/progress",
            headers={"Authorization": f"token {token}"},
            stream=True,
            timeout=240,
        ) as stream:
            events = [
                json.loads(line[len("data:") :])
                for line in stream.iter_lines(decode_unicode=True)
                if line and line.startswith("data:")
            ]
        assert events[-1].get("failed"), events
        message = events[-1]["message"]
    assert "The kernel gateway (container kernel)" in message and expected in message
    wait_for(lambda: not pods(user), 120, what=f"{user}'s pod removed")
    assert hub.user(user)["servers"] == {}


def test_deleted_gateway_pod_stops_the_server(hub, pods, k8s_cluster, kg_hub):
    """Pod mode: someone (or the node controller) deletes the gateway pod. The hub must not keep
    saying the server is ready while the notebook sends code and the gateway token to a dead
    address: the next poll reports it stopped, saying why, and both pods go away."""
    spawn(hub, "bob", {"group": "team", "instance_type": "cpu-1", "kernel_gateway": True})
    try:
        found = {p["metadata"]["name"]: p for p in pods("bob")}
        (kernel_name,) = [n for n in found if n.endswith("-kernel")]
        server_name = kernel_name[: -len("-kernel")]
        assert (
            found[server_name]["metadata"]["annotations"]["primehub.io/kernel-gateway-pod"]
            == kernel_name
        )
        assert hub.user("bob")["servers"][""]["ready"] is True
        k8s_cluster.kubectl("delete", "pod", "-n", kg_hub[1], kernel_name, "--wait=false")
        # poll_interval is 3 s: a minute is many polls
        wait_for(lambda: hub.user("bob")["servers"] == {}, 60, what="bob's server reported stopped")
        assert f"The kernel pod {kernel_name} was deleted." in hub.log_path.read_text()
    finally:
        if hub.user("bob")["servers"]:
            hub.stop_server("bob", timeout=180)
    wait_for(lambda: not pods("bob"), 120, what="bob's server and kernel pods deleted")


def _fake_pod(name: str, labels: dict, limits: dict) -> dict:
    """A pod that never schedules (no node has the label): Pending, so it counts in quota."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "nodeSelector": {"primehub.io/test": "no-such-node"},
            "containers": [
                {
                    "name": "kernel",
                    "image": "jupyter/base-notebook:latest",
                    "resources": {"limits": limits, "requests": limits},
                }
            ],
        },
    }


def test_ownerless_gateway_pods_are_adopted_or_deleted_at_start_up(k8s_cluster, tmp_path_factory):
    """A hub crashed between creating a gateway pod and setting its owner: the gateway pod
    (here a GPU one of bob) would count against quota forever. The next hub, at its first
    spawner use, deletes it (its notebook pod is gone) or adopts it (its notebook pod exists)."""
    namespace = k8s_cluster.create_namespace("kgorphan")
    try:
        people = {"primehub.io/group": "team", "primehub.io/user": "bob"}
        gateway = {**people, "component": "singleuser-kernel-gateway"}
        k8s_cluster.apply(
            _fake_pod(
                "jupyter-ghost-kernel",
                {**gateway, "primehub.io/kernel-gateway-for": "jupyter-ghost"},
                {"cpu": "100m", "memory": "64Mi", "nvidia.com/gpu": "1"},
            ),
            namespace,
        )
        k8s_cluster.apply(
            _fake_pod("jupyter-host", {**people, "component": "singleuser-server"}, {}),
            namespace,
        )
        k8s_cluster.apply(
            _fake_pod(
                "jupyter-host-kernel",
                {**gateway, "primehub.io/kernel-gateway-for": "jupyter-host"},
                {"cpu": "100m", "memory": "64Mi"},
            ),
            namespace,
        )
        host_uid = k8s_cluster.pod(namespace, "jupyter-host")["metadata"]["uid"]
        hub = start_kg_hub(k8s_cluster, tmp_path_factory.mktemp("kg-orphan-hub"), namespace)
        try:
            hub.create_user("bob")
            token = hub.user_token("bob")

            def bob_gpus() -> int:
                resp = hub.api("GET", "/primehub/groups", token=token)  # first spawner use
                assert resp.status_code == 200, resp.text
                (team,) = resp.json()["groups"]
                return team["usage"]["user"]["gpu"]

            wait_for(lambda: bob_gpus() == 0, 60, what="the orphan's GPU no longer counted")
            wait_for(
                lambda: k8s_cluster.pod_gone(namespace, "jupyter-ghost-kernel"),
                60,
                what="the ownerless gateway pod without a notebook pod deleted",
            )
            adopted = k8s_cluster.pod(namespace, "jupyter-host-kernel")
            (owner,) = adopted["metadata"]["ownerReferences"]
            assert (owner["kind"], owner["name"], owner["uid"]) == (
                "Pod",
                "jupyter-host",
                host_uid,
            )
            log = hub.log_path.read_text()
            assert f"Deleted ownerless kernel gateway pod {namespace}/jupyter-ghost-kernel" in log
            assert f"Adopted ownerless kernel gateway pod {namespace}/jupyter-host-kernel" in log
        finally:
            hub.stop()
    finally:
        k8s_cluster.delete_namespace(namespace)
