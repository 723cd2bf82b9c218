"""Schedules from JupyterLab: the server forwards ``/primehub/api/schedules`` to the hub's
primehub-jobs service with the user's own token, for notebooks of this server's group volume.

The service here is a stand-in speaking the service's REST API (tokens, ownership, 4xx messages)
on a real HTTP port in a thread; the real service with these calls is driven end to end by
``tests/browser/test_lab_kubernetes.py`` on the local cluster.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import write_notebook
from tornado import httpserver, ioloop, web

TOKENS = {"alice-token": ("alice", False), "admin-token": ("admin", True)}
NEXT_RUN = "2026-03-01T04:00:00.000Z"


class FakeService:
    """What the lab's server sees of the primehub-jobs service."""

    def __init__(self) -> None:
        self.schedules: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str, Any]] = []  # method, path, token, body
        self.port = 0
        self.busy_schedule: str | None = None

    def last(self, method: str) -> tuple[str, str, str, Any]:
        """The last request of this method (the server also polls the jobs list meanwhile)."""
        return next(r for r in reversed(self.requests) if r[0] == method)


def _handlers(fake: FakeService) -> list:
    class Base(web.RequestHandler):
        def prepare(self) -> None:
            token = self.request.headers.get("Authorization", "").removeprefix("token ")
            body = json.loads(self.request.body) if self.request.body else None
            fake.requests.append((self.request.method, self.request.path, token, body))
            if token not in TOKENS:
                self.fail(403, "Invalid token")
                return
            self.user, self.admin = TOKENS[token]
            self.body = body

        def fail(self, code: int, message: str) -> None:
            self.set_status(code)
            self.finish({"message": message})

        def mine(self, schedule_id: str) -> dict | None:
            found = fake.schedules.get(schedule_id)
            if found is None or not (self.admin or found["user"] == self.user):
                self.fail(404, f"No schedule with id {schedule_id!r}.")
                return None
            return found

    class Context(Base):
        def get(self) -> None:
            group = {"name": "team", "instanceTypes": [{"name": "cpu-1"}], "images": []}
            self.finish({"groups": [group]})

    class Jobs(Base):
        def get(self) -> None:
            mine = [j for j in fake.jobs.values() if self.admin or j["user"] == self.user]
            self.finish({"jobs": mine})

    class Job(Base):
        def get(self, job_id: str) -> None:
            self.finish(fake.jobs[job_id])

    class Log(Base):
        def get(self, job_id: str) -> None:
            self.finish(b"")

    class Schedules(Base):
        def get(self) -> None:
            mine = [s for s in fake.schedules.values() if self.admin or s["user"] == self.user]
            self.finish({"schedules": mine})

        def post(self) -> None:
            if self.body.get("cron") == "61 * * * *":
                self.fail(400, "minute: 61 is out of range 0-59")
                return
            schedule_id = f"s{len(fake.schedules) + 1}"
            fake.schedules[schedule_id] = {
                **self.body,
                "id": schedule_id,
                "user": self.user,
                "nextRunAt": NEXT_RUN,
                "lastJobId": None,
                "lastMessage": None,
                "runs": 0,
            }
            self.set_status(201)
            self.finish(fake.schedules[schedule_id])

    class Schedule(Base):
        def patch(self, schedule_id: str) -> None:
            found = self.mine(schedule_id)
            if found is not None:
                body = dict(self.body)
                paused = body.pop("paused", False)
                found.update(body, nextRunAt=None if paused else NEXT_RUN)
                self.finish(found)

        def delete(self, schedule_id: str) -> None:
            if self.mine(schedule_id) is not None:
                del fake.schedules[schedule_id]
                self.set_status(204)
                self.finish()

    class Run(Base):
        def post(self, schedule_id: str) -> None:
            found = self.mine(schedule_id)
            if found is None:
                return
            if fake.busy_schedule == schedule_id:
                self.fail(409, "Skipped the run: the previous run (job j1) is still running.")
                return
            job_id = f"hubjob{len(fake.jobs) + 1}"
            job = {
                "id": job_id,
                "user": found["user"],
                "group": found["group"],
                "name": found.get("name") or "nightly",
                "path": found["path"],
                "outputPath": found["path"].replace(".ipynb", "-output.ipynb"),
                "status": "pending",
                "scheduleId": schedule_id,
                "createdAt": "2026-03-01T03:00:00.000Z",
            }
            fake.jobs[job_id] = job
            found.update(lastJobId=job_id, runs=found["runs"] + 1)
            self.set_status(201)
            self.finish(job)

    sid = r"([^/]+)"
    return [
        (r"/services/jobs/api/context", Context),
        (r"/services/jobs/api/jobs", Jobs),
        (rf"/services/jobs/api/jobs/{sid}", Job),
        (rf"/services/jobs/api/jobs/{sid}/log", Log),
        (r"/services/jobs/api/schedules", Schedules),
        (rf"/services/jobs/api/schedules/{sid}", Schedule),
        (rf"/services/jobs/api/schedules/{sid}/run", Run),
    ]


