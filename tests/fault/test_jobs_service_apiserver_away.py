"""The Kubernetes API server away or hanging (issue 15, medium 7): every primehub-jobs call that
needs it answers 503 with a message (never 500), and nothing is left half done.

The real REST handlers and JobsService, with real Kubernetes API clients pointed at a closed
loopback port (connection refused) and at a port that accepts and never answers (timeout). Only
the hub's user lookup is replaced (the caller is alice) and the pod cache holds the job's pod.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio import client as k8s
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.web import Application

from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import utcnow
from primehub_jobs_contract.validation import new_job_id
from primehub_spawner.catalog import CatalogSource
from primehub_spawner.jobs import handlers as handlers_module
from primehub_spawner.jobs.kube import Kube
from primehub_spawner.jobs.manifest import job_object_name
from primehub_spawner.jobs.model import HubJob
from primehub_spawner.jobs.service import Caller, JobsService, Settings
from primehub_spawner.jobs.store import JobStore

CATALOG = Path(__file__).parents[1] / "primehub_spawner" / "catalog_fixture.yaml"
PREFIX = "/services/primehub-jobs/"
ALICE = Caller("alice")


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


class PodCache:
    """The watch cache's content: the running job's pod."""

    def __init__(self) -> None:
        self.pods: dict[str, dict] = {}


def make_service(tmp_path: Path, port: int) -> tuple[JobsService, Kube]:
    kube = Kube("ns", logging.getLogger("test"), request_timeout=2)
    api = k8s.ApiClient(k8s.Configuration(host=f"http://127.0.0.1:{port}"))
    kube.batch, kube.core = k8s.BatchV1Api(api), k8s.CoreV1Api(api)
    kube.reflector = PodCache()  # type: ignore[assignment]
    service = JobsService(
        JobStore(tmp_path / "jobs.sqlite"),
        kube,
        CatalogSource(data=yaml.safe_load(CATALOG.read_text())),
        tmp_path / "logs",
        Settings(namespace="ns", finished_ttl=0, log_retention=timedelta(0)),
    )
    return service, kube


def add_job(service: JobsService, kube: Kube, state: State) -> HubJob:
    job = HubJob(
        id=new_job_id(),
        user="alice",
        group="research",
        name="train",
        path="train.ipynb",
        output="train-output.ipynb",
        instance_type="cpu-2",
        image="base",
        deadline=3600,
        state=state,
        started_at=utcnow() if state != State.PENDING else None,
        finished_at=utcnow() if state.is_final else None,
    )
    service.store.add_job(job)
    name = job_object_name(job.id)
    kube.pods[f"ns/{name}-x"] = {
        "metadata": {"name": f"{name}-x", "labels": {"job-name": name}, "creationTimestamp": "t"}
    }
    return job


@pytest.fixture
def as_alice(monkeypatch):
    """The hub's answer to "who is this token": alice (the hub itself is not the subject)."""

    async def prepare(self) -> None:
        self._hub_auth_user_cache = {"name": "alice", "kind": "user"}

    async def caller(self) -> Caller:
        return ALICE

    monkeypatch.setattr(handlers_module.ServiceHandler, "prepare", prepare)
    monkeypatch.setattr(handlers_module.ServiceHandler, "caller", caller)


async def call(port: int, method: str, path: str, body=None) -> tuple[int, dict, str]:
    request = HTTPRequest(
        f"http://127.0.0.1:{port}{PREFIX}api/{path}",
        method=method,
        body=None if body is None else json.dumps(body),
        allow_nonstandard_methods=True,
        request_timeout=60,
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    text = response.body.decode() if response.body else ""
    ctype = response.headers.get("Content-Type", "")
    return response.code, json.loads(text) if "json" in ctype and text else {}, text


def play(tmp_path: Path, kube_port: int) -> None:
    async def run() -> None:
        service, kube = make_service(tmp_path, kube_port)
        await asyncio.to_thread(service.logs_dir.mkdir, parents=True, exist_ok=True)
        running = add_job(service, kube, State.RUNNING)
        done = add_job(service, kube, State.SUCCEEDED)
        app = Application(handlers_module.handlers(PREFIX), primehub_jobs=service)
        server = HTTPServer(app)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        server.add_sockets([sock])
        port = sock.getsockname()[1]
        try:
            for method, path in [
                ("GET", f"jobs/{running.id}/log"),
                ("POST", f"jobs/{running.id}/cancel"),
                ("DELETE", f"jobs/{done.id}"),
            ]:
                code, reply, text = await call(port, method, path)
                assert code == 503, (method, path, code, text)
                assert "Kubernetes API server did not answer" in reply["message"], reply
                assert "Traceback" not in text
            # nothing half done: the running job still runs, the finished one still exists
            assert service.store.job(running.id).state == State.RUNNING
            assert not service.store.job(running.id).cancel_requested
            assert service.store.job(done.id).state == State.SUCCEEDED
            # a scheduling round that cannot reach the API server changes no job either
            queued = add_job(service, kube, State.PENDING)
            try:
                await service.tick()
            except Exception as e:  # the loop logs and retries these
                assert "Kubernetes" in str(e) or "Job" in str(e), e
            for job in (running, done):
                assert service.store.job(job.id).state == job.state
            assert service.store.job(queued.id).state in (State.PENDING, State.PREPARING)
        finally:
            server.stop()
            await kube.core.api_client.close()

    asyncio.run(run())


def test_connection_refused_by_the_api_server_is_a_503_and_changes_nothing(
    tmp_path, as_alice, closed_port
):
    play(tmp_path, closed_port)


def test_an_api_server_that_never_answers_is_a_503_and_changes_nothing(
    tmp_path, as_alice, silent_port
):
    play(tmp_path, silent_port)
