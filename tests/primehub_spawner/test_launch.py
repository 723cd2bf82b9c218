"""Pod plans as golden YAML, validated against the Kubernetes schema.

Regenerate the golden files after an intended change with
``UPDATE_GOLDEN=1 pytest tests/primehub_spawner/test_launch.py`` and review the diff.
"""

import json
import os
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from launch_cases import CASES, build

from primehub_spawner.catalog import group_volume_name
from primehub_spawner.launch import (
    label_value,
)

GOLDEN = Path(__file__).parent / "golden"
# The oldest schema kubernetes-validate ships (our local control plane is 1.20).
K8S_SCHEMA_VERSION = "1.25"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(catalog, case):
    manifest = build(catalog, *CASES[case])[1]
    path = GOLDEN / f"{case}.yaml"
    text = yaml.safe_dump(manifest, sort_keys=False, width=100)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert yaml.safe_load(path.read_text()) == manifest


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifest_matches_kubernetes_schema(catalog, case):
    plan, manifest = build(catalog, *CASES[case])
    kubernetes_validate.validate(manifest, K8S_SCHEMA_VERSION, strict=True)
    for pvc in plan.pvcs:
        kubernetes_validate.validate(pvc, K8S_SCHEMA_VERSION, strict=True)


def env_of(manifest):
    return {e["name"]: e["value"] for e in manifest["spec"]["containers"][0]["env"]}


def test_cpu_pod(catalog):
    plan, pod = build(catalog, *CASES["cpu"])
    container = pod["spec"]["containers"][0]
    assert container["name"] == "notebook"
    assert container["ports"] == [{"name": "notebook-port", "containerPort": 8888}]
    assert container["resources"] == {
        "limits": {"cpu": "2", "memory": "4Gi"},
        "requests": {"cpu": "2", "memory": "4Gi"},
    }
    env = env_of(pod)
    assert env["NVIDIA_VISIBLE_DEVICES"] == "none"
    assert (env["GROUP_NAME"], env["INSTANCE_TYPE"], env["IMAGE_NAME"]) == (
        "phusers",
        "cpu-2",
        "torch",
    )
    assert env["DEBUG"] == "1"
    assert container["image"] == "registry.example/torch:cpu"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert "nodeSelector" not in pod["spec"]
    assert pod["metadata"]["labels"] == {
        "primehub.io/user": "alice",
        "primehub.io/group": "phusers",
        "component": "singleuser-server",
    }
    usage = json.loads(pod["metadata"]["annotations"]["primehub.io/usage"])
    assert usage == {
        "component": "jupyter",
        "component_name": "jupyter-user",
        "group": "phusers",
        "user": "alice",
        "instance_type": "cpu-2",
    }
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert "/home/jovyan" in mounts and "/project/phusers" in mounts
    assert plan.home_symlinks == (("/project/phusers", "phusers"),)
    assert "ln -s /project/phusers" in container["lifecycle"]["postStart"]["exec"]["command"][2]
    pvc_names = [p["metadata"]["name"] for p in plan.pvcs]
    assert pvc_names[:2] == ["claim-alice", "project-phusers"]
    assert plan.pvcs[1]["spec"]["resources"]["requests"]["storage"] == "10Gi"


