"""The two spawn traps: a user's servers sharing one ReadWriteOnce home volume, and volume
mount/attach failures that no waiting fixes (pure parts; the cluster plays them in
tests/e2e/test_spawn_traps_e2e.py)."""

import asyncio
from types import SimpleNamespace

import pytest
from kubernetes_asyncio.client import ApiClient
from test_spawner import make_spawner as _make_spawner  # noqa: F401 (the fixture)

from primehub_spawner.homes import (
    HomeHolder,
    affinity_blocked,
    conflict_hint,
    home_holders,
    with_home_affinity,
)
from primehub_spawner.progress import describe_event, fatal_reason

SELECTOR = {"primehub.io/user": "alice", "component": "singleuser-server"}


def server_pod(name, node="node-a", server="", claim="claim-alice", **extra):
    pod = {
        "metadata": {
            "name": name,
            "namespace": "hub",
            "labels": dict(SELECTOR),
            "annotations": {"hub.jupyter.org/servername": server} if server else {},
        },
        "spec": {
            "nodeName": node,
            "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": claim}}],
        },
        "status": {"phase": "Running"},
    }
    for key, value in extra.items():
        pod[key].update(value)
    return pod


def holders(pods, this_pod="jupyter-alice--new"):
    return home_holders(
        pods, namespace="hub", selector=SELECTOR, claim="claim-alice", this_pod=this_pod
    )


def test_only_the_users_other_live_pods_that_mount_the_home_hold_it():
    unscheduled = server_pod("jupyter-alice--b", node=None)  # started at the same time: counts
    ending = server_pod("jupyter-alice--c", metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"})
    done = server_pod("jupyter-alice--d", status={"phase": "Succeeded"})
    other_claim = server_pod("jupyter-alice--e", claim="claim-bob")
    bob = server_pod("jupyter-bob", metadata={"labels": {**SELECTOR, "primehub.io/user": "bob"}})
    kernel = server_pod(
        "jupyter-alice--f-kernel", metadata={"labels": {**SELECTOR, "component": "kernel"}}
    )
    elsewhere = server_pod("jupyter-alice--g", metadata={"namespace": "other"})
    itself = server_pod("jupyter-alice--new")
    holding = server_pod("jupyter-alice", node="node-a")
    named = server_pod("jupyter-alice--gpu", node="node-a", server="gpu")
    found = holders(
        [unscheduled, ending, done, other_claim, bob, kernel, elsewhere, itself, named, holding]
    )
    assert found == [
        HomeHolder(pod="jupyter-alice", server="", node="node-a"),
        HomeHolder(pod="jupyter-alice--b", server="", node=""),
        HomeHolder(pod="jupyter-alice--gpu", server="gpu", node="node-a"),
    ]
    assert holders([]) == []


def test_the_affinity_is_added_to_what_the_admin_configured():
    admin_term = {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "zone"}
    spec = {
        "affinity": {
            "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [admin_term]},
            "nodeAffinity": {"x": 1},
        }
    }
    with_home_affinity(spec, SELECTOR)
    terms = spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms == [
        admin_term,
        {"labelSelector": {"matchLabels": SELECTOR}, "topologyKey": "kubernetes.io/hostname"},
    ]
    assert spec["affinity"]["nodeAffinity"] == {"x": 1}
    assert (
        with_home_affinity({}, SELECTOR)["affinity"]["podAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ][0]["topologyKey"]
        == "kubernetes.io/hostname"
    )


def test_the_user_reads_which_servers_hold_the_home_and_where():
    hint = conflict_hint(
        "claim-alice",
        [HomeHolder("jupyter-alice", "", "node-a"), HomeHolder("jupyter-alice--x", "x", "node-a")],
    )
    assert hint == (
        "Your servers share one home volume (claim-alice) that only one node can mount at a "
        "time, so this server can start only on node node-a, where your server(s) (default), "
        "'x' run. Stop those servers, or choose an instance type that fits on that node."
    )
    unsched = {
        "status": {
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/2 nodes are available: 1 node(s) didn't match pod affinity "
                    "rules, 1 node(s) were unschedulable.",
                }
            ]
        }
    }
    assert conflict_hint("claim-alice", [HomeHolder("jupyter-alice--x", "x", "")]).startswith(
        "Your servers share one home volume (claim-alice) that only one node can mount at a "
        "time, so this server can start only on the node of your other servers, where your "
        "server(s) 'x' run."
    )
    assert "didn't match pod affinity rules" in affinity_blocked(unsched)
    assert affinity_blocked({"status": {"conditions": []}}) is None


