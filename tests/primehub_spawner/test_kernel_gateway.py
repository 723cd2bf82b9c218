"""The kernel-gateway split (pure): golden YAML, resource placement, env whitelists, failures.

Regenerate the golden files after an intended change with
``UPDATE_GOLDEN=1 pytest tests/primehub_spawner/test_kernel_gateway.py`` and review the diff.
"""

import asyncio
import datetime as dt
import json
import os
import types
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.rest import ApiException
from launch_cases import CASES, build
from test_spawner import make_spawner, manifest_for, run  # noqa: F401 (fixture)
from tornado import web

from primehub_spawner.kernel_gateway import (
    CONFIG_ANNOTATION,
    CONFIG_DIR,
    CONFIG_FILE,
    CONFIG_VOLUME,
    GPU_ENV,
    KERNEL_OF_LABEL,
    KERNEL_POD_ANNOTATION,
    ROOTS_ENV,
    WORKDIR_SCRIPT,
    KernelGatewayError,
    KernelGatewaySettings,
    KernelPodProgress,
    forwarded_env_names,
    gateway_ended,
    gateway_pod_of,
    gateway_problem,
    gateway_url,
    kernel_pod,
    notebook_pod,
    notebook_usage,
    orphan_gateways,
    owner_reference,
    process_env_names,
    sidecar_pod,
    token_secret,
    use_split,
)
from primehub_spawner.quantities import Resources
from primehub_spawner.quota import pod_limits

GOLDEN = Path(__file__).parent / "golden"
K8S_SCHEMA_VERSION = "1.25"
SETTINGS = KernelGatewaySettings(
    notebook_image="jupyter/base-notebook:latest", working_dir="/home/jovyan"
)
POD_SETTINGS = KernelGatewaySettings(
    notebook_image="jupyter/base-notebook:latest", working_dir="/home/jovyan", mode="pod"
)
TOKEN = "jupyter-user-kernel-token"  # the Secret holding the gateway token
URL = "http://10.244.0.9:8889"
SCRIPT = "<primehub_spawner/kernel_gateway_workdir.py>"  # in golden files


def split(catalog, case: str) -> dict[str, dict]:
    """Every manifest the split makes for a launch case, by golden-file name."""
    plan, pod = build(catalog, *CASES[case])
    return {
        f"kernel_gateway_sidecar_{case}": sidecar_pod(pod, plan, SETTINGS),
        f"kernel_gateway_kernel_pod_{case}": kernel_pod(pod, plan, POD_SETTINGS, TOKEN),
        f"kernel_gateway_notebook_pod_{case}": notebook_pod(pod, plan, POD_SETTINGS, URL, TOKEN),
    }


def golden_form(manifest: dict) -> dict:
    """``manifest`` with the gateway config file's text (checked on its own) as a placeholder."""
    out = json.loads(json.dumps(manifest))
    annotations = out["metadata"].get("annotations") or {}
    if CONFIG_ANNOTATION in annotations:
        assert annotations[CONFIG_ANNOTATION] == WORKDIR_SCRIPT
        annotations[CONFIG_ANNOTATION] = SCRIPT
    return out


def containers(pod: dict) -> dict[str, dict]:
    return {c["name"]: c for c in pod["spec"]["containers"]}


def both(pod: dict) -> tuple[dict, dict]:
    """The containers notebook and kernel of a sidecar pod (others may follow them)."""
    by_name = containers(pod)
    return by_name["notebook"], by_name["kernel"]


def env_of(container: dict) -> dict[str, str]:
    """Plain env values (a value from a Secret shows as ``secret:<name>/<key>``)."""
    out = {}
    for e in container.get("env", []):
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        out[e["name"]] = f"secret:{ref['name']}/{ref['key']}" if ref else e["value"]
    return out


def options(container: dict, prefix: str) -> list[str]:
    return [a.split("=", 1)[1] for a in container["command"] if a.startswith(prefix + "=")]


@pytest.mark.parametrize("case", ["cpu", "gpu"])
def test_golden(catalog, case):
    for name, manifest in split(catalog, case).items():
        manifest = golden_form(manifest)
        path = GOLDEN / f"{name}.yaml"
        if os.environ.get("UPDATE_GOLDEN"):
            path.write_text(yaml.safe_dump(manifest, sort_keys=False, width=100))
        assert yaml.safe_load(path.read_text()) == manifest, name


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifests_match_kubernetes_schema(catalog, case):
    for manifest in split(catalog, case).values():
        kubernetes_validate.validate(manifest, K8S_SCHEMA_VERSION, strict=True)