@pytest.fixture
def service() -> Iterator[FakeService]:
    fake = FakeService()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        fake.port = probe.getsockname()[1]
    started = threading.Event()
    loops: list[ioloop.IOLoop] = []

    def serve() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = ioloop.IOLoop.current()
        server = httpserver.HTTPServer(web.Application(_handlers(fake)))
        server.listen(fake.port, "127.0.0.1")
        loops.append(loop)
        started.set()
        loop.start()
        server.stop()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(10)
    yield fake
    loops[0].add_callback(loops[0].stop)
    thread.join(10)


@pytest.fixture
def project(tmp_path: Path, jp_root_dir: Path) -> Path:
    """The group volume root with the group team, linked from the server's root as ~/team."""
    volume = tmp_path / "project"
    (volume / "team" / "reports").mkdir(parents=True)
    (jp_root_dir / "team").symlink_to(volume / "team")
    write_notebook(volume / "team" / "reports" / "nightly.ipynb", "print('nightly')")
    write_notebook(jp_root_dir / "private.ipynb", "print('home')")
    return volume


@pytest.fixture
def server_env(service: FakeService, request: pytest.FixtureRequest) -> dict[str, str]:
    token = getattr(request, "param", "alice-token")
    if token is None:  # a server outside a hub with the jobs service
        return {}
    return {
        "PRIMEHUB_JOBS_URL": f"http://127.0.0.1:{service.port}/services/jobs/",
        "JUPYTERHUB_API_TOKEN": token,
        "JUPYTERHUB_USER": "alice",
    }


@pytest.fixture
def primehub_config(project: Path) -> dict[str, Any]:
    return {"group_volume_root": str(project)}


async def test_a_schedule_is_created_for_the_notebooks_group_with_the_users_token(api, service):
    code, made = await api.call(
        "POST",
        "schedules",
        body={
            "path": "team/reports/nightly.ipynb",
            "name": "nightly",
            "instanceType": "cpu-1",
            "recurrence": "custom",
            "cron": "0 4 * * *",
            "timezone": "Asia/Taipei",
        },
    )
    assert code == 201, made
    method, path, token, body = service.last("POST")
    assert (method, path, token) == ("POST", "/services/jobs/api/schedules", "alice-token")
    # the hub gets the group and the path inside its volume, not the lab's path
    assert body["group"] == "team" and body["path"] == "reports/nightly.ipynb"
    assert body["timezone"] == "Asia/Taipei"
    assert made["notebookPath"] == "team/reports/nightly.ipynb"
    assert (made["paused"], made["nextRunAt"], made["lastStatus"]) == (False, NEXT_RUN, None)

    code, listing = await api.call("GET", "schedules")
    assert code == 200 and listing["available"] is True
    assert [s["id"] for s in listing["schedules"]] == [made["id"]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"path": "private.ipynb", "recurrence": "daily"}, "only support the notebook under group"),
        ({"recurrence": "daily"}, "'path' is required"),
        ({"path": "team/reports/nightly.ipynb", "every": "day"}, "Unknown field(s) every"),
        ({"path": "team/reports/nightly.ipynb", "cron": "61 * * * *"}, "minute: 61 is out of"),
        ({"path": "team/reports/missing.ipynb"}, "No such notebook"),
    ],
)
async def test_bad_schedules_are_refused_with_what_to_change(api, service, body, message):
    code, answer = await api.call("POST", "schedules", body=body)
    assert code == 400, answer
    assert message in answer["message"]


