"""Jobs that cannot start say why while they wait, and fail with that reason after their
preparing timeout, giving their quota back (issue 17, part 3).

The store is the real SQLite file and the catalog the real loader; Kubernetes is an in-memory
double whose pods carry what the scheduler and the kubelet write (the e2e test
``tests/e2e/test_hub_jobs_preparing.py`` runs the real scheduler).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta, timezone

import pytest

from primehub_jobs_contract.states import State
from primehub_spawner.catalog import CatalogError, CatalogSource
from primehub_spawner.jobs.kube import KubeError
from primehub_spawner.jobs.outcome import pending_reason, preparing_expired
from primehub_spawner.jobs.service import Caller, JobsService, Settings
from primehub_spawner.jobs.store import JobStore
from primehub_spawner.quantities import Resources

ALICE = Caller("alice")
NO_GPU = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."


def unschedulable(message: str = NO_GPU) -> dict:
    return {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                }
            ],
        },
    }


def pulling(reason: str, message: str) -> dict:
    return {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "notebook",
                    "image": "registry.example/nope:1",
                    "state": {"waiting": {"reason": reason, "message": message}},
                }
            ],
        },
    }


class Kube:
    """Jobs and their pods in memory; ``down`` makes every deletion fail like an API server
    that does not answer."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict] = {}
        self.pods: dict[str, list[dict]] = {}
        self.down = False

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def list_jobs(self) -> dict:
        return {name: {"status": {}} for name in self.jobs}

    def one_view(self):
        return contextlib.nullcontext()

    def job_pods(self, name: str) -> list:
        return self.pods.get(name, [])

    async def fresh_pods(self) -> dict:
        return {}

    async def ensure_pvcs(self, pvcs) -> None: ...

    async def create_job(self, manifest: dict) -> None:
        self.jobs[manifest["metadata"]["name"]] = manifest

    async def delete_job(self, name: str) -> None:
        if self.down:
            raise KubeError(f"Could not delete Job {name}: the API server did not answer")
        self.jobs.pop(name, None)

    async def delete_pod(self, name: str) -> None:
        if self.down:
            raise KubeError(f"Could not delete pod {name}: the API server did not answer")
        for pods in self.pods.values():
            pods[:] = [p for p in pods if p["metadata"]["name"] != name]

    async def pod_log(self, pod: str, limit_bytes=None, **kwargs) -> str:
        return ""


class Ledger:
    """The hub's ledger as the service sees it: admits everything, records releases."""

    def __init__(self) -> None:
        self.released: list[str] = []

    async def admit(self, job):
        return None

    async def release(self, job) -> None:
        self.released.append(job.id)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 10, 0, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def env(tmp_path, catalog_dict):
    clock, kube, ledger = Clock(), Kube(), Ledger()

    def make(timeout: float = 600) -> JobsService:
        service = JobsService(
            JobStore(tmp_path / "jobs.sqlite"),
            kube,
            CatalogSource(data=catalog_dict),
            tmp_path / "logs",
            Settings(namespace="ns", preparing_timeout=timeout),
            clock=clock,
        )
        service.shared.ledger = ledger
        return service

    return make, clock, kube, ledger, catalog_dict


async def settle() -> None:
    """Let the ledger's release tasks run."""
    for _ in range(3):
        await asyncio.sleep(0)


def test_the_reason_says_what_the_node_must_have():
    gpus = Resources(cpu=4, memory=16 * 2**30, gpu=4)
    assert pending_reason(unschedulable(), gpus) == f"Waiting for a node with 4 GPUs: {NO_GPU}"
    cpus = unschedulable("0/1 nodes are available: 1 Insufficient cpu.")
    assert pending_reason(cpus, Resources(cpu=1000, memory=2**30)).startswith(
        "Waiting for a node with 1000 CPUs: 0/1 nodes"
    )
    memory = unschedulable("0/1 nodes are available: 1 Insufficient memory.")
    assert pending_reason(memory, Resources(cpu=1, memory=512 * 2**30)).startswith(
        "Waiting for a node with 512Gi of memory: "
    )
    taint = unschedulable("0/1 nodes are available: 1 node(s) had untolerated taint {a: b}.")
    assert pending_reason(taint, gpus).startswith("Waiting for a node: 0/1 nodes")


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff", "InvalidImageName"])
def test_an_image_that_cannot_be_pulled_is_the_reason(reason):
    pod = pulling(reason, 'Back-off pulling image "registry.example/nope:1"')
    assert pending_reason(pod) == (
        f'Image pull failed ({reason}): Back-off pulling image "registry.example/nope:1"'
    )


def test_no_limit_and_not_yet():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert not preparing_expired(start, start + timedelta(days=30), 0)
    assert not preparing_expired(start, start + timedelta(seconds=600), 600)
    assert preparing_expired(start, start + timedelta(seconds=601), 600)