def test_gpu_pod(catalog):
    _, pod = build(catalog, *CASES["gpu"])
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert container["image"] == "registry.example/torch:cuda"
    assert "NVIDIA_VISIBLE_DEVICES" not in env_of(pod)
    assert pod["spec"]["nodeSelector"] == {"gpu": "true"}
    assert pod["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_gpu_resource_name_per_instance_type(catalog):
    _, pod = build(catalog, "dave", ["Research_Lab"], {"instance_type": "gpu-2"})
    assert pod["spec"]["containers"][0]["resources"]["limits"]["amd.com/gpu"] == "2"


def test_datasets(catalog):
    plan, pod = build(catalog, *CASES["datasets"])
    mounts = {m["mountPath"]: m for m in pod["spec"]["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert mounts["/datasets/mnist"]["readOnly"] is False  # writable in phusers
    assert volumes["dataset-mnist"]["persistentVolumeClaim"] == {"claimName": "dataset-mnist"}
    assert mounts["/datasets/notebooks"]["readOnly"] is True  # git is read-only
    # git: the pod's own copy, filled by its clone container (test_git_datasets.py)
    assert volumes["dataset-notebooks"] == {"name": "dataset-notebooks", "emptyDir": {}}
    # other group's datasets are mounted too, with that group's writability
    assert mounts["/datasets/shared-nfs"]["readOnly"] is False
    assert volumes["dataset-shared-nfs"]["nfs"] == {"server": "10.0.0.5", "path": "/exports/data"}
    assert mounts["/mnt/scratch"]["readOnly"] is True
    assert volumes["dataset-scratch"]["hostPath"]["path"] == "/srv/scratch"
    # global dataset with an existing claim: mounted, no PVC to create
    assert volumes["dataset-public"]["persistentVolumeClaim"] == {"claimName": "public-data"}
    assert "public-data" not in [p["metadata"]["name"] for p in plan.pvcs]
    env = env_of(pod)
    assert env["CREDS_TOKEN"] == "s3cr3t"
    assert env["CREDS_ENDPOINT"] == "https://s3.example"
    assert ("/mnt", "mnt") in plan.home_symlinks


def test_launch_group_only(catalog):
    # Launching in phusers: Research_Lab's group volume and its launch-group-only dataset stay out.
    _, in_ph = build(catalog, *CASES["datasets"])
    paths = {m["mountPath"] for m in in_ph["spec"]["containers"][0]["volumeMounts"]}
    assert "/project/phusers" in paths
    assert "/project/Research_Lab" not in paths
    assert "/datasets/secret-plans" not in paths
    # Launching in Research_Lab: its own volume and dataset are there; phusers' volume too.
    _, in_rl = build(catalog, *CASES["launch_group_only"])
    paths = {m["mountPath"] for m in in_rl["spec"]["containers"][0]["volumeMounts"]}
    assert {"/project/Research_Lab", "/datasets/secret-plans", "/project/phusers"} <= paths
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in in_rl["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert "project-research-lab" in claims
    assert in_rl["metadata"]["labels"]["primehub.io/group"] == "Research_Lab"


def test_group_volume_name():
    assert group_volume_name("Research_Lab") == "project-research-lab"
    assert group_volume_name("phusers") == "project-phusers"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("alice", "alice"),
        ("Research_Lab", "Research_Lab"),
        ("alice@example.com", "escaped-alice-40example-2ecom"),
        ("bob smith", "escaped-bob-20smith"),
        ("escaped-x", "escaped-escaped-2dx"),
        ("-x", "escaped--2dx"),
    ],
)
def test_label_value(raw, expected):
    assert label_value(raw) == expected


def test_label_value_is_valid_and_distinct_for_long_names():
    a, b = label_value("a" * 70 + "@1"), label_value("a" * 70 + "@2")
    assert a != b
    assert len(a) <= 63 and len(b) <= 63


def test_wrap_command_makes_links_then_execs(catalog, tmp_path):
    import subprocess

    plan, _ = build(catalog, *CASES["cpu"])
    target = tmp_path / "project"
    target.mkdir()
    plan = plan.__class__(**{**plan.__dict__, "home_symlinks": ((str(target), "team"),)})
    argv = plan.wrap_command(["sh", "-c", 'echo "$0 $1"', "ran", "ok"])
    home = tmp_path / "home"
    home.mkdir()
    out = subprocess.run(
        argv, env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert out.stdout.strip() == "ran ok"
    assert (home / "team").resolve() == target
    # idempotent: a second start keeps the link
    subprocess.run(
        argv, env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, check=True, capture_output=True
    )
    assert (home / "team").is_symlink()
