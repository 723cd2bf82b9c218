"""PrimeHubSpawner glue without a cluster: options -> traits -> the final pod manifest.

The spawner is built like KubeSpawner's own tests do (``_mock=True``, a kubeconfig that is never
contacted); the quota cache is replaced by a dict of pods.
"""

import asyncio
import json
from types import SimpleNamespace

import kubernetes_validate
import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, Configuration
from kubespawner.clients import load_config
from tornado import web

from primehub_spawner.podcache import STALE_MESSAGE
from primehub_spawner.spawner import PrimeHubSpawner

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "u", "user": {"token": "unused"}}],
    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    "current-context": "x",
}


@pytest.fixture
def make_spawner(tmp_path, monkeypatch, catalog_dict):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG))
    # read at import time by kubernetes_asyncio: point the default location at our file
    monkeypatch.setattr(
        "kubernetes_asyncio.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION", str(path)
    )
    catalog_path = tmp_path / "catalog.yaml"
    catalog_path.write_text(yaml.safe_dump(catalog_dict))

    def make(user="alice", hub_groups=(), pods=None, **config):
        user_obj = SimpleNamespace(
            name=user,
            id=7,
            url=f"/user/{user}/",
            groups=[SimpleNamespace(name=g) for g in hub_groups],
        )
        spawner = PrimeHubSpawner(
            _mock=True, user=user_obj, catalog_path=str(catalog_path), namespace="hub", **config
        )
        cache = pods if pods is not None else {}

        async def group_pods():
            return cache

        spawner.group_pods = group_pods
        spawner.admission_pods = group_pods  # a fresh cache (stale ones: test_one_ledger.py)
        return spawner

    PrimeHubSpawner.ledger.reservations.clear()
    saved = Configuration.get_default_copy()
    yield make
    PrimeHubSpawner.ledger.reservations.clear()
    # do not leave the dummy cluster as this process's default for other tests
    Configuration.set_default(saved)
    load_config.cache_clear()


def run(coro):
    return asyncio.get_event_loop_policy().new_event_loop().run_until_complete(coro)


async def manifest_for(spawner, options):
    await spawner.apply_primehub_options(options)
    pod = await spawner.get_pod_manifest()
    return ApiClient().sanitize_for_serialization(pod)


