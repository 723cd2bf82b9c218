"""A running hub job's log is read incrementally (issue 15, medium 9), on the local cluster.

A pod of a job (the labels the service's Jobs give their pods) writes two lines, waits 15 s,
then writes two more. The real JobsService with the real Kubernetes client and pod cache
reads the log as a client polls it: the second read returns exactly the new lines. Where the
node's log endpoint writes timestamps (a real kubelet), the second read asks the API server only
for the log since the first read's last line (``sinceTime``), not the whole log again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.client import Configuration
from kubespawner.clients import load_config

from primehub_jobs_contract.errors import Unavailable
from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import utcnow
from primehub_jobs_contract.validation import new_job_id
from primehub_spawner.catalog import CatalogSource
from primehub_spawner.jobs.kube import Kube
from primehub_spawner.jobs.manifest import job_object_name
from primehub_spawner.jobs.model import HubJob
from primehub_spawner.jobs.service import Caller, JobsService, Settings
from primehub_spawner.jobs.store import JobStore

pytestmark = pytest.mark.cluster

CATALOG = Path(__file__).parents[1] / "primehub_spawner" / "catalog_fixture.yaml"
ALICE = Caller("alice")


class RecordingKube(Kube):
    """The real Kube, recording what each log read asked and how much it downloaded."""

    calls: list[dict]

    async def pod_log(self, pod, limit_bytes=None, since_time=None, timestamps=False) -> str:
        text = await super().pod_log(pod, limit_bytes, since_time, timestamps)
        self.calls.append({"since": since_time, "size": len(text), "text": text})
        return text


def test_a_second_read_of_a_running_jobs_log_returns_only_the_new_lines(
    k8s_cluster, k8s_namespace, tmp_path, monkeypatch
):
    # read at import time by kubernetes_asyncio: point the default location at the cluster's
    monkeypatch.setattr(
        "kubernetes_asyncio.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION",
        str(k8s_cluster.kubeconfig),
    )
    saved = Configuration.get_default_copy()
    load_config.cache_clear()
    try:
        _play(k8s_cluster, k8s_namespace, tmp_path)
    finally:  # do not leave this cluster as the process's default for other tests
        Configuration.set_default(saved)
        load_config.cache_clear()


def _play(k8s_cluster, k8s_namespace: str, tmp_path: Path) -> None:
    job_id = new_job_id()
    name = job_object_name(job_id)
    # the second lines come 15 s after the first: the first poll sees the first two only
    script = "echo 'first 1'; echo 'first 2'; sleep 15; echo 'second 1'; echo 'second 2'; sleep 600"
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-log",
                "labels": {"job-name": name, "primehub.io/group": "research"},
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {"name": "notebook", "image": "none", "command": ["sh", "-c", script]}
                ],
            },
        },
        k8s_namespace,
    )

    # a job whose pod has written nothing yet (the client answers None for an empty log: once
    # a 500 of cancel and log, found by test_fuzz_hub_jobs_api.py)
    silent_id = new_job_id()
    silent = job_object_name(silent_id)
    k8s_cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{silent}-log",
                "labels": {"job-name": silent, "primehub.io/group": "research"},
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "notebook", "image": "none", "command": ["sleep", "600"]}],
            },
        },
        k8s_namespace,
    )

    async def play() -> None:
        kube = RecordingKube(k8s_namespace, logging.getLogger("test"))
        kube.calls = []
        service = JobsService(
            JobStore(tmp_path / "jobs.sqlite"),
            kube,
            CatalogSource(data=yaml.safe_load(CATALOG.read_text())),
            tmp_path / "logs",
            Settings(namespace=k8s_namespace, log_retention=timedelta(days=1)),
        )
        (tmp_path / "logs").mkdir()
        await kube.start()
        try:
            service.store.add_job(
                HubJob(
                    id=job_id, user="alice", group="research", name="log", path="a.ipynb",
                    output="a-out.ipynb", instance_type="cpu-2", image="base", deadline=3600,
                    state=State.RUNNING, started_at=utcnow(),
                )
            )  # fmt: skip

            async def first_lines() -> tuple[bytes, int] | None:
                try:
                    data, offset = await service.read_log(ALICE, job_id, 0)
                except Unavailable:  # the 503 while the container starts: try again
                    return None
                return (data, offset) if data == b"first 1\nfirst 2\n" else None

            first, offset = await _wait(first_lines, "the pod's first two lines")
            assert offset == len(first)

            async def new_lines() -> tuple[bytes, int] | None:
                data, after = await service.read_log(ALICE, job_id, offset)
                return (data, after) if data else None

            second, after = await _wait(new_lines, "the pod's next lines")
            if second == b"second 1\n":  # the pod was between its two echos: read on
                more, after = await service.read_log(ALICE, job_id, after)
                second += more
            assert second == b"second 1\nsecond 2\n"
            assert after == offset + len(second)
            assert await service.read_log(ALICE, job_id, after) == (b"", after)
            stamped = kube.calls[0]["text"].startswith("20")  # a kubelet that writes times
            if stamped:
                assert all(c["since"] for c in kube.calls[1:]), kube.calls
                assert "first" not in kube.calls[-1]["text"], kube.calls[-1]

            service.store.add_job(
                HubJob(
                    id=silent_id, user="alice", group="research", name="quiet", path="a.ipynb",
                    output="b-out.ipynb", instance_type="cpu-2", image="base", deadline=3600,
                    state=State.RUNNING, started_at=utcnow(),
                )
            )  # fmt: skip
            k8s_cluster.wait_pod(
                k8s_namespace, f"{silent}-log", lambda p: p["status"].get("phase") == "Running"
            )
            assert await service.read_log(ALICE, silent_id, 0) == (b"", 0)
            cancelled = await service.cancel(ALICE, silent_id)  # keeps the (empty) log first
            assert cancelled.state == State.CANCELLED and cancelled.log_saved
        finally:
            await kube.stop()

    asyncio.run(play())


async def _wait(check, what: str, timeout: float = 120):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        got = await check()
        if got is not None:
            return got
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)
