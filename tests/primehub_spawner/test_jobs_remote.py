"""The server extension's kubernetes backend: where notebooks are, what the dialog offers.

(Dispatch and mirroring run against the real hub service in tests/e2e/test_hub_jobs.py.)
"""

from __future__ import annotations

import asyncio
import json

import pytest

from jupyterlab_primehub.context import ServerContext
from jupyterlab_primehub.jobs.model import Job, JobRequest, State
from jupyterlab_primehub.jobs.paths import GROUP_VOLUME_MESSAGE
from jupyterlab_primehub.jobs.remote import KubernetesJobBackend
from jupyterlab_primehub.jobs.store import JobStore
from primehub_jobs_contract.errors import InvalidRequest

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
    backend._write_marker(job.id, {"group": "team", "hub": job.id})
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
