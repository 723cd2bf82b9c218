"""Concurrency: N users (default 30) spawn at once on the PrimeHub hub on the local cluster.

All spawns are POSTed together from a thread pool; each user's time is from its POST to its
server being ready. Reports how many became ready / failed and p50/p95 time to ready.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.hubs import cluster_session, spawn_and_wait, start_primehub, workdir
from bench.report import Row, Section, percentile
from localk8s.testing import wait_for


def run(args: argparse.Namespace) -> Section:
    """Measure and return the section."""
    with cluster_session() as cluster:
        return _run(cluster, max(1, args.users))


def _run(cluster: Any, count: int) -> Section:
    users = [f"conc-{i}" for i in range(count)]
    section = Section("concurrency", f"Concurrency: {count} users spawning at once")
    namespace = cluster.create_namespace("bench-conc")
    tmp = workdir("concurrency")
    hub = None
    results: dict[str, Any] = {}
    try:
        hub = start_primehub(cluster, namespace, tmp / "ph", users)
        for user in users:
            hub.create_user(user)
        options = {"group": "bench", "instance_type": "cpu-half"}

        def spawn(user: str) -> tuple[str, Any]:
            try:
                return user, spawn_and_wait(hub, user, options, timeout=600)
            except Exception as e:  # one failed spawn is a result, not the end of the run
                return user, e

        with ThreadPoolExecutor(count) as pool:
            results = dict(pool.map(spawn, users))
    finally:
        if hub is not None:
            for user in users:
                if hub.user(user).get("servers"):
                    hub.api("DELETE", f"/users/{user}/server")
            wait_for(
                lambda: not cluster.get("pods", "-n", namespace)["items"],
                300,
                what="bench pods deleted",
            )
            hub.stop()
        cluster.delete_namespace(namespace)
    ready = sorted(v for v in results.values() if isinstance(v, float))
    failed = {u: str(v).splitlines()[0] for u, v in results.items() if not isinstance(v, float)}
    section.rows = [
        Row("servers ready", len(ready), None, "count"),
        Row("spawns failed", len(failed), None, "count"),
        Row("POST to ready, p50", percentile(ready, 50)),
        Row("POST to ready, p95", percentile(ready, 95)),
        Row("POST to ready, max", ready[-1] if ready else None),
    ]
    section.ok = not failed and len(ready) == count
    if not section.ok:
        section.error = f"{len(failed)} failed: {failed}"
    section.details = {"users": count, "samples": ready, "failures": failed, "hub_logs": str(tmp)}
    return section
