"""Git datasets: catalog checks, the clone/sync containers of notebook and job pods, and the
spawn's fail-fast reason (pure; the real clone and pull are in tests/e2e/test_git_datasets.py)."""

from __future__ import annotations

import json

import pytest

from primehub_spawner.catalog import Catalog, CatalogError
from primehub_spawner.git_datasets import GitSync, clone_failure
from primehub_spawner.jobs.manifest import JobPaths, executor_spec, job_manifest
from primehub_spawner.launch import LaunchRequest, LaunchSettings, plan_launch
from primehub_spawner.pods import PodSettings, pod_manifest

BASE = {
    "instanceTypes": {"cpu": {"cpu": 1, "memory": "1Gi"}},
    "images": {"nb": {"url": "registry.example/nb:1"}},
    "groups": {"team": {"members": ["alice"], "instanceTypes": ["cpu"], "images": ["nb"]}},
}


def catalog(**dataset) -> Catalog:
    raw = json.loads(json.dumps(BASE))
    raw["datasets"] = {"docs": {"type": "git", **dataset}}
    raw["groups"]["team"]["datasets"] = {"docs": {}}
    return Catalog.from_dict(raw)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, "datasets.docs.url: is required"),
        ({"url": "ext::sh -c touch% /tmp/x"}, "datasets.docs.url: must be an https://"),
        ({"url": "file:///etc"}, "datasets.docs.url: must be an https://"),
        ({"url": "/srv/repo.git"}, "datasets.docs.url: must be an https://"),
        ({"url": "https://bob:s3cret@git.example/r.git"}, "datasets.docs.url: must not hold"),
        ({"url": "https://git.example/r.git", "ref": "--upload-pack=x"}, "datasets.docs.ref:"),
        ({"url": "https://git.example/r.git", "ref": "a..b"}, "datasets.docs.ref:"),
        ({"url": "https://git.example/r.git", "syncInterval": -1}, "datasets.docs.syncInterval:"),
        ({"url": "https://git.example/r.git", "syncInterval": "5m"}, "datasets.docs.syncInterval:"),
        (
            {"url": "https://git.example/r.git", "secretName": "Git_Creds"},
            "datasets.docs.secretName",
        ),
    ],
)
def test_bad_git_fields_are_refused_naming_entry_and_field(fields, error):
    with pytest.raises(CatalogError) as e:
        catalog(**fields)
    assert str(e.value).startswith(error), str(e.value)


def test_git_fields_only_apply_to_git_datasets():
    raw = json.loads(json.dumps(BASE))
    raw["datasets"] = {"data": {"type": "pv", "ref": "main"}}
    with pytest.raises(CatalogError, match=r"datasets\.data\.ref: only applies to type git"):
        Catalog.from_dict(raw)


def plan_of(cat: Catalog):
    view = cat.for_user("alice").groups[0]
    return plan_launch(
        LaunchRequest(
            user="alice",
            name="jupyter-alice",
            group=view,
            instance_type=view.instance_types[0],
            image=view.images[0],
        ),
        LaunchSettings(),
    )


SETTINGS = PodSettings(uid=1000, gid=100, allow_privilege_escalation=False)


def test_notebook_pod_clones_syncs_and_mounts_read_only():
    cat = catalog(
        url="https://git.example/r.git", ref="v1.2", syncInterval=30, secretName="git-creds"
    )
    plan = plan_of(cat)
    pod = pod_manifest(plan, "jupyter-alice", ["jupyterhub-singleuser"], settings=SETTINGS)
    spec = pod["spec"]
    (clone,) = spec["initContainers"]
    notebook, sync = spec["containers"]
    assert (clone["name"], sync["name"]) == ("git-clone-0-docs", "git-sync-0-docs")
    assert {"name": "dataset-docs", "emptyDir": {}} in spec["volumes"]
    mount = next(m for m in notebook["volumeMounts"] if m["name"] == "dataset-docs")
    assert mount == {"name": "dataset-docs", "mountPath": "/datasets/docs", "readOnly": True}
    for c in (clone, sync):
        assert c["image"] == "registry.example/nb:1"  # git of the notebook image
        assert c["securityContext"] == notebook["securityContext"]
        assert c["volumeMounts"] == [{"name": "dataset-docs", "mountPath": "/datasets/docs"}]
        env = {e["name"]: e for e in c["env"]}
        assert env["GIT_URL"]["value"] == "https://git.example/r.git"
        assert env["GIT_REF"]["value"] == "v1.2"
        assert env["GIT_SYNC_INTERVAL"]["value"] == "30"
        assert env["GIT_ALLOW_PROTOCOL"]["value"] == "https:http:git"
        # credentials only as references to the Secret, never in a command line
        assert env["GIT_PASSWORD"]["valueFrom"] == {
            "secretKeyRef": {"name": "git-creds", "key": "password"}
        }
        assert env["GIT_USERNAME"]["valueFrom"]["secretKeyRef"]["name"] == "git-creds"
        assert "git-creds" not in json.dumps(c["command"])
        assert "args" not in c
        assert "limits" not in c["resources"]  # not counted against the group's quota
    # the notebook itself gets nothing of the credentials
    assert "GIT_PASSWORD" not in json.dumps(notebook)


