"""Quota fails closed when the hub's pod cache cannot be trusted, and the caches come back.

The API server is down for longer than KubeSpawner's reflectors retry (about 50 s), so every
watch of the hub gives up. While it is down a spawn is refused with a 503 that says why (never
admitted on old data); once it is back, the caches are started again: a pod created meanwhile
counts against the quota, and a spawn is seen ready.
"""

from __future__ import annotations

import json
import threading

import pytest

from localk8s import controlplane
from localk8s.testing import WaitTimeout, wait_for

from .cluster import restart_apiserver
from .conftest import WAIT

pytestmark = pytest.mark.cluster

SMALL = {"group": "race", "instance_type": "cpu-small"}
STALE = "Quota cannot be checked right now"


def squatter(namespace: str) -> str:
    """A pod of group race, made outside the hub, that takes the whole 1-CPU quota."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "race-squatter",
                "namespace": namespace,
                "labels": {"primehub.io/group": "race", "primehub.io/user": "squatter"},
            },
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "jupyter/base-notebook:latest",
                        "command": ["sleep", "600"],
                        "resources": {"limits": {"cpu": "1", "memory": "64Mi"}},
                    }
                ]
            },
        }
    )


def test_no_quota_decision_on_a_cache_that_gave_up_and_the_caches_come_back(
    disruptable_cluster, fault_hub, fault_namespace
):
    cluster, hub = disruptable_cluster, fault_hub
    hub.create_user("racer")
    settings = controlplane.load_settings(cluster.state_dir)
    hub.api("GET", "/primehub/groups", token=hub.user_token("racer"))  # caches started

    outage = threading.Thread(target=restart_apiserver, args=(cluster, 65))
    outage.start()
    try:
        wait_for(lambda: not controlplane.api_ready(settings), 30, what="the apiserver down")
        seen: list = []

        def spawn_refused():
            seen[:] = [hub.start_server("racer", SMALL)]
            # a 503 that Kubernetes is not reachable may come first (the spawn's own calls);
            # never a spawn accepted
            assert seen[0].status_code == 503, seen[0].text
            return STALE in seen[0].json()["message"]

        try:
            wait_for(spawn_refused, 30, what="a spawn refused while Kubernetes is away")
        except WaitTimeout:
            pytest.fail(f"last answer: {seen[0].status_code} {seen[0].text}\n{hub.log_tail(60)}")
    finally:
        outage.join()
    try:
        # made while the hub's watches had given up: only a restarted cache sees it
        cluster.kubectl("apply", "-f", "-", input=squatter(fault_namespace))
        answers: list = []

        def decided():
            answers[:] = [hub.start_server("racer", SMALL)]
            return answers[0].status_code != 503

        wait_for(decided, 60, what="a spawn decided on a fresh cache")
        over = answers[0]
        assert over.status_code == 403, over.text
        assert "Group race exceeded cpu quota" in over.json()["message"]

        cluster.kubectl("delete", "pod", "race-squatter", "-n", fault_namespace, "--wait=true")
        resp = hub.start_server("racer", SMALL)
        assert resp.status_code in (201, 202), resp.text
        hub.wait_server("racer", timeout=WAIT)  # KubeSpawner's own pod watch is back too
    finally:
        cluster.kubectl(
            "delete", "pod", "race-squatter", "-n", fault_namespace, "--ignore-not-found"
        )
        if hub.user("racer")["servers"]:
            hub.stop_server("racer", timeout=WAIT)
