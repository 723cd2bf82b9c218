"""One pod renderer: notebook, gateway and job pods share the admin's hardening.

The golden files ``hardened_*.yaml`` are the three kinds of pods rendered with the same
non-default admin settings. Regenerate after an intended change with
``UPDATE_GOLDEN=1 pytest tests/primehub_spawner/test_pods.py`` and review the diff.
"""

import json
import os
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from launch_cases import CASES, build
from test_spawner import make_spawner, manifest_for, run  # noqa: F401 (fixture)
from traitlets.config import Application, Config

from primehub_jobs_contract.executor import ExecutorSpec
from primehub_spawner.jobs.manifest import job_manifest
from primehub_spawner.jobs.pod_settings import PodSettingsOptions
from primehub_spawner.kernel_gateway import KernelGatewaySettings, kernel_pod, sidecar_pod
from primehub_spawner.launch import LaunchRequest, LaunchSettings, plan_launch
from primehub_spawner.pods import (
    ContainerSpec,
    PodSettings,
    PodSettingsError,
    pod_manifest,
    pod_setting_values,
    render_pod,
)
from primehub_spawner.user_options import resolve_options

GOLDEN = Path(__file__).parent / "golden"
K8S_SCHEMA_VERSION = "1.25"
# The admin's KubeSpawner pod options, as in c.KubeSpawner (and so c.JobsApp).
ADMIN = {
    "uid": 1000,
    "gid": 100,
    "fs_gid": 100,
    "supplemental_gids": [65534],
    "allow_privilege_escalation": False,
    "container_security_context": {"capabilities": {"drop": ["ALL"]}},
    "pod_security_context": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "node_selector": {"pool": "users"},
    "tolerations": [{"key": "users", "operator": "Exists", "effect": "NoSchedule"}],
    "service_account": "primehub-user",
    "automount_service_account_token": False,
    "image_pull_policy": "IfNotPresent",
    "image_pull_secrets": ["admin-registry"],
    "priority_class_name": "primehub-users",
    "extra_pod_config": {"enable_service_links": False},
    "extra_container_config": {"stdin": False},
}
SETTINGS = PodSettings.from_values(ADMIN)
GATEWAY = KernelGatewaySettings(
    notebook_image="jupyter/base-notebook:latest", working_dir="/home/jovyan", mode="pod"
)
# What every kind of pod must carry, at the pod or at its container(s).
HARDENED_SPEC = {
    "securityContext": {
        "fsGroup": 100,
        "supplementalGroups": [65534],
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "automountServiceAccountToken": False,
    "serviceAccountName": "primehub-user",
    "priorityClassName": "primehub-users",
    "enableServiceLinks": False,
}
CONTAINER_SECURITY = {
    "runAsUser": 1000,
    "runAsGroup": 100,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def job_plan(catalog, user="alice", options=None):
    """The plan of a job: the notebook's choice, no home volume (as JobsService.plan)."""
    view = catalog.for_user(user, [])
    choice = resolve_options(view, options or {"instance_type": "gpu-1", "image": "torch"})
    return plan_launch(
        LaunchRequest(
            user=user,
            name="primehub-job-0123456789ab",
            group=choice.group,
            instance_type=choice.instance_type,
            image=choice.image,
        ),
        LaunchSettings(home_pvc_name="", component="primehub-job", usage_component="job"),
    )


def hardened(catalog) -> dict[str, dict]:
    """The three kinds of pods (GPU choice) with the same admin settings, by golden name."""
    plan, _ = build(catalog, *CASES["gpu"])
    notebook = pod_manifest(
        plan, "jupyter-user", ["jupyterhub-singleuser"], namespace="hub", settings=SETTINGS
    )
    job = job_manifest(
        job_plan(catalog),
        job_id="0123456789ab",
        spec=ExecutorSpec(input="/project/phusers/a.ipynb", output="/project/phusers/b.ipynb"),
        executor=("python", "-m", "x.execute"),
        deadline_seconds=3600,
        namespace="hub",
        settings=SETTINGS,
    )
    return {
        "hardened_notebook_pod": notebook,
        "hardened_gateway_pod": kernel_pod(notebook, plan, GATEWAY, "kg-test-token"),
        "hardened_job": job,
    }


def pod_of(manifest: dict) -> dict:
    """The pod (template) of a Pod or a Job."""
    return manifest["spec"]["template"] if manifest["kind"] == "Job" else manifest


@pytest.mark.parametrize("name", ["hardened_notebook_pod", "hardened_gateway_pod", "hardened_job"])
def test_golden(catalog, name):
    manifest = hardened(catalog)[name]
    path = GOLDEN / f"{name}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(yaml.safe_dump(manifest, sort_keys=False, width=100))
    assert yaml.safe_load(path.read_text()) == manifest
    kubernetes_validate.validate(manifest, K8S_SCHEMA_VERSION, strict=True)


def test_the_three_kinds_share_the_hardening(catalog):
    pods = {name: pod_of(m) for name, m in hardened(catalog).items()}
    for name, pod in pods.items():
        spec = pod["spec"]
        for key, value in HARDENED_SPEC.items():
            assert spec[key] == value, (name, key)
        # the admin's placement first, then the instance type's (GPU node)
        assert spec["nodeSelector"] == {"pool": "users", "gpu": "true"}, name
        assert spec["tolerations"][0] == ADMIN["tolerations"][0], name
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in (
            spec["tolerations"]
        )
        assert spec["imagePullSecrets"] == [{"name": "admin-registry"}, {"name": "regcred"}]
        for container in spec["containers"]:
            assert container["securityContext"] == CONTAINER_SECURITY, name
            assert container["imagePullPolicy"] == "IfNotPresent", name
            assert container["stdin"] is False, name
    assert pods["hardened_job"]["spec"]["restartPolicy"] == "Never"


def test_sidecar_gateway_keeps_the_hardening(catalog):
    plan, _ = build(catalog, *CASES["gpu"])
    notebook = pod_manifest(plan, "jupyter-user", ["jupyterhub-singleuser"], settings=SETTINGS)
    split = sidecar_pod(notebook, plan, GATEWAY)
    assert [c["securityContext"] for c in split["spec"]["containers"]] == [CONTAINER_SECURITY] * 2
    for key, value in HARDENED_SPEC.items():
        assert split["spec"][key] == value


def test_job_pod_is_as_hardened_as_the_spawners_notebook_pod(request, catalog):
    """The real spawner (KubeSpawner traits) and the job renderer (the same options) agree."""
    new_spawner = request.getfixturevalue("make_spawner")

    async def go():
        spawner = new_spawner(**ADMIN)
        return await manifest_for(spawner, {"instance_type": "gpu-1", "image": "torch"})

    notebook = run(go())
    job = pod_of(hardened(catalog)["hardened_job"])
    keys = (
        "securityContext",
        "automountServiceAccountToken",
        "nodeSelector",
        "tolerations",
        "serviceAccountName",
        "priorityClassName",
        "enableServiceLinks",
        "imagePullSecrets",
    )
    for key in keys:
        assert job["spec"][key] == notebook["spec"][key], key
    (job_container,) = job["spec"]["containers"]
    (nb_container,) = notebook["spec"]["containers"]
    assert job_container["securityContext"] == nb_container["securityContext"]
    assert job_container["resources"] == nb_container["resources"]
    # the spawner's own parts stay KubeSpawner's
    assert nb_container["name"] == "notebook"
    assert nb_container["ports"][0]["name"] == "notebook-port"
    env = {e["name"]: e.get("value") for e in nb_container["env"]}
    assert "JUPYTERHUB_API_TOKEN" in env
    assert (env["MEM_LIMIT"], env["CPU_LIMIT"]) == (str(16 * 2**30), "4.0")


def test_resources_are_written_once(request):
    """KubeSpawner's resource options do not leak in: the plan alone decides."""
    new_spawner = request.getfixturevalue("make_spawner")

    async def go():
        spawner = new_spawner(cpu_limit=9, mem_limit="1G", extra_resource_limits={"x/y": "1"})
        pod = await manifest_for(spawner, {"instance_type": "cpu-2"})
        return spawner, pod

    spawner, pod = run(go())
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources == {
        "limits": {"x/y": "1", "cpu": "2", "memory": "4Gi"},
        "requests": {"cpu": "2", "memory": "4Gi"},
    }
    assert spawner.cpu_limit == 9  # the admin's trait is not rewritten per spawn


def test_default_job_settings_are_kubespawners(catalog):
    """Without any admin setting, job pods get KubeSpawner's defaults, as notebook pods do."""

    class App(PodSettingsOptions, Application):
        pass

    settings = App().pod_settings()
    job = job_manifest(
        job_plan(catalog),
        job_id="0123456789ab",
        spec=ExecutorSpec(input="/project/phusers/a.ipynb", output="/project/phusers/b.ipynb"),
        deadline_seconds=60,
        settings=settings,
    )
    pod = job["spec"]["template"]
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": False}


def test_jobs_app_options_and_spawner_config_file(tmp_path):
    class JobsApp(PodSettingsOptions, Application):
        pass

    values = {
        "hub": {
            "config": {
                "KubeSpawner": {**ADMIN, "namespace": "jhub", "uid": 1},
                "PrimeHubSpawner": {"uid": 1000, "catalog_path": "/etc/primehub/catalog.yaml"},
            }
        }
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    app = JobsApp(config=Config({"JobsApp": {"fs_gid": 2000, "spawner_config_file": str(path)}}))
    app.load_spawner_config()
    settings = app.pod_settings()
    assert settings == PodSettings.from_values({**ADMIN, "fs_gid": 2000})  # own options win
    # a JSON file with top-level sections works as well
    path = tmp_path / "spawner.json"
    path.write_text(json.dumps({"KubeSpawner": ADMIN}))
    app = JobsApp(config=Config({"JobsApp": {"spawner_config_file": str(path)}}))
    app.load_spawner_config()
    assert app.pod_settings() == SETTINGS
    # never silently less hardened
    app = JobsApp(config=Config({"JobsApp": {"spawner_config_file": str(tmp_path / "no")}}))
    with pytest.raises(SystemExit, match="spawner_config_file"):
        app.load_spawner_config()


def test_pod_setting_values_keeps_only_plain_pod_options():
    class Lazy:
        pass

    config = {"KubeSpawner": {"uid": 1, "tolerations": Lazy(), "cmd": ["x"]}}
    assert pod_setting_values(config) == {"uid": 1}


def test_settings_follow_kubespawner_rules():
    assert PodSettings().container_security_context_manifest() is None
    assert PodSettings().automount_token() is False
    assert PodSettings(automount_service_account_token=None).automount_token() is False
    with_sa = PodSettings(automount_service_account_token=None, service_account="sa")
    assert with_sa.automount_token() is None  # Kubernetes' default with a service account
    csc = PodSettings(
        uid=1, allow_privilege_escalation=False, container_security_context={"runAsUser": 2}
    )
    assert csc.container_security_context_manifest() == {
        "runAsUser": 2,  # container_security_context wins, as in KubeSpawner
        "allowPrivilegeEscalation": False,
    }
    with pytest.raises(PodSettingsError, match="camelCase"):
        PodSettings(pod_security_context={"run_as_user": 1})
    secrets = PodSettings.from_values({"image_pull_secrets": [{"name": "a"}, "b"]})
    assert secrets.image_pull_secrets == ("a", "b")


def test_base_pod_keeps_what_only_it_knows(catalog):
    plan, _ = build(catalog, *CASES["cpu"])
    base = {
        "metadata": {"name": "jupyter-user", "labels": {"app": "jupyterhub"}},
        "spec": {
            "restartPolicy": "OnFailure",
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [
                {
                    "name": "notebook",
                    "image": "kubespawner-default",
                    "args": ["jupyterhub-singleuser"],
                    "ports": [{"name": "notebook-port", "containerPort": 8888}],
                    "env": [{"name": "JUPYTERHUB_API_TOKEN", "value": "t"}],
                    "resources": {"limits": {"memory": "1"}},
                    "volumeMounts": [{"name": "extra", "mountPath": "/extra"}],
                },
                {"name": "sidecar", "image": "proxy"},
            ],
            "volumes": [{"name": "extra", "emptyDir": {}}],
            "nodeSelector": {"stale": "yes"},
        },
    }
    container = base["spec"]["containers"][0]
    pod = render_pod(
        plan, SETTINGS, ContainerSpec.from_manifest(container), name="jupyter-user", base=base
    )
    nb, sidecar = pod["spec"]["containers"]
    assert nb["image"] == plan.image and nb["resources"] == plan.resources_manifest()
    assert nb["args"] == ["jupyterhub-singleuser"] and nb["ports"] == container["ports"]
    assert nb["env"][0] == {"name": "JUPYTERHUB_API_TOKEN", "value": "t"}
    assert nb["volumeMounts"][0] == {"name": "extra", "mountPath": "/extra"}
    assert sidecar == {"name": "sidecar", "image": "proxy"}
    # the base's init containers first, then the git datasets' clones
    inits = pod["spec"]["initContainers"]
    assert inits[: len(base["spec"]["initContainers"])] == base["spec"]["initContainers"]
    assert [c["name"] for c in inits[1:]] == [s.clone_name for s in plan.git_syncs]
    assert pod["spec"]["volumes"][0] == {"name": "extra", "emptyDir": {}}
    assert pod["spec"]["nodeSelector"] == {"pool": "users"}  # decided here, not by the base
    assert pod["metadata"]["labels"]["app"] == "jupyterhub"
    assert pod["metadata"]["labels"]["primehub.io/group"] == "phusers"
