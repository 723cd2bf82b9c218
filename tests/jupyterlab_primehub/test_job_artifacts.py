"""Artifact limits (PrimeHub: 1000 files / 100 MB), zip, and retention."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import timedelta

from jupyterlab_primehub.jobs.local import LocalJobRunner
from jupyterlab_primehub.jobs.model import Job, State, utcnow
from jupyterlab_primehub.jobs.store import JobStore
from primehub_executor.artifacts import enforce_limits, zip_artifacts


def test_limits_keep_files_in_path_order_and_drop_symlinks(tmp_path):
    root = tmp_path / "artifacts"
    (root / "sub").mkdir(parents=True)
    for name, size in [("a.bin", 40), ("b.bin", 40), ("sub/c.bin", 40), ("d.bin", 10)]:
        (root / name).write_bytes(b"x" * size)
    (tmp_path / "secret").write_text("outside")
    os.symlink(tmp_path / "secret", root / "link")

    report = enforce_limits(root, max_files=10, max_bytes=100)
    kept = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    # a, b and d fit into 100 bytes; c would exceed it; the symlink is never an artifact.
    assert kept == ["a.bin", "b.bin", "d.bin"]
    assert sorted(report.dropped) == ["link", "sub/c.bin"]
    assert (report.kept_files, report.kept_bytes) == (3, 90)

    enforce_limits(root, max_files=2, max_bytes=1000)
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == ["a.bin", "b.bin"]

    with zipfile.ZipFile(io.BytesIO(zip_artifacts(root))) as archive:
        assert sorted(archive.namelist()) == ["a.bin", "b.bin"]


async def test_artifacts_expire_after_the_retention_period(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    runner = LocalJobRunner(store, tmp_path, artifact_retention=timedelta(days=7))
    for job_id, age in (("00000000000a", 8), ("00000000000b", 6)):
        job = Job(
            id=job_id,
            name=job_id,
            path="a.ipynb",
            output_path=f"{job_id}.ipynb",
            backend="local",
            kernel="python3",
            status=State.SUCCEEDED,
            finished_at=utcnow() - timedelta(days=age),
        )
        store.add(job)
        (runner.files(job_id).artifacts).mkdir(parents=True)
        (runner.files(job_id).artifacts / "model.txt").write_text("m")
    await runner.tick()  # the first scheduling round also applies the retention period
    assert not runner.files("00000000000a").artifacts.exists()
    assert (runner.files("00000000000b").artifacts / "model.txt").exists()


def test_a_non_latin_job_name_downloads_under_its_own_name():
    from urllib.parse import unquote

    from jupyterlab_primehub.handlers import attachment

    header = attachment("訓練-0123456789ab-artifacts.zip")
    header.encode("latin-1")  # a header value tornado can send (a 500 before)
    assert 'filename="0123456789ab-artifacts.zip"' in header
    star = header.split("filename*=UTF-8''", 1)[1]
    assert unquote(star) == "訓練-0123456789ab-artifacts.zip"
