"""A job pod mounts only its own group's volume and datasets (issue 15, high 1).

alice is in groups T (phusers) and U (Research_Lab). A member of T can plant links in T's
volume; if alice's T job also mounted U's volume and U's writable datasets, those links could
make it write into U. Played against the real service code (submit, scheduling round, manifest)
with a recording Kubernetes stand-in: the Job the service creates is inspected.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from test_queue_fairness import Kube

from primehub_spawner.catalog import Catalog, CatalogSource
from primehub_spawner.jobs.hub_users import Caller
from primehub_spawner.jobs.service import JobsService, Settings
from primehub_spawner.jobs.store import JobStore
from primehub_spawner.launch import LaunchRequest, LaunchSettings, plan_launch

CATALOG = Path(__file__).parents[1] / "primehub_spawner" / "catalog_fixture.yaml"
ALICE = Caller("alice", hub_groups=("Research_Lab",))


class Hub:
    """The hub's answer about alice: in Research_Lab (hub group), phusers from the catalog."""

    async def caller(self, name: str) -> Caller | None:
        return ALICE if name == "alice" else Caller(name)


def _catalog() -> dict:
    """The unit tests' catalog, where U's volume is mounted in every pod of its members."""
    catalog = yaml.safe_load(CATALOG.read_text())
    catalog["groups"]["Research_Lab"]["sharedVolume"]["launchGroupOnly"] = False
    return catalog


def test_a_job_of_group_t_does_not_mount_group_us_volume_or_datasets(tmp_path):
    kube = Kube()
    jobs = JobsService(
        JobStore(tmp_path / "jobs.sqlite"),
        kube,
        CatalogSource(data=_catalog()),
        tmp_path / "logs",
        Settings(namespace="ns"),
        users=Hub(),
    )
    job = asyncio.run(
        jobs.submit(ALICE, {"group": "phusers", "path": "a.ipynb", "instanceType": "cpu-2"})
    )
    asyncio.run(jobs.tick())
    [manifest] = kube.created
    assert manifest["metadata"]["labels"]["primehub.io/job"] == job.id
    pod = manifest["spec"]["template"]["spec"]
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    volumes = {v["name"] for v in pod["volumes"]}
    # T's volume and T's datasets only
    assert "/project/phusers" in mounts and "/datasets/mnist" in mounts
    assert not [m for m in mounts if m.startswith("/project/") and m != "/project/phusers"]
    assert not [c for c in claims if "research" in c.lower()], claims
    assert not [v for v in volumes if "research" in v.lower() or "shared-nfs" in v], volumes
    assert not [m for m in mounts if "shared-nfs" in m or "scratch" in m], mounts

    # the attack surface is real: a notebook pod of the same user and choice mounts U's volume
    # and U's writable dataset (so the assertions above can fail)
    catalog = Catalog.from_dict(_catalog())
    view = catalog.for_user("alice", ALICE.hub_groups)
    t = view.group("phusers")
    notebook = plan_launch(
        LaunchRequest(
            user="alice",
            name="jupyter-alice",
            group=t,
            instance_type=catalog.instance_types["cpu-2"],
            image=catalog.images["torch"],
            other_groups=tuple(g for g in view.groups if g.name != "phusers"),
        ),
        LaunchSettings(home_pvc_name="claim-alice"),
    )
    notebook_mounts = {m["mountPath"] for m in notebook.volume_mounts}
    assert "/project/Research_Lab" in notebook_mounts
    assert any("shared-nfs" in m for m in notebook_mounts)
