"""The jobs service's admission round at scale (no cluster).

One ``AdmissionRound.tick`` of the hub jobs service (reconcile started jobs, fire due
schedules, admit queued jobs within the quotas, clean up) over the real SQLite ``JobStore`` with
a large history. The Kubernetes side is an in-memory stand-in: the real ``Kube`` class whose pod
cache is a dict (what the shared watch holds) and whose ``list_jobs`` answers from memory, so
the row measures the round's own cost (store queries, catalog checks, the queue decision), not
the API server's.

The scene: 20 groups of 5 members (100 users, catalog ``members`` lists), each group's project
quota (8 CPU) filled by 8 running jobs' pods, so every pending job waits (the steady state of a
busy queue: the round decides, nothing changes). Finished jobs are spread over the last 60 days
(within history retention), the last 7 days' with a saved log (within log retention).
Measured rounds come after one unmeasured round per scene (which writes the pending jobs' reasons
once); the scenes' rounds are interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench.report import Row, Section, median, percentile
from primehub_jobs_contract.states import State
from primehub_spawner.catalog import CatalogSource
from primehub_spawner.jobs.kube import Kube
from primehub_spawner.jobs.manifest import JOB_COMPONENT, job_object_name
from primehub_spawner.jobs.model import HubJob
from primehub_spawner.jobs.service import JobsService, Settings
from primehub_spawner.jobs.store import JobStore

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
GROUPS, MEMBERS, RUNNING_PER_GROUP = 20, 5, 8
GOAL = 0.050  # seconds per round (issue 16)
# (pending, finished): the goal row, history growth at equal activity, activity growth
SCENES = [(1000, 1000), (1000, 10_000), (1000, 100_000), (100, 10_000)]


def catalog_data() -> dict[str, Any]:
    """20 groups of 5 members, one 1-CPU instance type, project quota 8 CPU each."""
    return {
        "instanceTypes": {"cpu-1": {"displayName": "CPU 1", "cpu": 1, "memory": "1Gi"}},
        "images": {"base": {"displayName": "Base", "url": "example/base:1", "type": "both"}},
        "groups": {
            f"g{g:02d}": {
                "members": [f"u{g:02d}{m}" for m in range(MEMBERS)],
                "quota": {"cpu": 4},
                "projectQuota": {"cpu": RUNNING_PER_GROUP},
                "instanceTypes": ["cpu-1"],
                "images": ["base"],
            }
            for g in range(GROUPS)
        },
    }


class PodCache:
    """The shared watch's cache as the round reads it (always fresh)."""

    watching = fresh = True

    def __init__(self) -> None:
        self.pods: dict[str, dict] = {}


class MemoryKube(Kube):
    """The real ``Kube`` (pod cache lookups, ``fresh_pods``) with the API calls in memory."""

    def __init__(self) -> None:
        super().__init__("bench", logging.getLogger("bench.admission"))
        self.reflector = PodCache()  # type: ignore[assignment]
        self.k8s_jobs: dict[str, dict] = {}

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def list_jobs(self) -> dict[str, dict]:
        return dict(self.k8s_jobs)

    async def ensure_pvcs(self, pvcs: tuple[dict, ...]) -> None: ...

    async def create_job(self, manifest: dict[str, Any]) -> None:
        raise AssertionError("the scene is full: no job starts")

    async def pod_log(self, pod: str, **kwargs: Any) -> str:
        return ""


def _job(job_id: str, user: str, group: str, created: datetime, **extra: Any) -> HubJob:
    return HubJob(
        id=job_id,
        user=user,
        group=group,
        name="report",
        path="report.ipynb",
        output=f".primehub-jobs/{job_id}/report.ipynb",
        instance_type="cpu-1",
        image="base",
        deadline=3600,
        parameters={"day": created.date().isoformat()},
        created_at=created,
        **extra,
    )


def _user(i: int) -> tuple[str, str]:
    g = i % GROUPS
    return f"u{g:02d}{(i // GROUPS) % MEMBERS}", f"g{g:02d}"


@dataclass
class Scene:
    service: JobsService
    store: JobStore


