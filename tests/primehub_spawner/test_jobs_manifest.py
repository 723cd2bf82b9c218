"""Job manifests of hub jobs: golden YAML validated against the Kubernetes schema.

Regenerate after an intended change with
``UPDATE_GOLDEN=1 pytest tests/primehub_spawner/test_jobs_manifest.py`` and review the diff.
"""

import os
from datetime import datetime, timezone
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from primehub_jobs_contract.executor import ExecutorSpec
from primehub_spawner.catalog import CatalogSource
from primehub_spawner.jobs.model import HubJob
from primehub_spawner.jobs.requests import SubmitRequest
from primehub_spawner.jobs.service import JobsService, Settings
from primehub_spawner.jobs.submit import choose

GOLDEN = Path(__file__).parent / "golden"
K8S_SCHEMA_VERSION = "1.25"

CASES = {
    "job-gpu": dict(
        user="alice",
        group="phusers",
        instance_type="gpu-1",
        image="torch",
        path="reports/train.ipynb",
        parameters={"alpha": 0.5, "epochs": 3},
        deadline=3600,
    ),
    "job-cpu-snapshot": dict(
        user="bob",
        group="phusers",
        instance_type="cpu-2",
        image="base",
        path="nb.ipynb",
        snapshot=".primehub-jobs/0123456789ab/input.ipynb",
        snapshot_sha256="5" * 64,
        kernel="python3",
        cell_timeout=600.0,
        deadline=86400,
    ),
}


def build(catalog_dict, case):
    service = JobsService(
        store=None,
        kube=None,
        catalog=CatalogSource(data=catalog_dict),
        logs_dir=Path("/nonexistent"),
        settings=Settings(namespace="hub", executor=("python", "-m", "x.execute")),
    )
    fields = dict(CASES[case])
    job = HubJob(
        id="0123456789ab",
        name="train",
        output=fields["path"].replace(".ipynb", "-output.ipynb"),
        created_at=datetime(2026, 1, 2, tzinfo=timezone.utc),
        **fields,
    )
    view = service.catalog.get().for_user(job.user, [])
    choice = choose(
        view,
        SubmitRequest(
            path=job.path, group=job.group, instance_type=job.instance_type, image=job.image
        ),
    )
    return service.manifest(job, choice, view)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(catalog_dict, case):
    manifest = build(catalog_dict, case)[1]
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(yaml.safe_dump(manifest, sort_keys=False, width=100))
    assert yaml.safe_load(path.read_text()) == manifest


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifest_matches_kubernetes_schema(catalog_dict, case):
    kubernetes_validate.validate(build(catalog_dict, case)[1], K8S_SCHEMA_VERSION, strict=True)


def test_gpu_job_pod_is_the_notebook_pod_of_that_choice(catalog_dict):
    plan, manifest = build(catalog_dict, "job-gpu")
    pod = manifest["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert labels["primehub.io/user"] == "alice"
    assert labels["primehub.io/group"] == "phusers"
    assert labels["component"] == "primehub-job"
    assert labels["primehub.io/job"] == "0123456789ab"
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["workingDir"] == "/project/phusers/reports"
    assert {"mountPath": "/project/phusers", "name": "project-phusers"} in container["volumeMounts"]
    assert "ports" not in container
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["restartPolicy"] == "Never"
    assert manifest["spec"]["backoffLimit"] == 0
    assert manifest["spec"]["activeDeadlineSeconds"] == 3600
    # the executor reads its spec from the pod's own annotation, through a downward-API file
    assert container["command"] == ["python", "-m", "x.execute", "/etc/primehub-job/spec.json"]
    spec = ExecutorSpec.from_json(pod["metadata"]["annotations"]["primehub.io/job-spec"])
    assert spec.input == "/project/phusers/reports/train.ipynb"
    assert spec.output == "/project/phusers/reports/train-output.ipynb"
    assert spec.parameters == {"alpha": 0.5, "epochs": 3}
    assert spec.status_file == "/project/phusers/.primehub-jobs/0123456789ab/status.json"
    assert spec.termination_log == "/dev/termination-log"
    assert {
        "name": "primehub-job-spec",
        "mountPath": "/etc/primehub-job",
        "readOnly": True,
    } in container["volumeMounts"]
    # no home volume: a job sees the group volumes and datasets, like PrimeHub's jobs
    assert not any(m["mountPath"] == "/home/jovyan" for m in container["volumeMounts"])
    assert [p["metadata"]["name"] for p in plan.pvcs][0] == "project-phusers"


def test_a_job_mounts_only_its_own_groups_volume_and_datasets(catalog_dict):
    """alice is in phusers (catalog) and Research_Lab (hub group): a phusers job gets
    phusers' volume and datasets only, never Research_Lab's (a notebook pod gets both)."""
    catalog_dict["groups"]["Research_Lab"]["sharedVolume"]["launchGroupOnly"] = False
    service = JobsService(
        store=None,
        kube=None,
        catalog=CatalogSource(data=catalog_dict),
        logs_dir=Path("/nonexistent"),
        settings=Settings(namespace="hub"),
    )
    view = service.catalog.get().for_user("alice", ["Research_Lab"])
    assert [g.name for g in view.groups] == ["phusers", "Research_Lab"]
    job = HubJob(
        id="0123456789ab",
        user="alice",
        group="phusers",
        name="train",
        path="train.ipynb",
        output="train-output.ipynb",
        instance_type="cpu-2",
        image="torch",
        deadline=3600,
    )
    choice = choose(view, SubmitRequest(path=job.path, group="phusers", instance_type="cpu-2"))
    plan, manifest = service.manifest(job, choice, view)
    pod = manifest["spec"]["template"]["spec"]
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert "/project/phusers" in mounts and "project-phusers" in claims
    assert "/project/Research_Lab" not in mounts
    assert not any("research" in c for c in claims), claims
    # Research_Lab's datasets (shared-nfs writable, scratch) are not mounted; phusers' are
    assert not any(m.startswith(("/datasets/shared-nfs", "/mnt/scratch")) for m in mounts), mounts
    assert "/datasets/mnist" in mounts
    assert [p["metadata"]["name"] for p in plan.pvcs] == ["project-phusers", "dataset-mnist"]