def test_a_job_that_cannot_be_scheduled_says_why_then_fails_and_gives_its_quota_back(env):
    make, clock, kube, ledger, _ = env

    async def scenario() -> None:
        service = make(timeout=600)
        job = await service.submit(ALICE, {"path": "a.ipynb", "instanceType": "gpu-1"})
        await service.tick()
        name = f"primehub-job-{job.id}"
        assert name in kube.jobs
        kube.pods[name] = [unschedulable()]
        clock.now += timedelta(seconds=30)
        await service.tick()
        waiting = await service.get(ALICE, job.id)
        assert waiting.state == State.PREPARING
        # what the REST API, the jobs panel and the CLI show while it waits
        assert waiting.to_json()["reason"] == f"Waiting for a node with 1 GPU: {NO_GPU}"
        assert ledger.released == []
        clock.now += timedelta(seconds=571)
        await service.tick()
        await settle()
        failed = await service.get(ALICE, job.id)
        assert failed.state == State.FAILED
        assert failed.reason == (
            "The job did not start within 10 minutes (preparing timeout): "
            f"Waiting for a node with 1 GPU: {NO_GPU}"
        )
        assert name not in kube.jobs and kube.pods[name] == []  # nothing holds the quota
        assert ledger.released == [job.id]
        # the next rounds leave the failed job alone
        await service.tick()
        assert (await service.get(ALICE, job.id)).reason == failed.reason

    asyncio.run(scenario())


def test_an_image_pull_failure_ends_the_job_with_the_pull_error(env):
    make, clock, kube, ledger, _ = env

    async def scenario() -> None:
        service = make(timeout=60)
        job = await service.submit(ALICE, {"path": "a.ipynb", "instanceType": "cpu-2"})
        await service.tick()
        kube.pods[f"primehub-job-{job.id}"] = [
            pulling("ImagePullBackOff", 'Back-off pulling image "registry.example/torch:cpu"')
        ]
        clock.now += timedelta(seconds=61)
        await service.tick()
        await settle()
        failed = await service.get(ALICE, job.id)
        assert failed.state == State.FAILED
        assert failed.reason == (
            "The job did not start within 1 minute (preparing timeout): Image pull failed "
            '(ImagePullBackOff): Back-off pulling image "registry.example/torch:cpu"'
        )
        assert ledger.released == [job.id]

    asyncio.run(scenario())


def test_the_instance_type_of_the_catalog_sets_its_own_timeout(env):
    make, clock, kube, _, catalog = env
    catalog["instanceTypes"]["gpu-1"]["preparingTimeout"] = 0  # GPU nodes come slowly: no limit
    catalog["instanceTypes"]["cpu-2"]["preparingTimeout"] = 5

    async def scenario() -> None:
        service = make(timeout=600)
        gpu = await service.submit(ALICE, {"path": "a.ipynb", "instanceType": "gpu-1"})
        cpu = await service.submit(ALICE, {"path": "b.ipynb", "instanceType": "cpu-2"})
        await service.tick()
        for job in (gpu, cpu):
            kube.pods[f"primehub-job-{job.id}"] = [unschedulable()]
        clock.now += timedelta(seconds=6)
        await service.tick()
        assert (await service.get(ALICE, cpu.id)).reason.startswith(
            "The job did not start within 5 seconds (preparing timeout): Waiting for a node"
        )
        clock.now += timedelta(days=2)
        await service.tick()
        assert (await service.get(ALICE, gpu.id)).state == State.PREPARING

    asyncio.run(scenario())


def test_a_running_job_is_not_timed_out(env):
    make, clock, kube, ledger, _ = env

    async def scenario() -> None:
        service = make(timeout=60)
        job = await service.submit(ALICE, {"path": "a.ipynb", "instanceType": "cpu-2"})
        await service.tick()
        kube.pods[f"primehub-job-{job.id}"] = [
            {"metadata": {"name": "p"}, "status": {"phase": "Running"}}
        ]
        clock.now += timedelta(seconds=30)
        await service.tick()
        clock.now += timedelta(hours=1)
        await service.tick()
        assert (await service.get(ALICE, job.id)).state == State.RUNNING
        assert ledger.released == []

    asyncio.run(scenario())


def test_while_kubernetes_does_not_answer_the_job_waits_for_the_next_round(env):
    make, clock, kube, ledger, _ = env

    async def scenario() -> None:
        service = make(timeout=60)
        job = await service.submit(ALICE, {"path": "a.ipynb", "instanceType": "cpu-2"})
        await service.tick()
        kube.pods[f"primehub-job-{job.id}"] = [unschedulable()]
        clock.now += timedelta(seconds=61)
        kube.down = True
        await service.tick()
        assert (await service.get(ALICE, job.id)).state == State.PREPARING
        assert ledger.released == []
        kube.down = False
        await service.tick()
        await settle()
        assert (await service.get(ALICE, job.id)).state == State.FAILED
        assert ledger.released == [job.id]

    asyncio.run(scenario())


@pytest.mark.parametrize("value", [-1, "10m", 1.5, True])
def test_a_bad_preparing_timeout_names_the_entry_and_field(catalog_dict, value):
    catalog_dict["instanceTypes"]["gpu-1"]["preparingTimeout"] = value
    with pytest.raises(CatalogError, match=r"instanceTypes\.gpu-1\.preparingTimeout: must be"):
        CatalogSource(data=catalog_dict).get()