async def test_pause_resume_run_now_and_delete(api, service):
    _, made = await api.call(
        "POST", "schedules", body={"path": "team/reports/nightly.ipynb", "recurrence": "daily"}
    )
    sid = made["id"]
    code, paused = await api.call("PATCH", "schedules", sid, body={"paused": True})
    assert code == 200 and paused["paused"] is True and paused["nextRunAt"] is None
    assert service.last("PATCH")[3] == {"paused": True}
    code, bad = await api.call("PATCH", "schedules", sid, body={"path": "other.ipynb"})
    assert code == 400 and "Unknown field(s) path" in bad["message"]
    code, resumed = await api.call("PATCH", "schedules", sid, body={"paused": False})
    assert code == 200 and resumed["paused"] is False

    code, job = await api.call("POST", "schedules", sid, "run")
    assert code == 201 and job["scheduleId"] == sid
    # the run is a job of this server at once, under the hub's id and the lab's path
    code, listed = await api.call("GET", "jobs")
    runs = [j for j in listed["jobs"] if j["id"] == job["id"]]
    assert runs and runs[0]["backend"] == "kubernetes"
    assert runs[0]["path"] == "team/reports/nightly.ipynb"
    _, listing = await api.call("GET", "schedules")
    assert listing["schedules"][0]["lastStatus"] == "pending"

    service.busy_schedule = sid
    code, busy = await api.call("POST", "schedules", sid, "run")
    assert code == 409 and "is still running" in busy["message"]

    code, _ = await api.call("DELETE", "schedules", sid)
    assert code == 204
    _, listing = await api.call("GET", "schedules")
    assert listing["schedules"] == []


async def test_another_users_schedule_is_not_found(api, service):
    service.schedules["bobs"] = {"id": "bobs", "user": "bob", "group": "team", "path": "b.ipynb"}
    for method, parts, body in (
        ("PATCH", ("schedules", "bobs"), {"paused": True}),
        ("DELETE", ("schedules", "bobs"), None),
        ("POST", ("schedules", "bobs", "run"), None),
    ):
        code, answer = await api.call(method, *parts, body=body)
        assert code == 404 and answer["message"] == "No schedule with id 'bobs'.", answer
    assert "bobs" in service.schedules
    _, listing = await api.call("GET", "schedules")
    assert listing["schedules"] == []


@pytest.mark.parametrize("server_env", ["admin-token"], indirect=True)
async def test_an_admins_server_lists_only_its_own_users_schedules(api, service):
    service.schedules["bobs"] = {"id": "bobs", "user": "bob", "group": "team", "path": "b.ipynb"}
    _, made = await api.call(
        "POST", "schedules", body={"path": "team/reports/nightly.ipynb", "recurrence": "daily"}
    )
    _, listing = await api.call("GET", "schedules")
    assert [s["id"] for s in listing["schedules"]] == []  # made by "admin" here, bob's hidden
    assert made["user"] == "admin"


async def test_the_hub_service_away_is_a_503_that_says_so(api, service, jp_serverapp):
    backend = jp_serverapp.web_app.settings["primehub_jobs"].backends["kubernetes"]
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        backend.hub.service_url = f"http://127.0.0.1:{probe.getsockname()[1]}/services/jobs/"
    code, answer = await api.call("GET", "schedules")
    assert code == 503, answer
    assert answer["message"]  # what failed, not a traceback
    code, answer = await api.call(
        "POST", "schedules", body={"path": "team/reports/nightly.ipynb", "recurrence": "daily"}
    )
    assert code == 503 and answer["message"], answer


@pytest.mark.parametrize("server_env", [None], indirect=True)
async def test_without_the_hub_service_the_lab_is_told_schedules_need_it(api, service):
    code, listing = await api.call("GET", "schedules")
    assert code == 200 and listing["available"] is False and listing["schedules"] == []
    assert "primehub-jobs service" in listing["message"]
    code, answer = await api.call(
        "POST", "schedules", body={"path": "team/reports/nightly.ipynb", "recurrence": "daily"}
    )
    assert code == 503 and "Kubernetes jobs" in answer["message"]
    # bad input is still told what to change first, here as everywhere
    code, answer = await api.call("POST", "schedules", body={"path": "a.ipynb", "every": "day"})
    assert code == 400 and "Unknown field(s) every" in answer["message"], answer
    code, answer = await api.call("POST", "schedules", body={"recurrence": "daily"})
    assert code == 400 and "'path' is required" in answer["message"], answer
    code, answer = await api.call("PATCH", "schedules", "s1", body={"path": "other.ipynb"})
    assert code == 400 and "Unknown field(s) path" in answer["message"], answer
    assert service.requests == []