def test_final_manifest_merges_plan_and_kubespawner(make_spawner):
    async def go():
        spawner = make_spawner(
            node_selector={"pool": "users"},
            tolerations=[{"key": "dedicated", "operator": "Exists"}],
            args=["--debug"],
            kernel_idle_timeout=1800,
        )
        return spawner, await manifest_for(spawner, {"instance_type": "gpu-1", "env": {"X": "{y}"}})

    spawner, pod = run(go())
    kubernetes_validate.validate(pod, "1.25", strict=True)
    c = pod["spec"]["containers"][0]
    assert c["name"] == "notebook"
    assert c["ports"][0]["name"] == "notebook-port"
    assert c["resources"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert c["resources"]["requests"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert c["image"] == "registry.example/torch:cuda"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["GROUP_NAME"] == "phusers" and env["INSTANCE_TYPE"] == "gpu-1"
    assert env["X"] == "{y}"  # user values are not template-expanded
    assert "JUPYTERHUB_API_TOKEN" in env
    assert "NVIDIA_VISIBLE_DEVICES" not in env
    assert pod["spec"]["nodeSelector"] == {"pool": "users", "gpu": "true"}
    assert {"key": "dedicated", "operator": "Exists"} in pod["spec"]["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in (
        pod["spec"]["tolerations"]
    )
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["metadata"]["labels"]["primehub.io/group"] == "phusers"
    assert pod["metadata"]["labels"]["component"] == "singleuser-server"
    usage = json.loads(pod["metadata"]["annotations"]["primehub.io/usage"])
    assert usage["component_name"] == spawner.pod_name
    assert "--debug" in c["args"]
    assert "--MappingKernelManager.cull_idle_timeout=1800" in c["args"]
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/home/jovyan", "/project/phusers", "/datasets/mnist"} <= mounts
    # home symlinks are made before the server starts, by wrapping its command
    assert c["args"][:2] == ["sh", "-c"]
    assert "ln -s /project/phusers" in c["args"][2]
    assert c["args"][3:5] == ["primehub-start", "jupyterhub-singleuser"]
    assert not c.get("lifecycle")


def test_next_spawn_does_not_keep_the_previous_choice(make_spawner):
    async def go():
        spawner = make_spawner(node_selector={"pool": "users"})
        await manifest_for(spawner, {"instance_type": "gpu-1"})
        spawner.clear_state()
        PrimeHubSpawner.ledger.reservations.clear()
        return await manifest_for(spawner, {"instance_type": "cpu-2"})

    pod = run(go())
    c = pod["spec"]["containers"][0]
    assert c["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert pod["spec"]["nodeSelector"] == {"pool": "users"}
    assert not any(t.get("key") == "nvidia.com/gpu" for t in pod["spec"].get("tolerations") or [])


def test_refusals_are_http_errors_with_the_message(make_spawner):
    async def go(options, user="alice"):
        spawner = make_spawner(user=user)
        with pytest.raises(web.HTTPError) as err:
            await spawner.apply_primehub_options(options)
        return err.value.status_code, err.value.jupyterhub_message

    assert run(go({"group": "Research_Lab"})) == (
        403,
        "group: you are not a member of 'Research_Lab' (your groups: 'phusers')",
    )
    status, message = run(go({"image": "gone"}))
    assert status == 400 and message.startswith("image: 'gone' is not available")
    assert run(go({}, user="nobody"))[0] == 403


def test_quota_is_admitted_against_the_cache(make_spawner):
    pod = {
        "metadata": {
            "name": "jupyter-alice--other",
            "namespace": "hub",
            "labels": {"primehub.io/user": "alice", "primehub.io/group": "phusers"},
        },
        "spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
        "status": {"phase": "Running"},
    }

    async def go():
        spawner = make_spawner(pods={"hub/jupyter-alice--other": pod})
        with pytest.raises(web.HTTPError) as err:
            await spawner.apply_primehub_options({"instance_type": "gpu-1"})
        await spawner.apply_primehub_options({"instance_type": "cpu-2"})  # no GPU asked: fits
        return err.value

    err = run(go())
    assert err.status_code == 403
    assert err.jupyterhub_message == "User alice exceeded gpu quota: 1, requesting 2"


def test_hub_groups_count_as_membership(make_spawner):
    async def go():
        spawner = make_spawner(user="dave", hub_groups=["Research_Lab"])
        return await spawner.groups_overview()

    overview = run(go())
    assert [g["name"] for g in overview["groups"]] == ["Research_Lab"]
    assert overview["groups"][0]["quota"] == {"cpu": None, "memory": None, "gpu": 2}


def test_a_spawn_on_a_stale_pod_cache_is_a_503_and_reserves_nothing(make_spawner):
    async def spawn_on_a_stale_cache():
        spawner = make_spawner()
        del spawner.admission_pods  # the real one, over a cache whose last list failed
        key = spawner._get_reflector_key("pods")
        PrimeHubSpawner.reflectors[key] = SimpleNamespace(watching=True, fresh=False, pods={})
        await spawner.apply_primehub_options({"group": "phusers"})

    saved = dict(PrimeHubSpawner.reflectors)
    try:
        with pytest.raises(web.HTTPError) as refused:
            run(spawn_on_a_stale_cache())
    finally:
        PrimeHubSpawner.reflectors.clear()
        PrimeHubSpawner.reflectors.update(saved)
    assert refused.value.status_code == 503
    assert refused.value.jupyterhub_message == STALE_MESSAGE
    assert PrimeHubSpawner.ledger.reservations == {}


class CountingPVCs:
    """The PVC calls of a spawn: every create answers 409 (it exists)."""

    def __init__(self):
        self.creates = []

    async def create_namespaced_persistent_volume_claim(self, namespace, body):
        from kubernetes_asyncio.client.rest import ApiException

        self.creates.append(body["metadata"]["name"])
        raise ApiException(status=409, reason="AlreadyExists")


def test_a_pvc_the_hub_saw_is_not_asked_for_again_until_a_spawn_fails(make_spawner):
    PrimeHubSpawner._known_pvcs.clear()
    api = CountingPVCs()

    async def plan_and_ensure():
        spawner = make_spawner()
        spawner.api = api
        await spawner.apply_primehub_options({"group": "phusers"})
        await spawner._ensure_pvcs(spawner._plan)
        PrimeHubSpawner.ledger.reservations.clear()
        return spawner

    try:
        first = run(plan_and_ensure())
        made = sorted(api.creates)
        assert "claim-alice" in made and "project-phusers" in made
        run(plan_and_ensure())
        assert sorted(api.creates) == made  # no request for volumes known to exist
        # a failed start forgets them: a volume deleted outside is made again next time
        first._forget_pvcs()
        run(plan_and_ensure())
        assert len(api.creates) == 2 * len(made)
    finally:
        PrimeHubSpawner._known_pvcs.clear()
