"""Spawn overhead: PrimeHubSpawner vs plain KubeSpawner with an equivalent profile_list.

Both hubs run at the same time on the local cluster (own namespaces); spawns alternate between
them so load on the shared machine hits both alike. One warm-up spawn each (it starts the
reflectors: their initial list and watch are not per-spawn costs) is not counted.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.hubs import (
    AGENT_IMAGE,
    cluster_session,
    request_records,
    spawn_and_wait,
    start_kubespawner,
    start_primehub,
    summarize,
    workdir,
)
from bench.report import Row, Section, median
from localk8s.testing import wait_for

USER = "spawn-bench"
IDLE_SECONDS = 60
SIDES = ("ours", "peer")


def run(args: argparse.Namespace) -> Section:
    """Measure and return the section (the node agent: pods as processes)."""
    with cluster_session("agent") as cluster:
        return measure(cluster, max(1, args.spawns))


def measure(cluster: Any, spawns: int, image: str = AGENT_IMAGE, name: str = "spawn") -> Section:
    """Spawn both hubs' servers ``spawns`` times each (interleaved) in ``image``."""
    title = "Spawn overhead: PrimeHubSpawner vs KubeSpawner profile_list"
    if image != AGENT_IMAGE:
        title += f" (real containers: {image})"
    section = Section(name, title)
    namespaces = {"ours": cluster.create_namespace("bench-ph"), "peer": ""}
    namespaces["peer"] = cluster.create_namespace("bench-ks")
    options = {"ours": {"group": "bench", "instance_type": "cpu-half"}, "peer": None}
    times: dict[str, list[float]] = {s: [] for s in SIDES}
    spawn_requests: dict[str, list[dict[str, int]]] = {s: [] for s in SIDES}
    stop_requests: dict[str, list[dict[str, int]]] = {s: [] for s in SIDES}
    failures: dict[str, list[str]] = {s: [] for s in SIDES}
    hubs = {}
    tmp = workdir(name)
    try:
        hubs["ours"] = start_primehub(cluster, namespaces["ours"], tmp / "ph", [USER], image)
        hubs["peer"] = start_kubespawner(cluster, namespaces["peer"], tmp / "ks", image)
        for hub in hubs.values():
            hub.create_user(USER)
        for i in range(spawns + 1):
            for side in SIDES:
                hub = hubs[side]
                before, _ = request_records(hub)
                try:
                    elapsed = spawn_and_wait(hub, USER, options[side])
                except RuntimeError as e:
                    failures[side].append(str(e).splitlines()[0])
                    print(f"[bench] spawn {i} {side} FAILED: {failures[side][-1]}")
                    elapsed = None
                after, records = request_records(hub, before)
                if hub.user(USER).get("servers"):
                    hub.stop_server(USER)
                wait_for(
                    lambda s=side: (
                        not cluster.get(
                            "pods", "-n", namespaces[s], "-l", "component=singleuser-server"
                        )["items"]
                    ),
                    180,
                    what=f"{side} pod deleted",
                )
                _, stop_records = request_records(hub, after)
                if i == 0 or elapsed is None:
                    continue  # warm-up, or a failed spawn (reported)
                times[side].append(elapsed)
                spawn_requests[side].append(summarize(records, stop_records))
                stop_requests[side].append(summarize(stop_records))
                print(f"[bench] spawn {i} {side}: {elapsed:.2f}s, {len(records)} k8s requests")
        # both hubs idle at the same time, reflectors started: their background requests
        starts = {side: request_records(hub)[0] for side, hub in hubs.items()}
        time.sleep(IDLE_SECONDS)
        background = {
            side: summarize(request_records(hub, starts[side])[1]) for side, hub in hubs.items()
        }
    finally:
        for hub in hubs.values():
            hub.stop()
        for ns in namespaces.values():
            cluster.delete_namespace(ns)

    def per_spawn(side: str, verbs: tuple[str, ...] | None = None) -> float:
        counts = [
            sum(n for k, n in c.items() if verbs is None or k.split()[0] in verbs)
            for c in spawn_requests[side]
        ]
        return median(counts)

    def per_minute(side: str) -> float:
        return sum(background[side].values()) * 60 / IDLE_SECONDS

    spawn_verbs = ("create", "get", "delete", "patch", "update", "list", "watch")

    ks = "KubeSpawner"
    section.rows = [
        Row("POST to ready (median)", median(times["ours"]), median(times["peer"]), peer_name=ks),
        Row("k8s API requests per spawn", per_spawn("ours", spawn_verbs),
            per_spawn("peer", spawn_verbs), "count", ks,
            note="POST..ready; counted in the hub's client; reflector cycles excluded"),
        Row("  of which list (outside reflectors)", per_spawn("ours", ("list",)),
            per_spawn("peer", ("list",)), "count", ks, note="the quota check must add none"),
        Row("  reflector list+watch in the window", per_spawn("ours", ("reflector",)),
            per_spawn("peer", ("reflector",)), "count", ks,
            note="periodic, not caused by the spawn"),
        Row("idle hub: reflector list+watch per minute", per_minute("ours"), per_minute("peer"),
            "count", ks, note="one pod watch serves KubeSpawner and quota (plus events)"),
        Row("failed spawns", len(failures["ours"]), len(failures["peer"]), "count", ks),
    ]  # fmt: skip
    section.ok = not any(failures.values())
    if not section.ok:
        section.error = f"failed spawns: {failures}"
    section.details = {
        "spawns_each": spawns,
        "samples": times,
        "requests_per_spawn": spawn_requests,
        "requests_per_stop": stop_requests,
        "idle_requests": {"seconds": IDLE_SECONDS, **background},
        "failures": failures,
        "counting": "client side: kubernetes_asyncio REST calls in the hub process",
        "hub_logs": str(tmp),
    }
    return section