def build(tmp: Path, pending: int, finished: int) -> Scene:
    """The store and pod cache of one scene (bulk insert in one transaction)."""
    store = JobStore(tmp / "jobs.sqlite")
    kube = MemoryKube()
    jobs: list[HubJob] = []
    for i in range(finished):
        user, group = _user(i)
        ended = NOW - timedelta(days=60) * (i / max(1, finished)) - timedelta(minutes=1)
        jobs.append(
            _job(
                f"f{i:011d}",
                user,
                group,
                ended - timedelta(minutes=5),
                state=State.SUCCEEDED if i % 10 else State.FAILED,
                reason=None if i % 10 else "Cell 3 raised ValueError",
                exit_code=0 if i % 10 else 1,
                started_at=ended - timedelta(minutes=4),
                finished_at=ended,
                log_saved=NOW - ended < timedelta(days=7),
            )
        )
    for g in range(GROUPS):
        for r in range(RUNNING_PER_GROUP):
            user = f"u{g:02d}{r % MEMBERS}"
            job = _job(
                f"r{g:02d}{r:09d}",
                user,
                f"g{g:02d}",
                NOW - timedelta(minutes=30),
                state=State.RUNNING,
                started_at=NOW - timedelta(minutes=29),
            )
            jobs.append(job)
            name = job_object_name(job.id)
            kube.k8s_jobs[name] = {"metadata": {"name": name}, "status": {"active": 1}}
            kube.reflector.pods[f"bench/{name}-x"] = {
                "metadata": {
                    "name": f"{name}-x",
                    "namespace": "bench",
                    "creationTimestamp": "2026-11-01T11:31:00Z",
                    "labels": {
                        "primehub.io/group": f"g{g:02d}",
                        "primehub.io/user": user,
                        "job-name": name,
                        "component": JOB_COMPONENT,
                    },
                },
                "spec": {
                    "containers": [{"name": "notebook", "resources": {"limits": {"cpu": "1"}}}]
                },
                "status": {"phase": "Running"},
            }
    for i in range(pending):
        user, group = _user(i)
        jobs.append(_job(f"p{i:011d}", user, group, NOW - timedelta(seconds=pending - i)))
    for start in range(0, len(jobs), 10_000):
        store.save_jobs(jobs[start : start + 10_000])
    service = JobsService(
        store,
        kube,
        CatalogSource(data=catalog_data()),
        tmp / "logs",
        Settings(namespace="bench"),
        log=logging.getLogger("bench.admission"),
        clock=lambda: NOW,
    )
    return Scene(service, store)


def measure(scenes: list[tuple[int, int]], repeat: int) -> dict[tuple[int, int], dict]:
    """Seconds per round of each scene: all scenes built first, then one unmeasured round
    each, then their rounds interleaved (scene 1, 2, 3, 4, 1, 2, ...) so machine noise falls
    on all of them alike."""
    results: dict[tuple[int, int], dict[str, Any]] = {}
    with TemporaryDirectory() as tmp:
        built = {}
        for pending, finished in scenes:
            folder = Path(tmp) / f"{pending}-{finished}"
            (folder / "logs").mkdir(parents=True)
            built[pending, finished] = build(folder, pending, finished)
        loop = asyncio.new_event_loop()
        try:
            for key, scene in built.items():
                started = time.perf_counter()
                loop.run_until_complete(scene.service.tick())
                results[key] = {
                    "pending": key[0],
                    "finished": key[1],
                    "first_round": time.perf_counter() - started,
                    "samples": [],
                    "cpu_samples": [],
                }
            for _ in range(repeat):
                for key, scene in built.items():
                    started, cpu_started = time.perf_counter(), time.process_time()
                    loop.run_until_complete(scene.service.tick())
                    results[key]["samples"].append(time.perf_counter() - started)
                    results[key]["cpu_samples"].append(time.process_time() - cpu_started)
            for (pending, _), scene in built.items():
                waiting = scene.store.queue()
                assert len(waiting) == pending and all(j.reason for j in waiting), "scene changed"
        finally:
            for scene in built.values():
                scene.store.close()
            loop.close()
    return results


def run(args: argparse.Namespace) -> Section:
    """Measure every scene and return the section."""
    repeat = max(5, args.repeat)
    section = Section(
        "admission", "Jobs service admission round (SQLite store, Kubernetes in memory)"
    )
    results = measure(SCENES, repeat)
    for (p, f), r in results.items():
        goal_row = (p, f) == (1000, 10_000)
        section.rows.append(
            Row(
                f"round, {p:,} pending + {GROUPS * RUNNING_PER_GROUP} running, {f:,} finished",
                median(r["samples"]),
                GOAL if goal_row else None,
                peer_name="goal" if goal_row else "",
                note=f"p95 {percentile(r['samples'], 95) * 1000:.1f} ms; "
                f"CPU {median(r['cpu_samples']) * 1000:.1f} ms; "
                f"first round {r['first_round'] * 1000:.0f} ms",
            )
        )

    def cpu(key: tuple[int, int]) -> float:
        return median(results[key]["cpu_samples"])

    # growth from CPU time: on a shared machine it is steadier than wall time
    section.rows.append(
        Row(
            "growth: 100,000 / 1,000 finished (1,000 pending), CPU",
            cpu((1000, 100_000)) / cpu((1000, 1000)),
            unit="x",
            note="about 1: history does not cost",
        )
    )
    section.rows.append(
        Row(
            "growth: 1,000 / 100 pending (10,000 finished), CPU",
            cpu((1000, 10_000)) / cpu((100, 10_000)),
            unit="x",
            note="the round's cost follows the active jobs",
        )
    )
    section.details = {
        "repeat": repeat,
        "groups": GROUPS,
        "members_per_group": MEMBERS,
        "running": GROUPS * RUNNING_PER_GROUP,
        "scenes": list(results.values()),
    }
    return section
