"""What users do with PrimeHubSpawner on a real hub and a real (local) cluster."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from localk8s.testing import wait_for

from .conftest import PASSWORD

pytestmark = pytest.mark.cluster


def container(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")


def env_of(pod: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container(pod).get("env", [])}


def only_pod(pods, user: str) -> dict:
    found = pods(user)
    assert len(found) == 1, [p["metadata"]["name"] for p in found]
    return found[0]


@pytest.mark.parametrize(
    "instance_type, limits",
    [
        ("cpu-1", {"cpu": "1", "memory": "1Gi"}),
        ("gpu-1", {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}),
    ],
)
def test_rest_spawn_builds_the_pod_and_server_is_reachable(
    hub, pods, stop_all, instance_type, limits
):
    hub.create_user("alice")
    stop_all("alice")
    token = hub.user_token("alice")
    resp = hub.start_server("alice", {"group": "team", "instance_type": instance_type})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_server("alice")

    pod = only_pod(pods, "alice")
    c = container(pod)
    assert c["resources"]["limits"] == limits
    env = env_of(pod)
    assert env["GROUP_NAME"] == "team"
    assert env["INSTANCE_TYPE"] == instance_type
    # the default image is the group's first one usable on the instance type
    assert env["IMAGE_NAME"] == ("cuda" if instance_type == "gpu-1" else "base")
    assert env["CREDS_TOKEN"] == "t0k3n"
    assert ("NVIDIA_VISIBLE_DEVICES" in env) == (instance_type == "cpu-1")
    labels = pod["metadata"]["labels"]
    assert labels["primehub.io/user"] == "alice"
    assert labels["primehub.io/group"] == "team"
    assert labels["component"] == "singleuser-server"
    usage = json.loads(pod["metadata"]["annotations"]["primehub.io/usage"])
    assert usage["instance_type"] == instance_type and usage["group"] == "team"
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert {"/home/jovyan", "/project/team", "/datasets/data"} <= set(mounts)
    assert pod["spec"]["automountServiceAccountToken"] is False
    if instance_type == "gpu-1":
        assert pod["spec"]["nodeSelector"] == {"gpu": "true"}
    # in-server culling: the group's kernel timeout overrides the hub default
    assert "--MappingKernelManager.cull_idle_timeout=600" in c["args"]

    # the server answers through the proxy, as the user
    status = hub.server_get("alice", "api/status", token)
    assert status.status_code == 200, status.text
    # the group volume is linked into the home directory (homeSymlink)
    team = hub.server_get("alice", "api/contents/team", token)
    assert team.status_code == 200, team.text
    assert team.json()["type"] == "directory"

    hub.stop_server("alice")
    wait_for(lambda: not pods("alice"), 120, what="alice's pod deleted")


def login(hub, user: str) -> requests.Session:
    s = requests.Session()
    s.get(hub.url + "/hub/login", timeout=30)
    r = s.post(
        hub.url + "/hub/login",
        data={"username": user, "password": PASSWORD, "_xsrf": s.cookies.get("_xsrf")},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return s


def test_form_post_spawn(hub, pods, stop_all):
    hub.create_user("bob")
    stop_all("bob")
    s = login(hub, "bob")
    form = s.get(hub.url + "/hub/spawn", timeout=30)
    assert form.status_code == 200
    assert 'name="instance_type__team"' in form.text
    assert "1 CPU / 1Gi / 1 GPU" in form.text
    resp = s.post(
        hub.url + "/hub/spawn",
        data={
            "_xsrf": s.cookies.get("_xsrf"),
            "group": "team",
            "instance_type__team": "gpu-1",
            "image__team": "cuda",
            "env": "MY_SETTING=on",
        },
        timeout=60,
    )
    assert resp.status_code == 200, resp.text[:2000]
    hub.wait_server("bob")
    pod = only_pod(pods, "bob")
    env = env_of(pod)
    assert (env["INSTANCE_TYPE"], env["IMAGE_NAME"], env["MY_SETTING"]) == ("gpu-1", "cuda", "on")
    assert container(pod)["image"] == "nvidia/cuda:12"
    # the next form preselects the last choice
    hub.stop_server("bob")
    again = s.get(hub.url + "/hub/spawn", timeout=30).text
    assert re.search(r'value="gpu-1" data-gpu="1"\s+checked', again)


def test_form_post_with_bad_env_shows_the_error(hub, pods):
    hub.create_user("bob")
    s = login(hub, "bob")
    s.get(hub.url + "/hub/spawn", timeout=30)
    resp = s.post(
        hub.url + "/hub/spawn",
        data={"_xsrf": s.cookies.get("_xsrf"), "group": "team", "env": "1BAD=x"},
        timeout=60,
    )
    assert resp.status_code == 400
    assert "env: &#39;1BAD&#39; is not a valid variable name" in resp.text
    assert not pods("bob")


@pytest.mark.parametrize(
    "options, status, message",
    [
        ({"group": "big"}, 403, "group: you are not a member of 'big' (your groups: 'team')"),
        (
            {"instance_type": "gpu-8"},
            400,
            "instance_type: 'gpu-8' is not available in group 'team'",
        ),
        (
            {"image": "deleted-image"},
            400,
            "image: 'deleted-image' is not available in group 'team'",
        ),
        (
            {"instance_type": "cpu-1", "image": "cuda"},
            400,
            "image: 'cuda' needs a GPU instance type",
        ),
        ({"env": {"9LIVES": "x"}}, 400, "env: '9LIVES' is not a valid variable name"),
        ({"colour": "red"}, 400, "colour: unknown option"),
    ],
)
def test_invalid_options_are_refused_without_a_pod(hub, pods, options, status, message):
    hub.create_user("alice")
    resp = hub.start_server("alice", options)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["message"]
    assert not pods("alice")
    assert hub.user("alice")["servers"] == {}


def test_user_without_group_is_told_to_contact_admin(hub, pods):
    hub.create_user("nobody")
    resp = hub.start_server("nobody", {})
    assert resp.status_code == 403
    assert resp.json()["message"] == (
        "No group is configured for you to launch a server. Please contact admin."
    )
    s = login(hub, "nobody")
    page = s.get(hub.url + "/hub/spawn", timeout=30).text
    assert "No group is configured for you to launch a server. Please contact admin." in page
    assert not pods("nobody")


def test_second_gpu_server_is_refused_by_quota(hub, pods, stop_all):
    hub.create_user("alice")
    stop_all("alice")
    first = hub.start_server("alice", {"instance_type": "gpu-1"}, server_name="gpu1")
    assert first.status_code in (201, 202), first.text
    second = hub.start_server("alice", {"instance_type": "gpu-1"}, server_name="gpu2")
    assert second.status_code == 403, second.text
    assert second.json()["message"] == "User alice exceeded gpu quota: 1, requesting 2"
    wait_for(
        lambda: [p["metadata"]["name"] for p in pods("alice")] == ["jupyter-alice--gpu1"],
        60,
        what="only the first GPU server's pod",
    )
    # the groups API shows the usage against the quota
    token = hub.user_token("alice")
    groups = hub.api("GET", "/primehub/groups", token=token).json()["groups"]
    (team,) = groups
    assert team["usage"]["user"]["gpu"] == 1
    assert team["quota"]["gpu"] == 1
    gpu = next(it for it in team["instanceTypes"] if it["name"] == "gpu-1")
    assert gpu["available"] is False


def test_ten_concurrent_spawns_against_a_quota_for_two(hub, pods, stop_all):
    hub.create_user("racer")
    stop_all("racer")

    def spawn(i: int) -> requests.Response:
        return hub.start_server("racer", {"instance_type": "cpu-small"}, server_name=f"s{i}")

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(spawn, range(10)))
    seen = [(r.status_code, r.text) for r in responses]
    accepted = [r for r in responses if r.status_code in (201, 202)]
    refused = [r for r in responses if r.status_code == 403]
    assert len(accepted) == 2, seen
    assert len(refused) == 8, seen
    assert {r.json()["message"] for r in refused} == {
        "Group race exceeded cpu quota: 1, requesting 1.5"
    }, seen
    wait_for(lambda: len(pods("racer")) == 2, 60, what="two pods of racer")
    assert len(pods("racer")) == 2


def test_unsatisfiable_gpu_request_fails_fast_with_the_reason(hub, pods, stop_all):
    hub.create_user("dora")
    stop_all("dora")
    token = hub.user_token("dora")
    resp = hub.start_server("dora", {"instance_type": "gpu-8"})
    assert resp.status_code in (202, 503), resp.text
    if resp.status_code == 503:
        message = resp.json()["message"]
    else:
        # the progress stream ends with the failure, long before start_timeout (300 s)
        with hub.session.get(
            hub.api_url + "/users/dora/server/progress",
            headers={"Authorization": f"token {token}"},
            stream=True,
            timeout=120,
        ) as stream:
            events = [
                json.loads(line[len("data:") :])
                for line in stream.iter_lines(decode_unicode=True)
                if line and line.startswith("data:")
            ]
        assert events[-1].get("failed"), events
        message = events[-1]["message"]
    assert "Insufficient nvidia.com/gpu" in message
    wait_for(lambda: not pods("dora"), 60, what="dora's pod removed")
    assert hub.user("dora")["servers"] == {}


def test_groups_api_shows_only_the_callers_groups(hub):
    hub.create_user("erin")
    token = hub.user_token("erin")
    resp = hub.api("GET", "/primehub/groups", token=token)
    assert resp.status_code == 200
    body = resp.json()
    assert body["user"] == "erin"
    assert [g["name"] for g in body["groups"]] == ["other"]
    (other,) = body["groups"]
    assert [it["name"] for it in other["instanceTypes"]] == ["cpu-1", "cpu-small"]
    assert [im["name"] for im in other["images"]] == ["base"]
    anonymous = requests.get(hub.api_url + "/primehub/groups", timeout=30)
    assert anonymous.status_code == 403


def test_membership_through_jupyterhub_groups(hub):
    hub.create_user("gina")
    token = hub.user_token("gina")
    assert hub.api("GET", "/primehub/groups", token=token).json()["groups"] == []
    hub.api("POST", "/groups/viahub")  # 201, or 409 when it exists
    resp = hub.api("POST", "/groups/viahub/users", json={"users": ["gina"]})
    assert resp.status_code == 200, resp.text
    groups = hub.api("GET", "/primehub/groups", token=token).json()["groups"]
    assert [g["name"] for g in groups] == ["viahub"]


def test_catalog_edits_apply_without_restart_and_stale_options_are_400(
    hub, pods, stop_all, catalog_file
):
    import yaml

    hub.create_user("frank")
    hub.api("POST", "/groups/viahub")
    hub.api("POST", "/groups/viahub/users", json={"users": ["frank"]})
    stop_all("frank")
    token = hub.user_token("frank")
    catalog = yaml.safe_load(catalog_file.read_text())
    catalog["images"]["fresh"] = {"url": "example/fresh:1", "global": True}
    catalog_file.write_text(yaml.safe_dump(catalog))

    def images():
        groups = hub.api("GET", "/primehub/groups", token=token).json()["groups"]
        return [im["name"] for im in groups[0]["images"]]

    wait_for(lambda: "fresh" in images(), 30, what="the new image offered")
    resp = hub.start_server("frank", {"image": "fresh"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_server("frank")
    assert env_of(only_pod(pods, "frank"))["IMAGE_NAME"] == "fresh"
    hub.stop_server("frank")
    wait_for(lambda: not pods("frank"), 120, what="frank's pod deleted")

    # the admin removes the image: the saved options are now stale
    del catalog["images"]["fresh"]
    catalog_file.write_text(yaml.safe_dump(catalog))
    wait_for(lambda: "fresh" not in images(), 30, what="the image withdrawn")
    again = hub.api("POST", "/users/frank/server")  # no body: reuse the saved options
    assert again.status_code == 400, again.text
    assert again.json()["message"].startswith(
        "image: 'fresh' is not available in group 'viahub' (allowed: 'base')"
    )
    assert not pods("frank")


def test_broken_catalog_edit_is_a_clear_503_not_a_500(hub, pods, catalog_file):
    hub.create_user("alice")
    catalog_file.write_text("groups: {team: {instanceTypes: [no-such-type]}}\n")
    resp = hub.start_server("alice", {})
    assert resp.status_code == 503, resp.text
    assert "the catalog has an error" in resp.json()["message"]
    assert "unknown instance type 'no-such-type'" in hub.log_tail(400)
    assert not pods("alice")
