"""A hub job's output notebook and artifacts as the jobs service serves them (issue 17,
part 6): read from a group volume that every member can write, so confined, without following
links, capped; only for the job's owner and admins; only within the retention period.

Real folders, links and FIFOs on disk; the service over the real SQLite store and catalog
(``tests/e2e/test_hub_jobs_files.py`` runs the REST routes on a real hub and cluster).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from test_jobs_preparing import Clock, Kube

from primehub_jobs_contract.errors import JobsError
from primehub_jobs_contract.safefiles import UnsafePath
from primehub_jobs_contract.states import State
from primehub_spawner.catalog import CatalogSource
from primehub_spawner.jobs.service import Caller, JobsService, Settings
from primehub_spawner.jobs.store import JobStore
from primehub_spawner.jobs.volume_files import (
    TooLarge,
    list_artifacts,
    open_file,
    plain_parts,
    zip_artifacts,
)

ALICE, BOB, ADMIN = Caller("alice"), Caller("bob"), Caller("root", admin=True)


def tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.mark.parametrize(
    "path", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.", "a\0b", "a/" * 20]
)
def test_only_plain_relative_paths(path):
    with pytest.raises(JobsError, match="must be a relative path of plain names") as e:
        plain_parts(path, "'path'")
    assert e.value.status_code == 400


def test_a_file_is_read_only_through_plain_folders(tmp_path):
    volume, elsewhere = tmp_path / "volume", tmp_path / "elsewhere"
    tree(volume, {"a/b/out.ipynb": "{}"})
    tree(elsewhere, {"b/out.ipynb": "secret"})
    assert open_file(volume, "a/b/out.ipynb", 10, "x").file.read() == b"{}"
    os.symlink(elsewhere / "b", volume / "a" / "linked")  # a folder on the way is a link
    with pytest.raises(UnsafePath):
        open_file(volume, "a/linked/out.ipynb", 10, "x")
    os.symlink(elsewhere / "b" / "out.ipynb", volume / "a" / "b" / "leak.ipynb")
    with pytest.raises(UnsafePath):
        open_file(volume, "a/b/leak.ipynb", 10, "x")
    os.mkfifo(volume / "a" / "b" / "fifo")  # would block a reader forever
    with pytest.raises(UnsafePath):
        open_file(volume, "a/b/fifo", 10, "x")
    with pytest.raises(TooLarge):
        open_file(volume, "a/b/out.ipynb", 1, "x")
    with pytest.raises(FileNotFoundError):
        open_file(volume, "a/b/none.ipynb", 10, "x")


def test_artifacts_are_listed_and_zipped_without_links_within_the_caps(tmp_path):
    volume, secret = tmp_path / "volume", tmp_path / "secret.txt"
    secret.write_text("secret")
    folder = ".primehub-jobs/abc/artifacts"
    tree(volume / folder, {"a.txt": "1", "deep/b.txt": "22", "deep/c.txt": "333"})
    os.symlink(secret, volume / folder / "leak.txt")
    os.symlink(tmp_path, volume / folder / "deep" / "whole-disk")
    os.mkfifo(volume / folder / "fifo")
    listing = list_artifacts(volume, folder)
    assert listing.files == (("a.txt", 1), ("deep/b.txt", 2), ("deep/c.txt", 3))
    assert (listing.skipped, listing.truncated) == (3, False)
    with zipfile.ZipFile(zip_artifacts(volume, folder)) as z:
        assert sorted(z.namelist()) == ["a.txt", "deep/b.txt", "deep/c.txt"]
        assert z.read("deep/c.txt") == b"333"
    assert list_artifacts(volume, folder, max_files=2).truncated
    assert list_artifacts(volume, folder, max_bytes=3).files == (("a.txt", 1), ("deep/b.txt", 2))
    with pytest.raises(TooLarge):
        zip_artifacts(volume, folder, max_bytes=3)
    # the artifacts folder itself, or the job's folder, swapped for a link
    os.rename(volume / folder, tmp_path / "moved")
    os.symlink(tmp_path / "moved", volume / folder)
    with pytest.raises(UnsafePath):
        list_artifacts(volume, folder)


@pytest.fixture
def service(tmp_path, catalog_dict):
    """The service with alice's succeeded job in phusers, its files in the group volume."""
    clock = Clock()
    volumes = tmp_path / "groups"

    def make(group_volumes: str = str(volumes) + "/{group}") -> JobsService:
        return JobsService(
            JobStore(tmp_path / "jobs.sqlite"),
            Kube(),
            CatalogSource(data=catalog_dict),
            tmp_path / "logs",
            Settings(namespace="ns", group_volumes=group_volumes),
            clock=clock,
        )

    jobs = make()
    job = asyncio.run(jobs.submit(ALICE, {"path": "nb/a.ipynb", "instanceType": "cpu-2"}))
    job.state, job.finished_at = State.SUCCEEDED, clock.now
    jobs.store.save_job(job)
    tree(
        volumes / "phusers",
        {
            job.output: json.dumps({"cells": [], "nbformat": 4}),
            f".primehub-jobs/{job.id}/artifacts/model.bin": "weights",
        },
    )
    return jobs, job, clock, make


