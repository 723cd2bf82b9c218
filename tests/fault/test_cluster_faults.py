"""Faults of the cluster under a real hub: the node agent dies mid-spawn, the apiserver
restarts mid-spawn. Spawns end in a clear state, nothing is left behind, later spawns work."""

from __future__ import annotations

import time

import pytest

from localk8s.testing import WaitTimeout, wait_for

from .cluster import kill_node_agent, restart_apiserver, start_node_agent
from .conftest import WAIT, user_processes

pytestmark = pytest.mark.cluster
OPTIONS = {"group": "faults", "instance_type": "cpu-small"}


def _pods(cluster, namespace, user):
    return cluster.get("pods", "-n", namespace, "-l", f"primehub.io/user={user}")["items"]


def _outcome(hub, user) -> str:
    """Wait until the spawn is over: 'ready', or 'failed' (no server, nothing pending)."""

    def settled():
        model = hub.user(user)
        server = model["servers"].get("")
        if server and server.get("ready"):
            return "ready"
        if not server and not model.get("pending"):
            return "failed"
        return None

    return wait_for(settled, 2 * WAIT, interval=0.5, what=f"the spawn of {user} to settle")


def _stop_and_check_clean(hub, cluster, namespace, user) -> None:
    if hub.user(user)["servers"]:
        hub.stop_server(user, timeout=WAIT)
    wait_for(lambda: not _pods(cluster, namespace, user), WAIT, what=f"pods of {user} deleted")
    wait_for(
        lambda: not user_processes(user), 60, what=f"no process of {user}'s server left running"
    )


def test_node_agent_killed_during_spawn(disruptable_cluster, fault_hub, fault_namespace):
    cluster, hub, user = disruptable_cluster, fault_hub, "agent-victim"
    hub.create_user(user)
    resp = hub.start_server(user, OPTIONS)
    assert resp.status_code in (201, 202), resp.text
    wait_for(
        lambda: any(p["spec"].get("nodeName") for p in _pods(cluster, fault_namespace, user)),
        WAIT,
        what="the server pod bound to the node",
    )
    argv, env = kill_node_agent(cluster)
    try:
        time.sleep(3)  # not an assertion: the agent stays down for a moment
    finally:
        start_node_agent(cluster, argv, env)

    # the pod's processes died with the agent (bwrap --die-with-parent); the restarted agent
    # marks such pods Failed. Either the spawn still completes with a working server, or the hub
    # sees the server gone (its poll) and the pod says why.
    token = hub.user_token(user)

    def settled():
        model = hub.user(user)
        server = model["servers"].get("")
        if server and server.get("ready"):
            if hub.server_get(user, "api/status", token).status_code == 200:
                return "serving"
            return None
        if not server and not model.get("pending"):
            return "gone"
        return None

    outcome = wait_for(settled, 2 * WAIT, interval=1, what=f"the spawn of {user} to settle")
    if outcome == "gone":
        pods = _pods(cluster, fault_namespace, user)
        reasons = [
            f"{(p.get('status') or {}).get('reason')}: {(p.get('status') or {}).get('message')}"
            for p in pods
        ]
        # the pod (if the hub has not deleted it yet) says why; the hub log names the user
        assert all("NodeAgentRestarted" in r for r in reasons), reasons
        assert user in hub.log_tail(400)
    _stop_and_check_clean(hub, cluster, fault_namespace, user)


def test_apiserver_restart_during_spawn_then_spawns_work(
    disruptable_cluster, fault_hub, fault_namespace
):
    cluster, hub = disruptable_cluster, fault_hub
    hub.create_user("api-victim")
    hub.create_user("api-after")
    resp = hub.start_server("api-victim", OPTIONS)
    assert resp.status_code in (201, 202), resp.text
    restart_apiserver(cluster)

    if _outcome(hub, "api-victim") == "ready":
        token = hub.user_token("api-victim")
        answers: list = []

        def answered():
            answers[:] = [hub.server_get("api-victim", "api/status", token).status_code]
            return answers[0] == 200

        try:
            wait_for(answered, 90, what="the server spawned across the apiserver restart")
        except WaitTimeout:
            pods = _pods(cluster, fault_namespace, "api-victim")
            pytest.fail(
                f"the server spawned across the apiserver restart does not answer (last: "
                f"{answers}); hub model: {hub.user('api-victim')}; pods: "
                f"{[(p['metadata']['name'], p['status']) for p in pods]}\n{hub.log_tail(80)}"
            )
    else:
        assert "api-victim" in hub.log_tail(400)
    _stop_and_check_clean(hub, cluster, fault_namespace, "api-victim")

    # the hub's reflectors recovered: a later spawn is seen ready and its quota counted
    resp = hub.start_server("api-after", OPTIONS)
    assert resp.status_code in (201, 202), resp.text
    hub.wait_server("api-after", timeout=WAIT)
    groups = hub.api("GET", "/primehub/groups", token=hub.user_token("api-after"))
    assert groups.status_code == 200, groups.text
    _stop_and_check_clean(hub, cluster, fault_namespace, "api-after")
