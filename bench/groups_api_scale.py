"""``GET /hub/api/primehub/groups`` for 1,000 users on a real hub (local cluster).

The reference ``jupyterhub_config.py`` with the bench catalog (one group whose members are all
the users), on the local cluster. ``--group-users`` (default 1,000) users are created through
the hub API (one bulk POST) and each gets an API token of their own. Then, with
``CONCURRENCY`` client threads, every user asks for their groups once (the first request of a
user also creates the user's spawner object in the hub), and then ``ROUNDS`` more times in
shuffled order: the steady state, in bursts interleaved with the same requests to JupyterHub's
own ``GET /hub/api/user`` (same tokens, same proxy: the cost of an authenticated request, the
peer). Times are per request, client side, through the hub's proxy (what a browser or script
sees). No server is spawned: usage is 0 and the pod cache is empty apart from the watch.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.hubs import cluster_session, start_primehub, workdir
from bench.report import Row, Section, median, percentile

CONCURRENCY = 10
ROUNDS = 3  # steady-state requests per user after the first


def run(args: argparse.Namespace) -> Section:
    """Measure and return the section."""
    count = max(10, getattr(args, "group_users", 1000))
    with cluster_session() as cluster:
        return _run(cluster, count)


def _run(cluster: Any, count: int) -> Section:
    users = [f"gapi-{i:04d}" for i in range(count)]
    section = Section(
        "groups-api", f"Hub API GET /hub/api/primehub/groups, {count:,} users (local cluster)"
    )
    namespace = cluster.create_namespace("bench-groups")
    tmp = workdir("groups-api")
    hub = None
    try:
        hub = start_primehub(cluster, namespace, tmp / "ph", users)
        started = time.perf_counter()
        resp = hub.api("POST", "/users", json={"usernames": users}, timeout=600)
        if resp.status_code != 201:
            raise RuntimeError(f"creating users: {resp.status_code} {resp.text[:300]}")
        created = time.perf_counter() - started
        local = threading.local()

        def session() -> requests.Session:
            if not hasattr(local, "session"):
                local.session = requests.Session()
                local.session.trust_env = False  # the hub is local: never a proxy
            return local.session

        def token(user: str) -> str:
            r = session().post(
                f"{hub.api_url}/users/{user}/tokens",
                headers={"Authorization": f"token {hub.token}"},
                json={"note": "bench groups-api", "expires_in": 3600},
                timeout=60,
            )
            if r.status_code not in (200, 201):
                raise RuntimeError(f"token of {user}: {r.status_code} {r.text[:300]}")
            return r.json()["token"]

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            tokens = dict(zip(users, pool.map(token, users), strict=True))
        tokened = time.perf_counter() - started

        def ask(user: str, path: str = "/primehub/groups") -> float:
            t0 = time.perf_counter()
            r = session().get(
                hub.api_url + path, headers={"Authorization": f"token {tokens[user]}"}, timeout=60
            )
            took = time.perf_counter() - t0
            body = r.json() if r.status_code == 200 else None
            if path == "/user":  # JupyterHub's own: who the token's owner is
                ok = body is not None and body.get("name") == user
            else:
                ok = body is not None and [g["name"] for g in body.get("groups", [])] == ["bench"]
            if not ok:
                raise RuntimeError(f"GET {path} of {user}: {r.status_code} {r.text[:300]}")
            return took

        def burst(order: list[str], path: str) -> tuple[list[float], float]:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                samples = list(pool.map(lambda u: ask(u, path), order))
            return samples, time.perf_counter() - t0

        first, first_total = burst(users, "/primehub/groups")
        rng = random.Random(16)
        steady, peer = [], []
        steady_total = peer_total = 0.0
        for _ in range(ROUNDS):  # interleaved bursts: ours, JupyterHub's /user, ours, ...
            for path, samples in (("/primehub/groups", steady), ("/user", peer)):
                order = list(users)
                rng.shuffle(order)
                got, took = burst(order, path)
                samples += got
                if path == "/user":
                    peer_total += took
                else:
                    steady_total += took
    finally:
        if hub is not None:
            hub.stop()
        cluster.delete_namespace(namespace)
    peer_name = "GET /hub/api/user"
    section.rows = [
        Row(
            "steady: p50",
            percentile(steady, 50),
            percentile(peer, 50),
            peer_name=peer_name,
            note=f"{len(steady):,} requests each",
        ),
        Row(
            "steady: p95",
            percentile(steady, 95),
            percentile(peer, 95),
            peer_name=peer_name,
            note=f"concurrency {CONCURRENCY}",
        ),
        Row(
            "steady: requests per second",
            len(steady) / steady_total,
            len(peer) / peer_total,
            unit="req/s",
            peer_name=peer_name,
            note="above 1: we serve more",
        ),
        Row(
            "first request of each user: p50",
            percentile(first, 50),
            note="creates the user's spawner object",
        ),
        Row("first request of each user: p95", percentile(first, 95)),
        Row("create the users (one bulk POST)", created),
        Row("one token per user", tokened, note=f"concurrency {CONCURRENCY}"),
    ]
    section.details = {
        "users": count,
        "concurrency": CONCURRENCY,
        "rounds": ROUNDS,
        "median_steady": median(steady),
        "samples_first": first,
        "samples_steady": steady,
        "samples_peer_user": peer,
        "hub_logs": str(tmp),
    }
    return section
