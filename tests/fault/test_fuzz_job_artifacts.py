"""Property-based fuzzing of the single-user artifacts download (issue 15: artifacts names).

A finished job's artifacts folder is filled with generated names (any script, spaces, quotes,
dots, deep folders, names at the file system's length limit) and symlinks out of it; the zip
download is never a 5xx, holds exactly the regular files under their relative names, and
never an entry that climbs out (``..``, absolute). Jobs named in any script download as
``filename*`` (RFC 5987) with an ASCII fallback.
"""

from __future__ import annotations

import io
import os
import shutil
import time
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench.jupyter_server import JupyterServer, start_server

from .conftest import executor_pids, write_notebook
from .fuzzcount import SINGLE_USER, sent

segment = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=40,
).filter(lambda s: s not in (".", "..") and len(s.encode()) <= 255)
names = st.lists(segment, min_size=1, max_size=3).map("/".join) | st.sampled_from(
    ["訓練.csv", "a" * 255, "..a", "-rf", " ", "\\..\\x", "new\nline", "résumé.txt", "🙂/🙂"]
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[JupyterServer, str, Path]:
    """A server and one of its jobs that succeeded: (server, job id, its artifacts folder)."""
    tmp = tmp_path_factory.mktemp("fuzz-artifacts")
    root = tmp / "root"
    write_notebook(root / "ok.ipynb", "1")
    (tmp / "outside").mkdir()
    (tmp / "outside" / "secret.txt").write_text("secret")
    server = start_server(root, tmp / "jobs")
    resp = server.request("POST", "jobs", json={"path": "ok.ipynb"})
    assert resp.status_code == 201, resp.text
    job_id = resp.json()["id"]
    deadline = time.monotonic() + 180
    while server.request("GET", f"jobs/{job_id}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the artifacts fuzzer's job did not succeed"
        time.sleep(0.5)
    folders = [p for p in (tmp / "jobs").rglob("artifacts") if job_id in str(p)]
    assert len(folders) == 1, folders
    server.outside = tmp / "outside"  # type: ignore[attr-defined]
    yield server, job_id, folders[0]
    server.stop()
    for pid in executor_pids(server.jobs_dir):
        os.kill(pid, 9)


def download(server: JupyterServer, job_id: str):
    sent(SINGLE_USER)
    return server.request("GET", f"jobs/{job_id}/artifacts")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(names, min_size=1, max_size=5, unique=True), st.booleans())
@example(["訓練/結果.csv", "..a/b"], True)
@example(["a" * 255], False)
def test_generated_artifact_names_download_safely(finished, files, with_links):
    server, job_id, folder = finished
    shutil.rmtree(folder)
    folder.mkdir()
    written: set[str] = set()
    for name in files:
        path = folder / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(name.encode())
        except OSError:  # a name that is also a folder of another name: skip it
            continue
        written.add(name)
    written = {n for n in written if (folder / n).is_file()}
    if with_links:
        os.symlink("/", folder / "root-link")
        os.symlink(server.outside / "secret.txt", folder / "secret-link.txt")
    resp = download(server, job_id)
    assert resp.status_code < 500, resp.text
    assert resp.status_code == 200, resp.text
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        entries = zf.namelist()
        for entry in entries:
            assert not entry.startswith("/") and ".." not in entry.split("/"), entry
        assert set(entries) == written, (entries, written)
        for entry in entries:
            assert zf.read(entry) == entry.encode()


@pytest.mark.parametrize(
    "name", ["訓練", "a" * 200, "../../etc/passwd", 'quote" and ; semicolon', "🙂 smile"]
)
def test_jobs_named_in_any_script_download_their_artifacts(finished, name):
    server, _, _ = finished
    sent(SINGLE_USER)
    resp = server.request("POST", "jobs", json={"path": "ok.ipynb", "name": name})
    assert resp.status_code == 201, resp.text
    job_id = resp.json()["id"]
    try:
        got = download(server, job_id)
        assert got.status_code < 500, got.text
        if got.status_code == 200:
            disposition = got.headers["Content-Disposition"]
            fallback, _, encoded = disposition.partition("; filename*=UTF-8''")
            assert fallback.isascii() and "/" not in fallback, disposition
            assert unquote(encoded).endswith(f"-{job_id}-artifacts.zip"), disposition
    finally:
        sent(SINGLE_USER)
        server.request("POST", f"jobs/{job_id}/cancel")
