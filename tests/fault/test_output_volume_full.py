"""A job fills its output volume (a small tmpfs mounted for the test): the job fails with a
reason that says so, and the server, other jobs and the volume's other files are unharmed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import WAIT, write_notebook

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

FILL = """\
import os
# a dataset written next to the notebook, bigger than the volume
with open('big.bin', 'wb') as f:
    try:
        while True:
            f.write(b'x' * 65536)
    except OSError as e:
        print('write stopped:', e)
"""


@pytest.fixture
def small_volume(tmp_path: Path):
    """A 2 MiB tmpfs, unmounted afterwards whatever happens."""
    mount = tmp_path / "root" / "volume"
    mount.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_job_filling_its_output_volume_fails_with_a_clear_reason(
    tmp_path, small_volume, jupyter_servers
):
    root = tmp_path / "root"
    write_notebook(small_volume / "fill.ipynb", FILL, "print('after the fill')")
    (small_volume / "keep.txt").write_text("untouched")
    write_notebook(root / "ok.ipynb", "print(21 * 2)")
    server = jupyter_servers(root, tmp_path / "jobs")

    job = server.submit(path="volume/fill.ipynb")
    done = server.wait(job["id"], timeout=WAIT)
    assert done["status"] == "failed", done
    why = f"{done.get('reason') or ''} {done.get('error') or ''}"
    assert "No space left on device" in why, done
    assert "output notebook" in why, done

    # nothing else broke: the volume's other files, the server, and the next job
    assert (small_volume / "keep.txt").read_text() == "untouched"
    log = server.request("GET", f"jobs/{job['id']}/log")
    assert log.status_code == 200 and "write stopped" in log.text
    other = server.wait(server.submit(path="ok.ipynb")["id"], timeout=WAIT)
    assert other["status"] == "succeeded", other
    listing = server.request("GET", "jobs")
    assert listing.status_code == 200 and listing.json()["total"] == 2