def test_interval_zero_clones_once_and_job_pods_never_sync():
    plan = plan_of(catalog(url="git://10.0.0.1/r.git", syncInterval=0))
    pod = pod_manifest(plan, "jupyter-alice", ["jupyterhub-singleuser"])
    assert [c["name"] for c in pod["spec"]["containers"]] == ["notebook"]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["git-clone-0-docs"]

    plan = plan_of(catalog(url="git://10.0.0.1/r.git", syncInterval=10))
    paths = JobPaths(volume="/project/team", notebook="a.ipynb", output="o.ipynb", job_id="j1")
    spec = executor_spec(paths, parameters={}, kernel=None, cell_timeout=None)
    job = job_manifest(plan, job_id="j1", spec=spec, deadline_seconds=60)
    template = job["spec"]["template"]["spec"]
    assert [c["name"] for c in template["containers"]] == ["notebook"]  # the Job can end
    assert [c["name"] for c in template["initContainers"]] == ["git-clone-0-docs"]


SYNC = GitSync(
    dataset="docs", index=0, volume="dataset-docs", mount_path="/datasets/docs", url="git://h/r"
)


def pod_with(init_status=None, statuses=()):
    status = {"containerStatuses": list(statuses)}
    if init_status is not None:
        status["initContainerStatuses"] = [init_status]
    return {"status": status}


def test_clone_failure_says_which_dataset_and_what_git_said():
    running = {"name": SYNC.clone_name, "state": {"running": {}}}
    assert clone_failure(pod_with(running), (SYNC,)) is None
    assert clone_failure(None, (SYNC,)) is None
    failed = {
        "name": SYNC.clone_name,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 128, "message": "fatal: repo not found\n"}},
    }
    failure = clone_failure(pod_with(failed), (SYNC,))
    assert not failure.needs_log
    assert failure.message() == (
        "Cannot clone git dataset 'docs' from git://h/r: fatal: repo not found"
    )
    # no termination message (e.g. a runtime without them): the log tail says it
    bare = {"name": SYNC.clone_name, "state": {"terminated": {"exitCode": 1}}}
    failure = clone_failure(pod_with(bare), (SYNC,))
    assert failure.needs_log
    assert failure.message("noise\nfatal: unable to connect\ncannot fetch HEAD").endswith(
        "noise fatal: unable to connect cannot fetch HEAD"
    )
    missing = {
        "name": SYNC.clone_name,
        "state": {
            "waiting": {
                "reason": "CreateContainerConfigError",
                "message": 'secret "git-creds" not found',
            }
        },
    }
    assert (
        clone_failure(pod_with(missing), (SYNC,)).message().endswith('secret "git-creds" not found')
    )
    # other containers' troubles are not the clone's
    other = {"name": "init", "state": {"terminated": {"exitCode": 1}}}
    assert clone_failure(pod_with(other), (SYNC,)) is None


def test_the_kernel_gateway_pod_gets_its_own_clone_and_sync():
    from primehub_spawner.kernel_gateway import KernelGatewaySettings, kernel_pod

    plan = plan_of(catalog(url="git://10.0.0.1/r.git", syncInterval=10))
    notebook = pod_manifest(plan, "jupyter-alice", ["jupyterhub-singleuser"], settings=SETTINGS)
    gateway = kernel_pod(notebook, plan, KernelGatewaySettings(mode="pod"), "tok-secret")
    spec = gateway["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["git-clone-0-docs"]
    assert [c["name"] for c in spec["containers"]] == ["kernel", "git-sync-0-docs"]
    kernel = spec["containers"][0]
    mount = next(m for m in kernel["volumeMounts"] if m["name"] == "dataset-docs")
    assert mount["readOnly"] is True