def test_sidecar_gpu_and_limits_only_on_kernel(catalog):
    plan, pod = build(catalog, *CASES["gpu"])
    split_pod = sidecar_pod(pod, plan, SETTINGS)
    by_name = containers(split_pod)
    assert list(by_name)[:2] == ["notebook", "kernel"]
    notebook, kernel = by_name["notebook"], by_name["kernel"]
    # the kernel holds exactly what the single-container pod held
    assert kernel["resources"] == plan.resources_manifest()
    assert kernel["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # the notebook container: small requests and limits, no GPU
    assert notebook["resources"] == {
        "limits": {"cpu": "500m", "memory": "1Gi"},
        "requests": {"cpu": "100m", "memory": "256Mi"},
    }
    assert env_of(notebook)["NVIDIA_VISIBLE_DEVICES"] == "none"
    assert "NVIDIA_VISIBLE_DEVICES" not in env_of(kernel)  # the GPU runtime sets it
    # quota counts the kernel (the instance type) plus the notebook container's limits
    assert pod_limits(pod) == Resources(cpu=4, memory=16 * 2**30, gpu=1)
    assert pod_limits(split_pod) == Resources(cpu=4.5, memory=17 * 2**30, gpu=1)
    assert pod_limits(split_pod) == pod_limits(pod) + notebook_usage(SETTINGS)
    # the GPU node selector and toleration stay on the (shared) pod
    assert split_pod["spec"]["nodeSelector"] == {"gpu": "true"}
    assert split_pod["spec"]["tolerations"] == pod["spec"]["tolerations"]


def test_sidecar_containers(catalog):
    plan, pod = build(catalog, *CASES["gpu"])
    notebook, kernel = both(sidecar_pod(pod, plan, SETTINGS))
    # KubeSpawner finds the server port by name on the container named notebook
    assert notebook["ports"] == [{"name": "notebook-port", "containerPort": 8888}]
    assert "ports" not in kernel
    assert notebook["image"] == "jupyter/base-notebook:latest"
    assert kernel["image"] == plan.image == "registry.example/torch:cuda"
    assert notebook["command"] == pod["spec"]["containers"][0]["command"]
    assert kernel["command"][:4] == [
        "jupyter",
        "kernelgateway",
        "--KernelGatewayApp.ip=127.0.0.1",
        "--KernelGatewayApp.port=8889",
    ]
    assert "--JupyterWebsocketPersonality.list_kernels=True" in kernel["command"]
    env = env_of(notebook)
    assert env["JUPYTER_GATEWAY_URL"] == "http://127.0.0.1:8889"
    assert int(env["JUPYTER_GATEWAY_CONNECT_TIMEOUT"]) >= 40
    assert int(env["JUPYTER_GATEWAY_REQUEST_TIMEOUT"]) >= 40
    assert "JUPYTER_GATEWAY_AUTH_TOKEN" not in env  # pod-private address: no token needed
    # same volumes at the same paths: kernels see the user's files
    assert kernel["volumeMounts"][:-1] == notebook["volumeMounts"]
    assert kernel["workingDir"] == "/home/jovyan"
    # plus the gateway config that starts kernels in the notebook's folder within those mounts
    config = {"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True}
    assert kernel["volumeMounts"][-1] == config
    kenv = env_of(kernel)
    assert kenv["JUPYTER_CONFIG_PATH"] == CONFIG_DIR
    roots = [m["mountPath"] for m in notebook["volumeMounts"]]
    assert json.loads(kenv[ROOTS_ENV]) == roots and "/home/jovyan" in roots
    # readiness of the gateway gates the spawn (checked from inside: 127.0.0.1 is private)
    assert "exec" in kernel["readinessProbe"]
    assert "8889" in kernel["readinessProbe"]["exec"]["command"][-1]
    # the home symlink hook runs once, in the notebook container
    assert "lifecycle" in notebook and "lifecycle" not in kernel


def test_env_whitelists(catalog):
    plan, pod = build(catalog, *CASES["cpu"])  # cpu case: user env DEBUG=1
    notebook, kernel = both(sidecar_pod(pod, plan, SETTINGS))
    process = options(kernel, "--KernelGatewayApp.env_process_whitelist")
    for name in ("HOME", "GROUP_ID", "GROUP_NAME", "INSTANCE_TYPE", "IMAGE_NAME", "DEBUG"):
        assert name in process
    for name in ("NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
        assert name in process
    accepted = options(kernel, "--JupyterWebsocketPersonality.env_whitelist")
    forwarded = env_of(notebook)["JUPYTER_GATEWAY_ALLOWED_ENVS"].split(",")
    assert forwarded == accepted
    assert {"HOME", "GROUP_NAME", "INSTANCE_TYPE", "IMAGE_NAME", "DEBUG"} <= set(forwarded)
    # GPU visibility is never forwarded from the notebook container (whose value is none)
    assert not set(forwarded) & set(GPU_ENV)
    # the kernel keeps its own CPU-instance GPU setting
    assert env_of(kernel)["NVIDIA_VISIBLE_DEVICES"] == "none"


def test_kernel_culling_moves_to_the_gateway(catalog):
    plan, pod = build(catalog, *CASES["cpu"])
    cull = [
        "--MappingKernelManager.cull_idle_timeout=600",
        "--MappingKernelManager.cull_interval=150",
    ]
    pod["spec"]["containers"][0]["args"] = ["--ServerApp.shutdown_no_activity_timeout=7200", *cull]
    notebook, kernel = both(sidecar_pod(pod, plan, SETTINGS))
    assert kernel["command"][-2:] == cull
    assert "args" not in kernel
    assert notebook["args"] == pod["spec"]["containers"][0]["args"]  # the server keeps its own
    (kernel,) = kernel_pod(pod, plan, POD_SETTINGS, TOKEN)["spec"]["containers"]
    assert kernel["command"][-2:] == cull


def test_kernel_container_gets_no_server_secrets():
    from primehub_spawner.kernel_gateway import _kernel_env

    class Plan:
        env = {"GROUP_NAME": "g"}

    notebook = {
        "env": [
            {"name": "JUPYTERHUB_API_TOKEN", "value": "secret"},
            {"name": "JPY_API_TOKEN", "value": "secret"},
            {"name": "JUPYTER_IMAGE", "value": "x"},
            {"name": "HOME", "value": "/home/jovyan"},
            {"name": "GROUP_NAME", "value": "stale"},
        ]
    }
    assert _kernel_env(notebook, Plan()) == [
        {"name": "HOME", "value": "/home/jovyan"},
        {"name": "GROUP_NAME", "value": "g"},
    ]


def test_whitelist_names_are_unique():
    env = {"HOME": "/x", "GROUP_NAME": "g", "LD_LIBRARY_PATH": "/usr/lib"}
    assert process_env_names(env).count("HOME") == 1
    assert process_env_names(env).count("LD_LIBRARY_PATH") == 1
    assert forwarded_env_names(env) == ["HOME", "GROUP_NAME"]


def test_kernel_pod(catalog):
    plan, pod = build(catalog, *CASES["gpu"])
    kpod = kernel_pod(pod, plan, POD_SETTINGS, TOKEN)
    assert kpod["metadata"]["name"] == "jupyter-user-kernel"
    assert kpod["metadata"]["namespace"] == "hub"
    labels = kpod["metadata"]["labels"]
    # counted in quota (group/user labels) but not a server
    assert labels["primehub.io/group"] == "phusers" and labels["primehub.io/user"] == "alice"
    assert labels["component"] != "singleuser-server"
    assert labels[KERNEL_OF_LABEL] == "jupyter-user"
    usage = json.loads(kpod["metadata"]["annotations"]["primehub.io/usage"])
    assert usage["component_name"] == "jupyter-user-kernel" and usage["instance_type"] == "gpu-1"
    assert pod_limits(kpod) == pod_limits(pod)
    # the GPU node is the kernel's
    assert kpod["spec"]["nodeSelector"] == {"gpu": "true"}
    assert kpod["spec"]["tolerations"] == pod["spec"]["tolerations"]
    assert kpod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert kpod["spec"]["volumes"][:-1] == pod["spec"]["volumes"]
    assert kpod["spec"]["volumes"][-1]["name"] == CONFIG_VOLUME  # the gateway config file
    assert kpod["spec"]["automountServiceAccountToken"] is False
    (kernel,) = kpod["spec"]["containers"]
    assert "--KernelGatewayApp.ip=0.0.0.0" in kernel["command"]
    # the token comes from the per-server Secret, never a value in the pod spec
    assert env_of(kernel)["KG_AUTH_TOKEN"] == f"secret:{TOKEN}/token"
    assert kernel["readinessProbe"]["tcpSocket"] == {"port": "kernel-gateway"}


def test_kernel_pod_needs_a_token(catalog):
    plan, pod = build(catalog, *CASES["gpu"])
    with pytest.raises(KernelGatewayError, match="auth token"):
        kernel_pod(pod, plan, POD_SETTINGS, "")


def test_notebook_pod_of_pod_mode(catalog):
    plan, pod = build(catalog, *CASES["gpu"])
    npod = notebook_pod(pod, plan, POD_SETTINGS, URL, TOKEN)
    (notebook,) = npod["spec"]["containers"]
    env = env_of(notebook)
    assert env["JUPYTER_GATEWAY_URL"] == URL
    assert env["JUPYTER_GATEWAY_AUTH_TOKEN"] == f"secret:{TOKEN}/token"
    # the notebook pod has no gateway config file (its gateway runs elsewhere)
    assert npod["spec"]["volumes"] == pod["spec"]["volumes"]
    assert notebook["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}
    # the notebook pod counts in quota with its container's limits, no GPU
    assert pod_limits(npod) == notebook_usage(POD_SETTINGS) == Resources(cpu=0.5, memory=2**30)
    # the notebook pod can land on a CPU node
    assert "nodeSelector" not in npod["spec"] and "tolerations" not in npod["spec"]
    # it names its gateway pod (what the hub's poll watches)
    annotations = dict(npod["metadata"].pop("annotations"))
    assert gateway_pod_of(npod | {"metadata": {"annotations": annotations}}) == (
        "jupyter-user-kernel"
    )
    assert annotations.pop(KERNEL_POD_ANNOTATION) == "jupyter-user-kernel"
    assert npod["metadata"] | {"annotations": annotations} == pod["metadata"]


def test_notebook_pod_keeps_admin_node_selector(catalog):
    plan, pod = build(catalog, *CASES["gpu"])
    pod["spec"]["nodeSelector"]["pool"] = "users"  # e.g. the admin's KubeSpawner.node_selector
    admin_toleration = {"key": "users", "operator": "Exists", "effect": "NoSchedule"}
    pod["spec"]["tolerations"].append(admin_toleration)
    npod = notebook_pod(pod, plan, POD_SETTINGS, URL, TOKEN)
    assert npod["spec"]["nodeSelector"] == {"pool": "users"}
    assert npod["spec"]["tolerations"] == [admin_toleration]


def test_empty_notebook_image_keeps_the_users_image(catalog):
    plan, pod = build(catalog, *CASES["cpu"])
    notebook, kernel = both(sidecar_pod(pod, plan, KernelGatewaySettings()))
    assert notebook["image"] == kernel["image"] == plan.image


def test_owner_reference_and_url():
    ref = owner_reference("jupyter-alice", "uid-1")
    assert ref["kind"] == "Pod" and ref["uid"] == "uid-1" and ref["blockOwnerDeletion"] is True
    assert gateway_url("10.0.0.3", POD_SETTINGS) == "http://10.0.0.3:8889"
    assert gateway_url("fd00::3", POD_SETTINGS) == "http://[fd00::3]:8889"


@pytest.mark.parametrize(
    "switch, requested, expected",
    [
        ("off", False, False),
        ("off", True, False),
        ("optional", False, False),
        ("optional", True, True),
        ("always", False, True),
        ("always", True, True),
    ],
)
def test_use_split(switch, requested, expected):
    assert use_split(switch, requested) is expected


def test_bad_settings_say_what_to_change():
    with pytest.raises(KernelGatewayError, match="kernel_gateway: must be one of off, optional"):
        use_split("sometimes", True)
    with pytest.raises(KernelGatewayError, match="kernel_gateway_mode: must be one of sidecar"):
        KernelGatewaySettings(mode="service")
    with pytest.raises(KernelGatewayError, match="not a TCP port"):
        KernelGatewaySettings(port=0)
    with pytest.raises(KernelGatewayError, match="kernel_gateway_notebook_cpu_limit: .* 0.05"):
        KernelGatewaySettings(notebook_cpu_limit=0.05)
    with pytest.raises(KernelGatewayError, match="memory_limit: .*request .256Mi., got 128Mi"):
        KernelGatewaySettings(notebook_memory_limit=128 * 2**20)


NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def pod_with(status: dict) -> dict:
    return {"status": {"containerStatuses": [{"name": "notebook", "ready": True}, status]}}


def test_gateway_problem_ready_or_starting():
    assert gateway_problem(None, NOW, 60) is None
    assert gateway_problem({}, NOW, 60) is None
    assert gateway_problem(pod_with({"name": "kernel", "ready": True}), NOW, 60) is None
    starting = {
        "name": "kernel",
        "ready": False,
        "state": {"running": {"startedAt": "2026-01-01T11:59:30Z"}},
    }
    assert gateway_problem(pod_with(starting), NOW, 60) is None


def test_gateway_problem_never_ready():
    stuck = {
        "name": "kernel",
        "ready": False,
        "restartCount": 0,
        "state": {"running": {"startedAt": "2026-01-01T11:58:00Z"}},
    }
    reason = gateway_problem(pod_with(stuck), NOW, 60)
    assert reason == "The kernel gateway (container kernel) did not become ready within 60 s."


def test_gateway_problem_crash_loop():
    crashing = {
        "name": "kernel",
        "ready": False,
        "restartCount": 3,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1}},
    }
    reason = gateway_problem(pod_with(crashing), NOW, 600)
    assert "keeps exiting (exit code 1, 3 restarts)" in reason
    assert "jupyter kernelgateway" in reason
    once = dict(crashing, restartCount=1)
    assert gateway_problem(pod_with(once), NOW, 600) is None


# ---- the spawner's glue (no cluster: the spawner fixture of test_spawner) -----------------


@pytest.fixture
def new_spawner(request):
    """test_spawner's ``make_spawner``: a PrimeHubSpawner without a cluster, whose quota
    decisions read the fixture's pods too."""
    make = request.getfixturevalue("make_spawner")

    def new(*args, **kwargs):
        spawner = make(*args, **kwargs)
        spawner.admission_pods = spawner.group_pods
        return spawner

    return new


def test_spawner_always_splits_its_final_pod(new_spawner):
    async def go():
        spawner = new_spawner(
            kernel_gateway="always",
            kernel_gateway_notebook_image="jupyter/base-notebook:latest",
            kernel_idle_timeout=1800,
        )
        await spawner.apply_primehub_options({"instance_type": "gpu-1"})
        model = await spawner.get_pod_manifest()
        return model, await manifest_for(spawner, {"instance_type": "gpu-1"})

    model, pod = run(go())
    assert model.metadata.name  # still a model: KubeSpawner reads it
    kubernetes_validate.validate(pod, K8S_SCHEMA_VERSION, strict=True)
    notebook, kernel = both(pod)
    assert notebook["image"] == "jupyter/base-notebook:latest"
    assert kernel["image"] == "registry.example/torch:cuda"
    assert kernel["resources"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert notebook["resources"]["limits"] == {"cpu": "500m", "memory": "1Gi"}
    assert "JUPYTERHUB_API_TOKEN" in env_of(notebook)
    assert "JUPYTERHUB_API_TOKEN" not in env_of(kernel)
    assert "--MappingKernelManager.cull_idle_timeout=1800" in kernel["command"]


@pytest.mark.parametrize(
    "config, requested, names",
    [
        ({"kernel_gateway": "optional"}, False, ["notebook"]),
        ({"kernel_gateway": "optional"}, True, ["notebook", "kernel"]),
        ({"kernel_gateway_enabled": True}, True, ["notebook", "kernel"]),  # deprecated switch
    ],
)
def test_spawner_optional_split(new_spawner, config, requested, names):
    async def go():
        spawner = new_spawner(**config)
        return await manifest_for(spawner, {"instance_type": "cpu-2", "kernel_gateway": requested})

    assert list(containers(run(go()))) == names


def test_spawner_refuses_the_option_when_off(new_spawner):
    async def go():
        await new_spawner().apply_primehub_options({"kernel_gateway": True})

    with pytest.raises(web.HTTPError) as err:
        run(go())
    assert err.value.status_code == 400
    assert "kernel_gateway: not enabled on this hub" in err.value.log_message % err.value.args


# ---- notebook container limits count against quota ----------------------------------


def test_split_spawn_is_admitted_with_the_notebook_limits(new_spawner):
    def alice_pod(cpu: str) -> dict:
        return {
            "metadata": {
                "name": "jupyter-alice--other",
                "namespace": "hub",
                "labels": {"primehub.io/user": "alice", "primehub.io/group": "phusers"},
            },
            "spec": {"containers": [{"resources": {"limits": {"cpu": cpu}}}]},
            "status": {"phase": "Running"},
        }

    async def go(split: str, cpu: str, **config):
        spawner = new_spawner(kernel_gateway=split, pods={"hub/x": alice_pod(cpu)}, **config)
        try:
            await spawner.apply_primehub_options({"instance_type": "cpu-2"})
        except web.HTTPError as e:
            return e.jupyterhub_message
        return spawner.ledger.reservations[spawner._reservation_key].resources

    # alice holds 6 of her 8 CPUs: cpu-2 fits, cpu-2 split (+0.5 for the notebook) does not
    assert run(go("off", "6")) == Resources(cpu=2, memory=4 * 2**30)
    assert run(go("always", "6")) == "User alice exceeded cpu quota: 8, requesting 8.5"
    # what is reserved (and shown as usage while the pod starts) is what the pod will hold
    assert run(go("always", "1")) == Resources(cpu=2.5, memory=5 * 2**30)
    assert run(
        go(
            "always",
            "1",
            kernel_gateway_notebook_cpu_limit=1,
            kernel_gateway_notebook_memory_limit="2Gi",
        )
    ) == Resources(cpu=3, memory=6 * 2**30)


def test_split_pod_usage_counts_the_notebook_container(new_spawner, catalog):
    # the usage the form and GET /hub/api/primehub/groups show comes from the cached pods
    from primehub_spawner.quota import QuotaLedger

    plan, pod = build(catalog, *CASES["cpu"])
    split_pod = sidecar_pod(pod, plan, SETTINGS)
    split_pod["status"] = {"phase": "Running"}
    usage = QuotaLedger().usage({"hub/p": split_pod}, "phusers", "alice", now=0)
    assert usage.user == usage.group == Resources(cpu=2.5, memory=5 * 2**30)


def test_bad_notebook_memory_limit_is_a_503_for_users(new_spawner):
    async def go():
        spawner = new_spawner(kernel_gateway="always", kernel_gateway_notebook_memory_limit="1")
        await spawner.apply_primehub_options({"instance_type": "cpu-2"})

    with pytest.raises(web.HTTPError) as err:
        run(go())
    assert err.value.status_code == 503
    assert "misconfigured" in err.value.jupyterhub_message


# ---- pod mode: a dead gateway pod stops the server -------------------------------------


def gateway_pod(**status) -> dict:
    return {
        "metadata": {"name": "jupyter-alice-kernel", "namespace": "hub"},
        "status": {"phase": "Running", **status},
    }


def kernel_status(**fields) -> dict:
    return {"containerStatuses": [{"name": "kernel", **fields}]}


@pytest.mark.parametrize(
    "pod, expected",
    [
        (None, "The kernel pod jupyter-alice-kernel was deleted."),
        (
            {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {}},
            "The kernel pod jupyter-alice-kernel was deleted.",
        ),
        (
            gateway_pod(phase="Failed", reason="Evicted", message="The node was low on memory."),
            "The kernel pod jupyter-alice-kernel ended: Evicted (The node was low on memory.).",
        ),
        (
            gateway_pod(
                phase="Failed",
                **kernel_status(state={"terminated": {"reason": "OOMKilled", "exitCode": 137}}),
            ),
            "The kernel pod jupyter-alice-kernel ended: OOMKilled (exit code 137).",
        ),
        (
            gateway_pod(
                **kernel_status(
                    ready=False,
                    restartCount=3,
                    state={"waiting": {"reason": "CrashLoopBackOff"}},
                    lastState={"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                )
            ),
            "The kernel pod jupyter-alice-kernel ended: OOMKilled (exit code 137), "
            "and keeps exiting (3 restarts).",
        ),
        (gateway_pod(**kernel_status(ready=True)), None),
        # restarted once (an OOM kill, say): back at the same address, not dead
        (
            gateway_pod(
                **kernel_status(
                    ready=True,
                    restartCount=1,
                    state={"running": {}},
                    lastState={"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                )
            ),
            None,
        ),
    ],
)
def test_gateway_ended(pod, expected):
    assert gateway_ended(pod, "jupyter-alice-kernel") == expected


def running_notebook_pod(annotations: dict) -> dict:
    return {
        "metadata": {"name": "jupyter-alice", "namespace": "hub", "annotations": annotations},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.8",
            "containerStatuses": [{"name": "notebook", "ready": True, "state": {"running": {}}}],
        },
    }


@pytest.mark.parametrize(
    "annotated, cached, expected",
    [
        (True, {"hub/jupyter-alice-kernel": gateway_pod(**kernel_status(ready=True))}, None),
        (True, {}, 1),  # gateway pod deleted
        (True, {"hub/jupyter-alice-kernel": gateway_pod(phase="Failed", reason="Evicted")}, 1),
        (False, {}, None),  # not pod mode (sidecar or no split): nothing else to watch
    ],
)
def test_poll_watches_the_gateway_pod(
    new_spawner, annotated, cached, expected, caplog, monkeypatch
):
    from types import SimpleNamespace

    async def go():
        spawner = new_spawner(pods=dict(cached))
        spawner.pod_name = "jupyter-alice"

        async def no_watch():
            pass

        spawner._start_watching_pods = no_watch
        annotations = {KERNEL_POD_ANNOTATION: "jupyter-alice-kernel"} if annotated else {}
        reflector = SimpleNamespace(pods={"hub/jupyter-alice": running_notebook_pod(annotations)})
        monkeypatch.setitem(spawner.reflectors, spawner._get_reflector_key("pods"), reflector)
        stops = []

        async def stop(now=False):
            stops.append(now)

        spawner.stop = stop
        return await spawner.poll(), stops

    status, stops = run(go())
    assert status == expected
    # JupyterHub stops only servers poll() says are running: poll deletes both pods itself
    assert stops == ([] if expected is None else [True])
    if expected is not None:
        assert (
            "Server alice" in caplog.text and "The kernel pod jupyter-alice-kernel" in caplog.text
        )


# ---- ownerless gateway pods: adopted or deleted once per hub process ---------------------


def cached_pod(name: str, *, gateway: bool, uid: str = "", **meta) -> dict:
    labels = {"primehub.io/group": "phusers", "primehub.io/user": "alice"}
    if gateway:
        labels |= {"component": "singleuser-kernel-gateway", KERNEL_OF_LABEL: name[:-7]}
    else:
        labels["component"] = "singleuser-server"
    return {"metadata": {"name": name, "namespace": "hub", "labels": labels, "uid": uid, **meta}}


ORPHANS = {
    # notebook pod exists: adopt
    "hub/jupyter-a": cached_pod("jupyter-a", gateway=False, uid="uid-a"),
    "hub/jupyter-a-kernel": cached_pod("jupyter-a-kernel", gateway=True),
    # no notebook pod: delete
    "hub/jupyter-b-kernel": cached_pod("jupyter-b-kernel", gateway=True),
    # notebook pod on its way out: delete
    "hub/jupyter-c": cached_pod(
        "jupyter-c", gateway=False, uid="uid-c", deletionTimestamp="2026-01-01T00:00:00Z"
    ),
    "hub/jupyter-c-kernel": cached_pod("jupyter-c-kernel", gateway=True),
    # owned already, or being deleted: left alone
    "hub/jupyter-d-kernel": cached_pod(
        "jupyter-d-kernel", gateway=True, ownerReferences=[owner_reference("jupyter-d", "u")]
    ),
    "hub/jupyter-e-kernel": cached_pod(
        "jupyter-e-kernel", gateway=True, deletionTimestamp="2026-01-01T00:00:00Z"
    ),
    # a server pod without an owner is not a gateway pod
    "hub/jupyter-f": cached_pod("jupyter-f", gateway=False, uid="uid-f"),
}


def test_orphan_gateways():
    found = {o.name: (o.owner, o.secret) for o in orphan_gateways(ORPHANS)}
    assert found == {
        "jupyter-a-kernel": (owner_reference("jupyter-a", "uid-a"), "jupyter-a-kernel-token"),
        "jupyter-b-kernel": (None, "jupyter-b-kernel-token"),
        "jupyter-c-kernel": (None, "jupyter-c-kernel-token"),
    }


class RecordingApi:
    """The pod calls of the sweep, recorded (``fail``: raise a connection error)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple] = []
        self.fail = fail

    async def patch_namespaced_pod(self, name, namespace, body):
        if self.fail:
            raise ConnectionRefusedError("connection refused")
        self.calls.append(("patch", namespace, name, body))

    async def delete_namespaced_pod(self, name, namespace, grace_period_seconds=None):
        if self.fail:
            raise ConnectionRefusedError("connection refused")
        self.calls.append(("delete", namespace, name))

    async def patch_namespaced_secret(self, name, namespace, body):
        self.calls.append(("patch secret", namespace, name, body))

    async def delete_namespaced_secret(self, name, namespace):
        self.calls.append(("delete secret", namespace, name))


def test_sweep_adopts_or_deletes_orphans_once_per_process(new_spawner, monkeypatch):
    from primehub_spawner.spawner import PrimeHubSpawner

    monkeypatch.setattr(PrimeHubSpawner, "_gateway_sweeps", {})
    monkeypatch.setattr(PrimeHubSpawner, "_gateway_sweep_locks", {})

    async def go():
        failing = new_spawner(pods=dict(ORPHANS))
        failing.api = RecordingApi(fail=True)
        await failing._sweep_orphan_gateways()  # logged, retried later: spawns go on
        spawner = new_spawner(pods=dict(ORPHANS))
        spawner.api = RecordingApi()
        PrimeHubSpawner._gateway_sweeps.clear()  # "a minute later"
        await spawner._sweep_orphan_gateways()
        first = list(spawner.api.calls)
        await spawner._sweep_orphan_gateways()
        other = new_spawner(user="bob", pods=dict(ORPHANS))
        other.api = spawner.api
        await other._sweep_orphan_gateways()
        return first, spawner.api.calls

    first, calls = run(go())
    owner = owner_reference("jupyter-a", "uid-a")
    owned = {"metadata": {"ownerReferences": [owner]}}
    assert first == [
        ("patch", "hub", "jupyter-a-kernel", owned),
        ("patch secret", "hub", "jupyter-a-kernel-token", owned),
        ("delete secret", "hub", "jupyter-b-kernel-token"),
        ("delete", "hub", "jupyter-b-kernel"),
        ("delete secret", "hub", "jupyter-c-kernel-token"),
        ("delete", "hub", "jupyter-c-kernel"),
    ]
    assert calls == first  # once per hub process


def test_admission_sweeps_first(new_spawner, monkeypatch):
    """The orphan of a crash does not count against the quota of the next spawn."""
    from primehub_spawner.spawner import PrimeHubSpawner

    monkeypatch.setattr(PrimeHubSpawner, "_gateway_sweeps", {})
    monkeypatch.setattr(PrimeHubSpawner, "_gateway_sweep_locks", {})
    orphan = cached_pod("jupyter-bob-kernel", gateway=True)
    orphan["spec"] = {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]}
    orphan["status"] = {"phase": "Running"}
    cache = {"hub/jupyter-bob-kernel": orphan}

    class DeletingApi(RecordingApi):
        async def delete_namespaced_pod(self, name, namespace, grace_period_seconds=None):
            await super().delete_namespaced_pod(name, namespace, grace_period_seconds)
            cache.pop(f"{namespace}/{name}")  # what the watch shows next

    async def go():
        spawner = new_spawner(pods=cache)
        spawner.api = DeletingApi()
        await spawner.apply_primehub_options({"instance_type": "gpu-1"})  # alice's GPU quota: 1
        return spawner.api.calls

    assert run(go()) == [
        ("delete secret", "hub", "jupyter-bob-kernel-token"),
        ("delete", "hub", "jupyter-bob-kernel"),
    ]


# ---- Kubernetes unreachable during the start: a 503 that says so, nothing half-made ------


class HangingApi:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def create_namespaced_persistent_volume_claim(self, namespace, body):
        self.calls.append("create pvc")
        await asyncio.sleep(3600)

    async def create_namespaced_pod(self, namespace, body):  # pragma: no cover (must not run)
        self.calls.append("create pod")


@pytest.mark.parametrize("hang", [False, True])
def test_start_while_kubernetes_is_unreachable(new_spawner, hang):
    """``hang``: the API server accepts but never answers; else the real client gets
    connection refused (the fixture's kubeconfig points at 127.0.0.1:1)."""

    async def go():
        spawner = new_spawner(k8s_api_request_timeout=1, k8s_api_request_retry_timeout=3)
        if hang:
            spawner.api = HangingApi()
        await spawner.apply_primehub_options({"instance_type": "cpu-2"})
        assert spawner._reservation_key in spawner.ledger.reservations
        with pytest.raises(web.HTTPError) as err:
            await spawner._start()
        return spawner, err.value

    spawner, err = run(go())
    assert err.status_code == 503
    assert err.jupyterhub_message == (
        "Kubernetes is not reachable right now; try again in a minute."
    )
    assert spawner.ledger.reservations == {}  # the quota is given back
    if hang:
        assert set(spawner.api.calls) == {"create pvc"}  # retried, and no pod was made


# ---- the gateway config file (kernels start in the notebook's folder) --------------------


@pytest.mark.parametrize("mode", ["sidecar", "pod"])
def test_the_gateway_config_file_is_shown_from_an_annotation(catalog, mode):
    plan, pod = build(catalog, *CASES["gpu"])
    if mode == "sidecar":
        out = sidecar_pod(pod, plan, SETTINGS)
    else:
        out = kernel_pod(pod, plan, POD_SETTINGS, TOKEN)
    assert out["metadata"]["annotations"][CONFIG_ANNOTATION] == WORKDIR_SCRIPT
    (volume,) = [v for v in out["spec"]["volumes"] if v["name"] == CONFIG_VOLUME]
    (item,) = volume["downwardAPI"]["items"]
    assert item == {
        "path": CONFIG_FILE,
        "fieldRef": {"fieldPath": f"metadata.annotations['{CONFIG_ANNOTATION}']"},
    }
    # the name Kernel Gateway looks for in JUPYTER_CONFIG_PATH
    assert CONFIG_FILE == "jupyter_kernel_gateway_config.py"
    # a user's variable of the same name does not replace the platform's
    assert "import" in WORKDIR_SCRIPT and "primehub_spawner" not in WORKDIR_SCRIPT.split('"""')[2]


# ---- pod mode: the gateway token in a per-server Secret ------------------------------------


def test_token_secret(catalog):
    plan, pod = build(catalog, *CASES["gpu"])
    secret = token_secret(pod, "s3cr3t")
    assert secret["metadata"]["name"] == TOKEN == "jupyter-user-kernel-token"
    assert secret["metadata"]["namespace"] == "hub"
    labels = secret["metadata"]["labels"]
    assert labels[KERNEL_OF_LABEL] == "jupyter-user"
    assert labels["primehub.io/user"] == "alice"
    assert labels["component"] == "singleuser-kernel-gateway-token"
    assert secret["stringData"] == {"token": "s3cr3t"}
    kubernetes_validate.validate(secret, K8S_SCHEMA_VERSION, strict=True)


def test_kernel_pod_progress_messages():
    progress = KernelPodProgress()
    progress.add("Starting the kernel pod on a GPU node...")
    progress.add("Kernel pod: Waiting for a GPU node... (Insufficient nvidia.com/gpu)", key="e1")
    progress.add("Kernel pod: Waiting for a GPU node... (Insufficient nvidia.com/gpu)", key="e1")
    assert [e["message"] for e in progress.events] == [
        "Starting the kernel pod on a GPU node...",
        "Kernel pod: Waiting for a GPU node... (Insufficient nvidia.com/gpu)",
    ]
    values = [e["progress"] for e in progress.events]
    assert values == sorted(values) and values[-1] < 30  # below the notebook pod's events
    assert progress.changed.is_set() and not progress.done
    progress.finish()
    assert progress.done


class GatewayApi:
    """The Kubernetes calls of a pod-mode start; the gateway pod gets ``status`` in the cache."""

    def __init__(self, cache: dict, status: dict) -> None:
        self.cache, self.status, self.calls = cache, status, []
        self.created: dict[str, dict] = {}
        self.api_client = ApiClient()

    async def create_namespaced_secret(self, namespace, body):
        self.calls.append(("create secret", body["metadata"]["name"]))
        self.created["secret"] = body

    async def delete_namespaced_secret(self, name, namespace):
        self.calls.append(("delete secret", name))
        raise ApiException(status=404)

    async def create_namespaced_pod(self, namespace, body):
        self.calls.append(("create pod", body["metadata"]["name"]))
        self.created["pod"] = body
        pod = json.loads(json.dumps(body))
        pod["metadata"]["uid"] = "uid-kernel"
        pod["status"] = self.status
        self.cache[f"{namespace}/{body['metadata']['name']}"] = pod

    async def delete_namespaced_pod(self, name, namespace, grace_period_seconds=None):
        self.calls.append(("delete pod", name))
        if self.cache.pop(f"{namespace}/{name}", None) is None:
            raise ApiException(status=404)

    async def patch_namespaced_pod(self, name, namespace, body):
        self.calls.append(("patch pod", name, body))

    async def patch_namespaced_secret(self, name, namespace, body):
        self.calls.append(("patch secret", name, body))


READY = {
    "phase": "Running",
    "podIP": "10.244.0.9",
    "containerStatuses": [{"name": "kernel", "ready": True}],
}
UNSCHEDULABLE = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."


def pod_mode_spawner(new_spawner, status: dict, **config):
    cache: dict = {}
    spawner = new_spawner(
        pods=cache,
        kernel_gateway="always",
        kernel_gateway_mode="pod",
        kernel_gateway_notebook_image="jupyter/base-notebook:latest",
        **config,
    )
    spawner.api = GatewayApi(cache, status)
    return spawner


def test_pod_mode_token_lives_in_a_secret_owned_by_the_notebook_pod(new_spawner):
    async def go():
        spawner = pod_mode_spawner(new_spawner, READY, events_enabled=False)
        await spawner.apply_primehub_options({"instance_type": "gpu-1"})
        await spawner._start_kernel_pod()
        notebook = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
        spawner.pod_id = "uid-notebook"
        await spawner._adopt_kernel_pod()
        return spawner, notebook

    spawner, notebook = run(go())
    api = spawner.api
    token = spawner._kg_token
    assert len(token) >= 32
    assert api.created["secret"]["stringData"] == {"token": token}
    # the token is in no pod spec: both pods reference the Secret
    for pod in (api.created["pod"], notebook):
        assert token not in json.dumps(pod)
    kernel = containers(api.created["pod"])["kernel"]
    assert env_of(kernel)["KG_AUTH_TOKEN"] == "secret:jupyter-alice-kernel-token/token"
    ui = containers(notebook)["notebook"]
    assert env_of(ui)["JUPYTER_GATEWAY_AUTH_TOKEN"] == "secret:jupyter-alice-kernel-token/token"
    assert env_of(ui)["JUPYTER_GATEWAY_URL"] == "http://10.244.0.9:8889"
    owned = {"metadata": {"ownerReferences": [owner_reference("jupyter-alice", "uid-notebook")]}}
    assert api.calls == [
        ("delete secret", "jupyter-alice-kernel-token"),  # leftovers of an earlier spawn
        ("delete pod", "jupyter-alice-kernel"),
        ("create secret", "jupyter-alice-kernel-token"),
        ("create pod", "jupyter-alice-kernel"),
        ("patch pod", "jupyter-alice-kernel", owned),
        ("patch secret", "jupyter-alice-kernel-token", owned),
    ]
    progress = [e["message"] for e in spawner._kg_progress.events]
    assert progress == ["Starting the kernel pod on a GPU node...", "The kernel pod is ready"]
    assert spawner._kg_progress.done


def test_unschedulable_gateway_pod_fails_fast_and_the_spawn_page_says_why(new_spawner, monkeypatch):
    """The spawn page shows the node kind and the scheduler's reason while the gateway pod
    waits, and the spawn fails at once on the same reasons as the notebook pod's."""
    from primehub_spawner.spawner import PrimeHubSpawner

    status = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": UNSCHEDULABLE,
            }
        ],
    }
    event = {
        "metadata": {"uid": "event-1"},
        "involvedObject": {"kind": "Pod", "name": "jupyter-alice-kernel", "uid": "uid-kernel"},
        "reason": "FailedScheduling",
        "message": UNSCHEDULABLE,
    }
    reflector = types.SimpleNamespace(events=[event])
    monkeypatch.setattr(PrimeHubSpawner, "event_reflector", property(lambda self: reflector))

    async def no_watch(self, replace=False):
        return reflector

    monkeypatch.setattr(PrimeHubSpawner, "_start_watching_events", no_watch)

    async def go():
        spawner = pod_mode_spawner(new_spawner, status)
        messages = []

        async def follow():
            async for item in spawner._kernel_pod_progress():
                messages.append(item["message"])

        follower = asyncio.ensure_future(follow())  # opened before the options are applied
        await asyncio.sleep(0)
        await spawner.apply_primehub_options({"instance_type": "gpu-1"})
        with pytest.raises(web.HTTPError) as err:
            await spawner._start_kernel_pod()
        await asyncio.wait_for(follower, 10)
        return spawner, err.value, messages

    spawner, err, messages = run(go())
    assert err.status_code == 503
    assert err.jupyterhub_message == f"The kernel pod cannot be scheduled: {UNSCHEDULABLE}"
    assert messages == [
        "Starting the kernel pod on a GPU node...",
        f"Kernel pod: Waiting for a GPU node... ({UNSCHEDULABLE})",
    ]
    # nothing left behind
    assert ("delete pod", "jupyter-alice-kernel") in spawner.api.calls[-2:]
    assert ("delete secret", "jupyter-alice-kernel-token") in spawner.api.calls[-2:]


def test_progress_of_a_spawn_without_gateway_pod_adds_nothing(new_spawner):
    async def go():
        spawner = new_spawner(kernel_gateway="always")  # sidecar
        await spawner.apply_primehub_options({"instance_type": "cpu-2"})
        return [e async for e in spawner._kernel_pod_progress()]

    assert run(go()) == []
