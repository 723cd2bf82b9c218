"""The kernel-gateway split (pure): golden YAML, resource placement, env whitelists, failures.

Regenerate the golden files after an intended change with
``UPDATE_GOLDEN=1 pytest tests/primehub_spawner/test_kernel_gateway.py`` and review the diff.
"""

import datetime as dt
import json
import os
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from launch_cases import CASES, build
from test_spawner import make_spawner, manifest_for, run  # noqa: F401 (fixture)
from tornado import web

from primehub_spawner.kernel_gateway import (
    GPU_ENV,
    KERNEL_OF_LABEL,
    KernelGatewayError,
    KernelGatewaySettings,
    forwarded_env_names,
    gateway_problem,
    gateway_url,
    kernel_pod,
    notebook_pod,
    owner_reference,
    process_env_names,
    sidecar_pod,
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
TOKEN = "kg-test-token"
URL = "http://10.244.0.9:8889"


def split(catalog, case: str) -> dict[str, dict]:
    """Every manifest the split makes for a launch case, by golden-file name."""
    plan, pod = build(catalog, *CASES[case])
    return {
        f"kernel_gateway_sidecar_{case}": sidecar_pod(pod, plan, SETTINGS),
        f"kernel_gateway_kernel_pod_{case}": kernel_pod(pod, plan, POD_SETTINGS, TOKEN),
        f"kernel_gateway_notebook_pod_{case}": notebook_pod(pod, plan, POD_SETTINGS, URL, TOKEN),
    }


def containers(pod: dict) -> dict[str, dict]:
    return {c["name"]: c for c in pod["spec"]["containers"]}


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def options(container: dict, prefix: str) -> list[str]:
    return [a.split("=", 1)[1] for a in container["command"] if a.startswith(prefix + "=")]


@pytest.mark.parametrize("case", ["cpu", "gpu"])
def test_golden(catalog, case):
    for name, manifest in split(catalog, case).items():
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
    assert list(by_name) == ["notebook", "kernel"]
    notebook, kernel = by_name["notebook"], by_name["kernel"]
    # the kernel holds exactly what the single-container pod held
    assert kernel["resources"] == plan.resources_manifest()
    assert kernel["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # the notebook container: a small request, no limits, no GPU
    assert notebook["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}}
    assert env_of(notebook)["NVIDIA_VISIBLE_DEVICES"] == "none"
    assert "NVIDIA_VISIBLE_DEVICES" not in env_of(kernel)  # the GPU runtime sets it
    # quota counts the kernel: same usage as without the split
    assert pod_limits(split_pod) == pod_limits(pod) == Resources(cpu=4, memory=16 * 2**30, gpu=1)
    # the GPU node selector and toleration stay on the (shared) pod
    assert split_pod["spec"]["nodeSelector"] == {"gpu": "true"}
    assert split_pod["spec"]["tolerations"] == pod["spec"]["tolerations"]


def test_sidecar_containers(catalog):
    plan, pod = build(catalog, *CASES["gpu"])
    notebook, kernel = containers(sidecar_pod(pod, plan, SETTINGS)).values()
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
    assert kernel["volumeMounts"] == notebook["volumeMounts"]
    assert kernel["workingDir"] == "/home/jovyan"
    # readiness of the gateway gates the spawn (checked from inside: 127.0.0.1 is private)
    assert "exec" in kernel["readinessProbe"]
    assert "8889" in kernel["readinessProbe"]["exec"]["command"][-1]
    # the home symlink hook runs once, in the notebook container
    assert "lifecycle" in notebook and "lifecycle" not in kernel


def test_env_whitelists(catalog):
    plan, pod = build(catalog, *CASES["cpu"])  # cpu case: user env DEBUG=1
    notebook, kernel = containers(sidecar_pod(pod, plan, SETTINGS)).values()
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
    notebook, kernel = containers(sidecar_pod(pod, plan, SETTINGS)).values()
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
    assert kpod["spec"]["volumes"] == pod["spec"]["volumes"]
    assert kpod["spec"]["automountServiceAccountToken"] is False
    (kernel,) = kpod["spec"]["containers"]
    assert "--KernelGatewayApp.ip=0.0.0.0" in kernel["command"]
    assert env_of(kernel)["KG_AUTH_TOKEN"] == TOKEN
    assert TOKEN not in " ".join(kernel["command"])  # not on the command line
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
    assert env["JUPYTER_GATEWAY_AUTH_TOKEN"] == TOKEN
    assert notebook["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}}
    assert pod_limits(npod) == Resources()
    # the notebook pod can land on a CPU node
    assert "nodeSelector" not in npod["spec"] and "tolerations" not in npod["spec"]
    assert npod["metadata"] == pod["metadata"]


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
    notebook, kernel = containers(sidecar_pod(pod, plan, KernelGatewaySettings())).values()
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
    """test_spawner's ``make_spawner``: a PrimeHubSpawner without a cluster."""
    return request.getfixturevalue("make_spawner")


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
    notebook, kernel = containers(pod).values()
    assert notebook["image"] == "jupyter/base-notebook:latest"
    assert kernel["image"] == "registry.example/torch:cuda"
    assert kernel["resources"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert "limits" not in notebook["resources"]
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