def event(reason, message):
    return {"reason": reason, "message": message, "type": "Warning"}


@pytest.mark.parametrize(
    "reason, message",
    [
        ("FailedMount", 'MountVolume.SetUp failed for volume "creds" : secret "creds" not found'),
        ("FailedMount", 'MountVolume.SetUp failed for volume "c" : configmap "c" not found'),
        (
            "FailedMount",
            'MountVolume.SetUp failed for volume "ds" : hostPath type check failed: '
            "/data/x is not a directory",
        ),
        (
            "FailedMount",
            'MountVolume.SetUp failed for volume "ds" : hostPath /data/x (type Directory) '
            "does not exist",
        ),
        (
            "FailedAttachVolume",
            'Multi-Attach error for volume "pvc-1" Volume is already used by pod(s) jupyter-alice',
        ),
    ],
)
def test_volume_failures_no_retry_fixes_fail_the_spawn_with_the_events_reason(reason, message):
    assert fatal_reason([event(reason, message)], {"status": {"phase": "Pending"}}) == (
        f"A volume of the server cannot be mounted ({reason}): {message}"
    )
    assert describe_event(event(reason, message)).startswith("Waiting for a volume to be mounted")


@pytest.mark.parametrize(
    "reason, message",
    [
        (
            "FailedMount",
            "Unable to attach or mount volumes: unmounted volumes=[home], unattached "
            "volumes=[home]: timed out waiting for the condition",
        ),
        ("FailedMount", 'MountVolume.SetUp failed for volume "nfs" : mount failed: exit status 32'),
        ("FailedAttachVolume", 'AttachVolume.Attach failed for volume "pvc-1" : rpc error'),
        ("Failed", 'Error: secret "env-only" not found'),  # env refs: not a volume
    ],
)
def test_mount_errors_the_kubelet_may_still_resolve_are_not_fatal(reason, message):
    assert fatal_reason([event(reason, message)], {"status": {"phase": "Pending"}}) is None


def test_a_second_server_of_the_user_gets_the_affinity_and_the_first_none(make_spawner_cluster):
    first = asyncio.run(make_spawner_cluster([]))
    assert "affinity" not in first["spec"]
    second = asyncio.run(
        make_spawner_cluster([server_pod("jupyter-alice--gpu", node="node-a", server="gpu")])
    )
    terms = second["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms == [
        {
            "labelSelector": {"matchLabels": SELECTOR},
            "topologyKey": "kubernetes.io/hostname",
        }
    ]
    off = asyncio.run(
        make_spawner_cluster([server_pod("jupyter-alice--gpu")], colocate_home_servers=False)
    )
    assert "affinity" not in off["spec"]


@pytest.fixture
def make_spawner_cluster(_make_spawner, monkeypatch):  # noqa: F811
    """The manifest of alice's server while ``pods`` are in the pod watch."""

    async def manifest(pods, **config):
        spawner = _make_spawner(**config)
        watch = SimpleNamespace(pods={f"hub/{p['metadata']['name']}": p for p in pods})
        monkeypatch.setattr(type(spawner), "pod_reflector", property(lambda self: watch))
        await spawner.apply_primehub_options({})
        pod = await spawner.get_pod_manifest()
        return ApiClient().sanitize_for_serialization(pod)

    return manifest
