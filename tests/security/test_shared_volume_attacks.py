"""Attacks by another member of a shared group volume on a job's files.

User A is in groups T and U, user B only in T. The group volume of T is writable by B, so B can
edit any file there and plant symbolic links where A's job will write or read. Each test plays
one such attack against the real executor (``python -m primehub_executor``) or the server's
Kubernetes backend helpers, and checks what a user would check: A's job ran only what A
submitted, U's files are unchanged, A's server is unharmed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jupyterlab_primehub.jobs.remote import _copy_artifacts, _copy_snapshot
from primehub_jobs_contract.executor import EXECUTOR_MODULE, ExecutorSpec, executor_command
from primehub_jobs_contract.safefiles import UnsafePath
from primehub_jobs_contract.status import read_status, write_status
from primehub_spawner.jobs.requests import parse_submit


@pytest.fixture
def volumes(tmp_path):
    """``/project/T`` (shared with B) and ``/project/U`` (A's other group, B has no access)."""
    team, other = tmp_path / "project" / "T", tmp_path / "project" / "U"
    team.mkdir(parents=True)
    other.mkdir(parents=True)
    (other / "data.csv").write_text("U's precious data\n")
    return team, other


def _notebook(path: Path, *sources: str) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    data = nbformat.writes(nb).encode()
    path.write_bytes(data)
    return data


def _run(spec: ExecutorSpec, folder: Path) -> int:
    spec_path = folder / "spec.json"
    spec_path.write_text(spec.to_json())
    cmd = executor_command(str(spec_path), (sys.executable, "-m", EXECUTOR_MODULE))
    return subprocess.run(cmd, timeout=300, capture_output=True).returncode


def test_a_snapshot_edited_after_submit_is_not_run(volumes, tmp_path):
    team, other = volumes
    jobdir = team / ".primehub-jobs" / "0123456789ab"
    jobdir.mkdir(parents=True)
    submitted = _notebook(jobdir / "input.ipynb", "print('what A wrote')")
    # B rewrites the snapshot before the pod starts: code that would run as A, with U mounted
    pwned = other / "pwned"
    _notebook(jobdir / "input.ipynb", f"open({str(pwned)!r}, 'w').write('B was here')")
    spec = ExecutorSpec(
        input=str(jobdir / "input.ipynb"),
        output=str(team / "out.ipynb"),
        status_file=str(jobdir / "status.json"),
        confine=str(team),
        input_sha256=hashlib.sha256(submitted).hexdigest(),
    )
    assert _run(spec, tmp_path) == 1
    status = read_status(jobdir / "status.json")
    assert status["state"] == "failed"
    assert "not what was submitted" in status["reason"]
    assert not pwned.exists()


def test_links_planted_at_every_write_target_do_not_reach_another_group(volumes, tmp_path):
    team, other = volumes
    jobdir = team / ".primehub-jobs" / "0123456789ab"
    jobdir.mkdir(parents=True)
    data = _notebook(jobdir / "input.ipynb", "print('A ran')")
    # B plants links where A's job writes: the output, the status file, and the temporary
    # names the old executor used (.<name>.partial, .status.json.<pid>.tmp with pid 1)
    (team / "out.ipynb").symlink_to(other / "data.csv")
    (team / ".out.ipynb.partial").symlink_to(other / "data.csv")
    (jobdir / "status.json").symlink_to(other / "data.csv")
    (jobdir / ".status.json.1.tmp").symlink_to(other / "data.csv")
    spec = ExecutorSpec(
        input=str(jobdir / "input.ipynb"),
        output=str(team / "out.ipynb"),
        status_file=str(jobdir / "status.json"),
        confine=str(team),
        input_sha256=hashlib.sha256(data).hexdigest(),
    )
    assert _run(spec, tmp_path) == 0
    assert (other / "data.csv").read_text() == "U's precious data\n"
    # the links were replaced by A's real files, not written through
    assert not (team / "out.ipynb").is_symlink()
    assert "A ran" in (team / "out.ipynb").read_text()
    assert read_status(jobdir / "status.json")["state"] == "succeeded"


def test_an_output_folder_swapped_for_a_link_is_refused(volumes, tmp_path):
    team, other = volumes
    src = tmp_path / "private" / "input.ipynb"
    src.parent.mkdir()
    _notebook(src, "print('A ran')")
    (team / "reports").symlink_to(other)  # B: T/reports -> U
    spec = ExecutorSpec(
        input=str(src),
        output=str(team / "reports" / "data.csv"),
        status_file=str(tmp_path / "private" / "status.json"),
        confine=str(team),
    )
    assert _run(spec, tmp_path) == 1
    status = read_status(tmp_path / "private" / "status.json")
    assert status["state"] == "failed"
    assert "symbolic link" in status["reason"]
    assert (other / "data.csv").read_text() == "U's precious data\n"


def test_a_forged_status_file_is_read_as_untrusted_input(volumes):
    team, other = volumes
    status = team / "status.json"
    status.write_text(
        json.dumps(
            {
                "state": "succeeded",
                "progress": {"done": "all", "total": 10**30},
                "pid": "1; rm -rf /",
                "error": ["not", "an", "object"],
                "reason": "x" * 100_000,
                "startedAt": "yesterday",
            }
        )
    )
    clean = read_status(status)
    assert clean == {
        "state": "succeeded",
        "reason": "x" * 4096,  # capped
        "progress": None,  # malformed fields are dropped to None, never passed on
        "pid": None,
        "error": None,
        "startedAt": None,
    }
    status.unlink()
    status.symlink_to(other / "data.csv")
    assert read_status(status) is None  # a link is not a status
    status.unlink()
    status.write_bytes(b"{" + b" " * (300 * 1024) + b"}")
    assert read_status(status) is None  # over the size cap


def test_artifacts_linking_to_the_whole_disk_are_not_copied(volumes, tmp_path):
    team, other = volumes
    artifacts = team / ".primehub-jobs" / "0123456789ab" / "artifacts"
    artifacts.parent.mkdir(parents=True)
    artifacts.symlink_to("/")  # B: the artifacts folder -> /
    home = tmp_path / "home-of-A" / "artifacts"
    _copy_artifacts(artifacts, home)
    assert list(home.iterdir()) == []
    # inside a real folder: links and files through them are skipped, real files are copied
    artifacts.unlink()
    artifacts.mkdir()
    (artifacts / "model.txt").write_text("weights")
    (artifacts / "u-data").symlink_to(other / "data.csv")
    (artifacts / "etc").symlink_to("/etc")
    _copy_artifacts(artifacts, home)
    assert sorted(p.name for p in home.iterdir()) == ["model.txt"]


def test_the_snapshot_copy_refuses_a_planted_job_folder(volumes, tmp_path):
    team, other = volumes
    (team / ".primehub-jobs").mkdir()
    (team / ".primehub-jobs" / "0123456789ab").symlink_to(other)  # B guessed the id's folder
    source = tmp_path / "snapshot.ipynb"
    _notebook(source, "print('A')")
    with pytest.raises(UnsafePath):
        _copy_snapshot(source, team / ".primehub-jobs" / "0123456789ab" / "input.ipynb", team)
    assert sorted(p.name for p in other.iterdir()) == ["data.csv"]


def test_the_status_writer_replaces_a_planted_link(volumes):
    team, other = volumes
    (team / "status.json").symlink_to(other / "data.csv")
    write_status(team / "status.json", {"state": "running"}, team)
    assert (other / "data.csv").read_text() == "U's precious data\n"
    assert read_status(team / "status.json") == {"state": "running"}


def test_the_hub_service_wants_the_digest_of_a_snapshot():
    from primehub_jobs_contract.errors import InvalidRequest

    body = {"group": "T", "path": "nb.ipynb", "snapshot": ".primehub-jobs/0123456789ab/input.ipynb"}
    with pytest.raises(InvalidRequest, match="'snapshotSha256' is required"):
        parse_submit(body, max_deadline=3600)
    with pytest.raises(InvalidRequest, match="must be a SHA-256"):
        parse_submit({**body, "snapshotSha256": "abc"}, max_deadline=3600)
    assert parse_submit({**body, "snapshotSha256": "a" * 64}, max_deadline=3600).snapshot_sha256
