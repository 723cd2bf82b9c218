"""The two spawn traps on a real hub and the real kube-scheduler: a user's servers share one
ReadWriteOnce home volume (co-scheduled, or refused fast saying why), and a volume that cannot
be mounted fails the spawn fast with the kubelet's reason instead of after ``start_timeout``."""

from __future__ import annotations

import json

import pytest
import yaml

from localk8s.testing import wait_for

pytestmark = pytest.mark.cluster


def _failure(hub, user: str, resp, server: str = "") -> str:
    """The message a user reads when the spawn fails: the 503's, or the progress stream's last
    event (long before the 300 s start timeout)."""
    if resp.status_code == 503:
        return resp.json()["message"]
    assert resp.status_code == 202, resp.text
    path = (
        f"/users/{user}/servers/{server}/progress" if server else f"/users/{user}/server/progress"
    )
    with hub.session.get(
        hub.api_url + path,
        headers={"Authorization": f"token {hub.user_token(user)}"},
        stream=True,
        timeout=120,
    ) as stream:
        events = [
            json.loads(line[len("data:") :])
            for line in stream.iter_lines(decode_unicode=True)
            if line and line.startswith("data:")
        ]
    assert events[-1].get("failed"), events
    return events[-1]["message"]


def _add_group(hub, catalog_file, name: str, group: dict, datasets: dict | None = None) -> None:
    catalog = yaml.safe_load(catalog_file.read_text())
    catalog["groups"][name] = group
    catalog["datasets"].update(datasets or {})
    catalog_file.write_text(yaml.safe_dump(catalog))
    (member,) = group["members"]
    token = hub.user_token(member)

    def offered():
        groups = hub.api("GET", "/primehub/groups", token=token).json()["groups"]
        return [g["name"] for g in groups] == [name]

    wait_for(offered, 30, what=f"group {name} offered")


def test_a_users_servers_share_the_home_node_or_are_refused_saying_why(
    hub, pods, stop_all, catalog_file
):
    hub.create_user("hana")
    stop_all("hana")
    _add_group(
        hub,
        catalog_file,
        "homes",
        {"members": ["hana"], "instanceTypes": ["gpu-8"], "images": ["cuda"]},
    )
    first = hub.start_server("hana", {"instance_type": "cpu-small"})
    assert first.status_code in (201, 202), first.text
    hub.wait_server("hana")
    (pod_a,) = pods("hana")
    assert "affinity" not in pod_a["spec"]  # nothing holds the home yet: any node

    second = hub.start_server("hana", {"instance_type": "cpu-small"}, server_name="two")
    assert second.status_code in (201, 202), second.text
    hub.wait_server("hana", "two")
    pod_b = next(p for p in pods("hana") if p["metadata"]["name"] == "jupyter-hana--two")
    terms = pod_b["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms == [
        {
            "labelSelector": {
                "matchLabels": {"component": "singleuser-server", "primehub.io/user": "hana"}
            },
            "topologyKey": "kubernetes.io/hostname",
        }
    ]
    # the scheduler placed it with the first server; both mount the one home claim
    assert pod_b["spec"]["nodeName"] == pod_a["spec"]["nodeName"]
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for p in (pod_a, pod_b)
        for v in p["spec"]["volumes"]
        if v["name"] == "home"
    }
    assert claims == {"claim-hana"}

    # a third server that cannot go where the home is held: refused fast, saying why
    third = hub.start_server("hana", {"instance_type": "gpu-8"}, server_name="big")
    message = _failure(hub, "hana", third, "big")
    node = pod_a["spec"]["nodeName"]
    assert "Insufficient nvidia.com/gpu" in message, message
    assert (
        "Your servers share one home volume (claim-hana) that only one node can mount at a "
        f"time, so this server can start only on node {node}, where your server(s) (default), "
        "'two' run. Stop those servers, or choose an instance type that fits on that node."
    ) in message, message
    wait_for(lambda: len(pods("hana")) == 2, 60, what="the third server's pod removed")


def test_a_volume_that_cannot_be_mounted_fails_the_spawn_fast_with_the_reason(
    hub, pods, stop_all, catalog_file
):
    hub.create_user("ivo")
    stop_all("ivo")
    _add_group(
        hub,
        catalog_file,
        "ghosts",
        {"members": ["ivo"], "instanceTypes": [], "datasets": {"ghost": {}}},
        datasets={"ghost": {"type": "hostPath", "path": "/nonexistent/primehub-e2e-ghost"}},
    )
    resp = hub.start_server("ivo", {"instance_type": "cpu-small"})
    message = _failure(hub, "ivo", resp)
    assert message.startswith("A volume of the server cannot be mounted (FailedMount): "), message
    assert "/nonexistent/primehub-e2e-ghost" in message, message
    wait_for(lambda: not pods("ivo"), 60, what="ivo's pod removed")
    assert hub.user("ivo")["servers"] == {}
