"""localslurm itself: `up` is idempotent (no daemon restarted), the node offers 2 CPUs and
2 GPUs as GRES, a user's job sees its private $SLURM_TMPDIR, which is gone after the job."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from localslurm import cluster


def test_up_again_restarts_nothing(localslurm):
    again = cluster.up(users=())
    assert again["running"] and again["pids"] == localslurm["pids"]
    assert cluster.status()["running"]


def test_a_users_gpu_job_runs_with_a_private_tmpdir_removed_afterwards(localslurm):
    env = {"SLURM_CONF": localslurm["conf"], "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    node = subprocess.run(
        ["scontrol", "show", "node", localslurm["node"]],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "CPUTot=2" in node and "Gres=gpu:2" in node, node
    out = Path(tempfile.mkdtemp(prefix="localslurm-test-"))  # pytest's tmp_path is root's only
    out.chmod(0o777)
    script = 'echo "$(id -un) $SLURM_TMPDIR $(stat -c %U:%a "$SLURM_TMPDIR")"'
    job_id = subprocess.run(
        ["runuser", "-u", "slurm-bob", "--", "sbatch", "--parsable", "--gres=gpu:2",
         "--cpus-per-task=2", "--mem=64M", f"--output={out}/job.out", f"--wrap={script}"],
        env=env, capture_output=True, text=True, check=True, cwd="/tmp",
    ).stdout.strip()  # fmt: skip
    log = out / "job.out"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (log.exists() and log.read_text().strip()):
        time.sleep(0.2)
    user, tmpdir, owner = log.read_text().split()
    shutil.rmtree(out)
    assert user == "slurm-bob" and owner == "slurm-bob:700"
    assert tmpdir.endswith(f"/job_{job_id}")
    while time.monotonic() < deadline and Path(tmpdir).exists():
        time.sleep(0.2)
    assert not Path(tmpdir).exists()  # the epilog removed it
