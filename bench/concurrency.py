"""Concurrency: N users (default 30) spawn at once, on the PrimeHub hub and on plain KubeSpawner.

Both hubs run on the local cluster, each in its own namespace, with the same pod (image,
resources). All spawns of a side are POSTed together from a thread pool; each user's time is
from its POST to its server being ready. The sides take turns (ours first, then the peer's, each
with its pods deleted before the other starts), so they never share the cluster. Reports how
many became ready / failed and p50/p95/max time to ready for each side.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.hubs import cluster_session, spawn_and_wait, start_kubespawner, start_primehub, workdir
from bench.report import Row, Section, percentile
from localk8s.testing import wait_for

PEER = "KubeSpawner"


def run(args: argparse.Namespace) -> Section:
    """Measure and return the section."""
    with cluster_session() as cluster:
        return _run(cluster, max(1, args.users))


def _side(cluster: Any, side: str, users: list[str], tmp: Any) -> dict[str, Any]:
    """Start ``side``'s hub, spawn every user at once, stop everything; user -> seconds or
    the exception."""
    namespace = cluster.create_namespace(f"bench-conc-{side}")
    hub = None
    try:
        if side == "ours":
            hub = start_primehub(cluster, namespace, tmp / "ph", users)
            options: dict[str, Any] | None = {"group": "bench", "instance_type": "cpu-half"}
        else:
            hub = start_kubespawner(cluster, namespace, tmp / "ks")
            options = None
        for user in users:
            hub.create_user(user)

        def spawn(user: str) -> tuple[str, Any]:
            try:
                return user, spawn_and_wait(hub, user, options, timeout=600)
            except Exception as e:  # one failed spawn is a result, not the end of the run
                return user, e

        with ThreadPoolExecutor(len(users)) as pool:
            return dict(pool.map(spawn, users))
    finally:
        try:
            if hub is not None:
                for user in users:
                    if hub.user(user).get("servers"):
                        hub.api("DELETE", f"/users/{user}/server")
                wait_for(
                    lambda: not cluster.get("pods", "-n", namespace)["items"],
                    600,
                    what="bench pods deleted",
                )
        finally:  # the hub and the namespace go even when the pods were slow to
            if hub is not None:
                hub.stop()
            cluster.delete_namespace(namespace)


def _run(cluster: Any, count: int) -> Section:
    users = [f"conc-{i}" for i in range(count)]
    section = Section(
        "concurrency", f"Concurrency: {count} users spawning at once (ours vs {PEER})"
    )
    tmp = workdir("concurrency")
    results = {side: _side(cluster, side, users, tmp) for side in ("ours", "peer")}
    ready = {s: sorted(v for v in r.values() if isinstance(v, float)) for s, r in results.items()}
    failed = {
        s: {u: str(v).splitlines()[0] for u, v in r.items() if not isinstance(v, float)}
        for s, r in results.items()
    }

    def row(metric: str, pick: Any, unit: str = "s") -> Row:
        return Row(metric, pick(ready["ours"]), pick(ready["peer"]), unit, PEER)

    section.rows = [
        row("servers ready", len, "count"),
        Row("spawns failed", len(failed["ours"]), len(failed["peer"]), "count", PEER),
        row("POST to ready, p50", lambda r: percentile(r, 50)),
        row("POST to ready, p95", lambda r: percentile(r, 95)),
        row("POST to ready, max", lambda r: r[-1] if r else None),
    ]
    section.ok = not failed["ours"] and len(ready["ours"]) == count
    if not section.ok:
        section.error = f"{len(failed['ours'])} of ours failed: {failed['ours']}"
    section.details = {
        "users": count,
        "order": "ours, then the peer's (one side at a time)",
        "samples": ready["ours"],
        "peer_samples": ready["peer"],
        "failures": failed["ours"],
        "peer_failures": failed["peer"],
        "hub_logs": str(tmp),
    }
    return section