def test_the_owner_and_admins_get_them_another_member_gets_404(service):
    jobs, job, _, _ = service

    async def scenario() -> None:
        for caller in (ALICE, ADMIN):
            got, opened = await jobs.outputs.output(caller, job.id)
            with opened.file:
                assert json.loads(opened.file.read())["nbformat"] == 4
            listing = await jobs.outputs.artifacts(caller, job.id)
            assert listing.to_json()["files"] == [{"path": "model.bin", "size": 7}]
            with (await jobs.outputs.artifact(caller, job.id, "model.bin")).file as f:
                assert f.read() == b"weights"
            with zipfile.ZipFile(
                io.BytesIO((await jobs.outputs.artifacts_zip(caller, job.id)).read())
            ) as z:
                assert z.namelist() == ["model.bin"]
        # bob is a member of phusers too: he can read the volume with his own server, but the
        # service does not answer him about alice's job at all
        for call in (
            jobs.outputs.output(BOB, job.id),
            jobs.outputs.artifacts(BOB, job.id),
            jobs.outputs.artifact(BOB, job.id, "model.bin"),
            jobs.outputs.artifacts_zip(BOB, job.id),
        ):
            with pytest.raises(JobsError, match="No job with id") as e:
                await call
            assert e.value.status_code == 404

    asyncio.run(scenario())


def test_they_are_served_as_long_as_the_log_is_kept(service):
    jobs, job, clock, _ = service
    clock.now += timedelta(days=6)
    assert asyncio.run(jobs.outputs.artifacts(ALICE, job.id)).files
    clock.now += timedelta(days=2)
    with pytest.raises(JobsError, match="kept 7 days after the job ended, like its log") as e:
        asyncio.run(jobs.outputs.artifacts(ALICE, job.id))
    assert e.value.status_code == 410


def test_without_access_to_the_group_volumes_the_service_says_so(service):
    _, job, _, make = service
    with pytest.raises(JobsError, match="JobsApp.group_volumes") as e:
        asyncio.run(make(group_volumes="").outputs.output(ALICE, job.id))
    assert e.value.status_code == 503


def test_links_and_sizes_are_refused_with_a_message(service, tmp_path):
    jobs, job, _, _ = service
    volume = tmp_path / "groups" / "phusers"
    secret = tmp_path / "secret.ipynb"
    secret.write_text("secret")
    (volume / job.output).unlink()
    os.symlink(secret, volume / job.output)
    with pytest.raises(JobsError, match="symbolic link") as e:
        asyncio.run(jobs.outputs.output(ALICE, job.id))
    assert e.value.status_code == 403
    with pytest.raises(JobsError, match="relative path of plain names") as e:
        asyncio.run(jobs.outputs.artifact(ALICE, job.id, "../../../" + job.output))
    assert e.value.status_code == 400
    with pytest.raises(JobsError, match="does not exist") as e:
        asyncio.run(jobs.outputs.artifact(ALICE, job.id, "none.bin"))
    assert e.value.status_code == 404
