"""The server extension's kubernetes backend: where notebooks are, what the dialog offers.

(Dispatch and mirroring run against the real hub service in tests/e2e/test_hub_jobs.py.)
"""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest, HTTPResponse

from jupyterlab_primehub.context import ServerContext
from jupyterlab_primehub.jobs.hub_client import HubClient, hub_error
from jupyterlab_primehub.jobs.model import Job, JobRequest, State
from jupyterlab_primehub.jobs.paths import GROUP_VOLUME_MESSAGE
from jupyterlab_primehub.jobs.remote import KubernetesJobBackend
from jupyterlab_primehub.jobs.store import JobStore
from primehub_jobs_contract.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    JobsError,
    NotFound,
    Unavailable,
)
from primehub_jobs_contract.executor import ExecutorSpec
from primehub_jobs_contract.layout import JobFiles
from primehub_jobs_contract.status import write_status

CONTEXT = ServerContext("team", "team", "cpu-1", "base", "alice", True)


@pytest.fixture
def backend(tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    (project / "team" / "sub").mkdir(parents=True)
    (project / "team" / "sub" / "nb.ipynb").write_text("{}")
    (project / "other").mkdir()
    home.mkdir()
    (home / "team").symlink_to(project / "team")
    (home / "mine.ipynb").write_text("{}")
    store = JobStore(tmp_path / "jobs.sqlite")
    yield KubernetesJobBackend(
        store,
        tmp_path / "jobs",
        service_url="http://127.0.0.1:1/services/primehub-jobs/",
        token=lambda: "t",
        root_dir=str(home),
        project_root=str(project),
    )
    store.close()


def test_notebooks_are_located_in_their_group_volume(backend):
    assert backend.locate("team/sub/nb.ipynb") == ("team", "sub/nb.ipynb")
    with pytest.raises(InvalidRequest, match=GROUP_VOLUME_MESSAGE):
        backend.locate("mine.ipynb")


def test_hub_paths_map_back_through_the_home_link(backend):
    assert backend.api_path("team", "sub/out.ipynb") == "team/sub/out.ipynb"
    assert backend.api_path("other", "x.ipynb") is None  # not reachable from this server


def test_validate_uses_the_hubs_choices_once_known(backend):
    request = JobRequest(path="team/sub/nb.ipynb", backend="kubernetes", instance_type="gpu-9")
    backend.validate(request, CONTEXT)  # not known yet: the hub decides at dispatch
    backend.options = {
        "groups": [
            {
                "name": "team",
                "instanceTypes": [{"name": "cpu-1"}, {"name": "gpu-1"}],
                "images": [{"name": "base"}],
            }
        ]
    }
    with pytest.raises(InvalidRequest) as info:
        backend.validate(request, CONTEXT)
    assert info.value.message == (
        "instanceType: 'gpu-9' is not available in group 'team' (allowed: 'cpu-1', 'gpu-1')"
    )
    ok = JobRequest(path="team/sub/nb.ipynb", instance_type="gpu-1", image="base")
    backend.validate(ok, CONTEXT)
    assert backend.context_options(CONTEXT) == {
        "instanceTypes": [{"name": "cpu-1"}, {"name": "gpu-1"}],
        "images": [{"name": "base"}],
    }


def _mirror_finished(backend, tmp_path, status_file: dict | None, remote_extra: dict) -> Job:
    job = Job(
        id="0123456789ab",
        name="nb",
        path="team/sub/nb.ipynb",
        output_path="team/sub/out.ipynb",
        backend="kubernetes",
        kernel="python3",
        status=State.RUNNING,
    )
    backend.store.add(job)
    backend.store.set_remote(job.id, "team", job.id)  # handed to the hub, files in team's volume
    folder = tmp_path / "project" / "team" / ".primehub-jobs" / job.id
    folder.mkdir(parents=True)
    if status_file is not None:
        (folder / "status.json").write_text(json.dumps(status_file))

    async def no_log(job_id, path):
        return None

    backend._pull_log = no_log
    remote = {"status": "succeeded", "finishedAt": "2026-01-02T00:00:00.000Z", **remote_extra}
    asyncio.run(backend._mirror(job, remote))
    return backend.store.get(job.id)


def test_mirror_takes_ended_early_from_the_status_file(backend, tmp_path):
    ended = {"cellIndex": 1, "ename": "SystemExit", "evalue": "0"}
    status = {"state": "succeeded", "progress": {"done": 2, "total": 4}, "endedEarly": ended}
    job = _mirror_finished(backend, tmp_path, status, {})
    assert job.status == State.SUCCEEDED
    assert job.to_json()["endedEarly"] == ended
    assert (job.progress_done, job.progress_total) == (2, 4)


def test_mirror_falls_back_to_the_hubs_record(backend, tmp_path):
    # the status file is not readable here, but the hub read the pod's termination message
    ended = {"cellIndex": 3, "ename": "SystemExit", "evalue": ""}
    job = _mirror_finished(backend, tmp_path, None, {"endedEarly": ended})
    assert job.to_json()["endedEarly"] == ended


def _job(job_id: str, status: State = State.PENDING) -> Job:
    return Job(
        id=job_id,
        name="nb",
        path="team/sub/nb.ipynb",
        output_path=f"team/sub/{job_id}.ipynb",
        backend="kubernetes",
        kernel="python3",
        status=status,
    )


def test_marker_files_of_an_older_version_are_imported_into_the_store_once(backend, tmp_path):
    # what a server before the store kept this state keeps in its jobs dir
    jobs_dir = tmp_path / "jobs"
    dispatched, imported, waiting = "0000000000a1", "0000000000a2", "0000000000a3"
    for job_id, marker in (
        (dispatched, {"group": "team", "hub": dispatched}),
        (imported, {"group": "other"}),
        (waiting, None),  # pending, not handed to the hub yet: no marker
    ):
        backend.store.add(_job(job_id))
        (jobs_dir / job_id).mkdir(parents=True)
        if marker is not None:
            (jobs_dir / job_id / "remote.json").write_text(json.dumps(marker))
    (jobs_dir / "kubernetes-jobs-seen.json").write_text(json.dumps([dispatched, "0000000000ff"]))

    async def restart():
        await backend.start()
        await backend.stop()

    asyncio.run(restart())
    store = backend.store
    assert store.remote_group(dispatched) == "team"
    assert store.remote_group(imported) == "other"
    assert store.remote_group(waiting) is None
    assert store.seen_hub_jobs() == {dispatched, "0000000000ff"}
    assert backend.active_count() == 1  # only the job not handed to the hub needs this server
    assert not list(jobs_dir.glob("*/remote.json"))
    assert not (jobs_dir / "kubernetes-jobs-seen.json").exists()

    # once: a later start changes nothing, and the store's state is what counts
    store.set_remote(imported, "team")
    asyncio.run(restart())
    assert store.remote_group(imported) == "team"
    assert store.seen_hub_jobs() == {dispatched, "0000000000ff"}


def test_deleting_a_job_forgets_where_it_ran_but_keeps_it_seen(backend):
    backend.store.add(_job("0000000000b1", State.SUCCEEDED))
    backend.store.set_remote("0000000000b1", "team", "0000000000b1")
    backend.store.remember_hub_jobs({"0000000000b1"})
    backend.store.delete("0000000000b1")
    assert backend.store.remote_group("0000000000b1") is None
    assert backend.store.seen_hub_jobs() == {"0000000000b1"}  # not imported again


def _http_error(code: int, body: bytes | None) -> HTTPClientError:
    response = None
    if body is not None:
        response = HTTPResponse(HTTPRequest("http://hub/"), code, buffer=io.BytesIO(body))
    return HTTPClientError(code, response=response)


@pytest.mark.parametrize(
    "code, body, kind, message",
    [
        (400, b'{"message": "timeout: bad"}', InvalidRequest, "timeout: bad"),
        (403, b'{"message": "not yours"}', Forbidden, "not yours"),
        (404, b'{"message": "no such job"}', NotFound, "no such job"),
        (409, b'{"message": "already ended"}', Conflict, "already ended"),
        (401, b"not json", JobsError, "HTTP 401: Unauthorized"),
        (502, b'{"message": "down"}', Unavailable, "HTTP 502: down"),
        (599, None, Unavailable, None),  # no answer at all (timeout, refused)
    ],
)
def test_hub_answers_map_onto_the_contracts_errors(code, body, kind, message):
    error = hub_error(_http_error(code, body))
    assert type(error) is kind and error.message == (message or error.message)
    assert error.status_code == (code if kind is JobsError else kind.status_code)


def test_without_a_token_the_hub_is_unavailable():
    client = HubClient("http://127.0.0.1:1/services/primehub-jobs", lambda: None)
    with pytest.raises(Unavailable, match="no API token is set"):
        asyncio.run(client.job("0123456789ab"))


def test_a_job_the_hub_ran_without_this_server_is_imported_and_mirrored(backend, tmp_path):
    """A schedule's run: the server lists it, pulls its log and shows it succeeded."""
    folder = tmp_path / "project" / "team" / ".primehub-jobs" / "00000000abcd"
    (folder / "artifacts").mkdir(parents=True)
    (folder / "artifacts" / "model.txt").write_text("weights")
    write_status(
        folder / "status.json", {"state": "succeeded", "progress": {"done": 1, "total": 1}}
    )
    remote = {
        "id": "00000000abcd",
        "name": "tick",
        "group": "team",
        "path": "sub/nb.ipynb",
        "outputPath": "sub/nb-output.ipynb",
        "status": "succeeded",
        "createdAt": "2026-01-02T00:00:00.000Z",
        "finishedAt": "2026-01-02T00:01:00.000Z",
    }

    async def jobs(limit=50):
        return [remote]

    async def log(job_id, offset):
        return b"tick\n" if offset == 0 else b""

    backend.hub.jobs, backend.hub.log = jobs, log
    asyncio.run(backend._import_new())
    job = backend.store.get("00000000abcd")
    assert job.status == State.SUCCEEDED and job.path == "team/sub/nb.ipynb"
    assert (job.progress_done, job.progress_total) == (1, 1)
    files = backend.job_dir(job.id)
    assert (files / "job.log").read_bytes() == b"tick\n"
    assert (files / "artifacts" / "model.txt").read_text() == "weights"


def test_a_dispatched_job_gets_the_hubs_id_and_is_followed_under_it(backend, tmp_path):
    """The hub chooses job ids (a client's id could be claimed first by another member of the
    group): the server keeps its own id and maps it to the hub's for every later call."""
    local, hub_id = "1111111111aa", "2222222222bb"
    job = _job(local)
    backend.store.add(job)
    files = JobFiles(backend.job_dir(local))
    files.root.mkdir(parents=True)
    files.snapshot.write_text('{"cells": []}')
    volume = tmp_path / "project" / "team"
    ExecutorSpec(input=str(files.snapshot), output=str(volume / "sub" / "out.ipynb")).write(
        files.spec
    )
    asked: list = []

    async def submit(body):
        asked.append(("submit", body))
        return {"id": hub_id, "status": "pending", "group": "team"}

    async def job_of(job_id):
        asked.append(("job", job_id))
        return {"id": job_id, "status": "succeeded", "finishedAt": "2026-01-02T00:01:00.000Z"}

    async def log(job_id, offset):
        asked.append(("log", job_id))
        return b"ran\n" if offset == 0 else b""

    async def listing(limit=50):
        return [{"id": hub_id, "group": "team", "path": "sub/nb.ipynb", "outputPath": "o.ipynb"}]

    backend.hub.submit, backend.hub.job, backend.hub.log = submit, job_of, log
    backend.hub.jobs = listing
    asyncio.run(backend._sync(backend.store.get(local)))
    [(_, body)] = [a for a in asked if a[0] == "submit"]
    assert "id" not in body  # the hub refuses a client's id
    assert body["snapshot"] == f".primehub-jobs/{local}/input.ipynb"
    assert backend.store.hub_id(local) == hub_id
    assert hub_id in backend.store.seen_hub_jobs()

    # the job pod writes status and artifacts in the folder of the hub's id
    folder = volume / ".primehub-jobs" / hub_id
    (folder / "artifacts").mkdir(parents=True)
    (folder / "artifacts" / "a.txt").write_text("x")
    write_status(
        folder / "status.json", {"state": "succeeded", "progress": {"done": 3, "total": 3}}
    )
    asked.clear()
    asyncio.run(backend._sync(backend.store.get(local)))
    assert {a for a in asked if a[0] != "submit"} == {("job", hub_id), ("log", hub_id)}
    done = backend.store.get(local)
    assert done.status == State.SUCCEEDED and (done.progress_done, done.progress_total) == (3, 3)
    assert (files.artifacts / "a.txt").read_text() == "x"
    assert (files.log).read_bytes() == b"ran\n"
    # the hub's list shows it under the hub's id: not imported a second time
    asyncio.run(backend._import_new())
    assert backend.store.get(hub_id) is None
