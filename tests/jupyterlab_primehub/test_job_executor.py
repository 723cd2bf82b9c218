"""The executor on its own, as the Kubernetes job pods will run it (no server)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import nbformat

from jupyterlab_primehub.jobs.processes import is_alive
from jupyterlab_primehub.jobs.status import read_status


def _run(tmp_path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab_primehub.jobs.execute",
            "--input",
            str(tmp_path / "in.ipynb"),
            "--output",
            str(tmp_path / "out.ipynb"),
            "--status-file",
            str(tmp_path / "status.json"),
            "--log-file",
            str(tmp_path / "job.log"),
            "--artifacts",
            str(tmp_path / "artifacts"),
            "--job-id",
            "standalone",
            *extra,
        ],
        start_new_session=True,
    )


def test_standalone_run_writes_status_output_and_log(tmp_path, notebook):
    notebook(
        tmp_path / "in.ipynb",
        "import os\nprint(greeting, os.environ['PRIMEHUB_JOB_ID'], os.getcwd())",
        parameters="greeting = 'hi'",
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = _run(tmp_path, "--parameters", json.dumps({"greeting": "hello"}), "--cwd", str(workdir))
    assert proc.wait(180) == 0
    status = read_status(tmp_path / "status.json")
    assert status["state"] == "succeeded"
    assert status["progress"] == {"done": 3, "total": 3}
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.cells[2].outputs[0]["text"] == f"hello standalone {workdir}\n"
    assert out.metadata["primehub_job"]["status"] == "succeeded"
    assert f"hello standalone {workdir}" in (tmp_path / "job.log").read_text()


def test_sigterm_cancels_and_keeps_partial_output(tmp_path, notebook):
    notebook(tmp_path / "in.ipynb", "print('done first')", "import time\ntime.sleep(300)")
    proc = _run(tmp_path, "--timeout", "0")
    end = time.monotonic() + 180
    while (read_status(tmp_path / "status.json") or {}).get("progress", {}).get("done", 0) < 1:
        assert time.monotonic() < end and proc.poll() is None
        time.sleep(0.2)
    status = read_status(tmp_path / "status.json")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 143
    final = read_status(tmp_path / "status.json")
    assert (final["state"], final["reason"]) == ("cancelled", "Cancelled by user")
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.cells[0].outputs[0]["text"] == "done first\n"
    end = time.monotonic() + 60
    while is_alive(status["kernelPid"], status["kernelPidStart"]):
        assert time.monotonic() < end, "kernel survived SIGTERM of the executor"
        time.sleep(0.2)


def test_unknown_kernel_fails_with_reason(tmp_path, notebook):
    notebook(tmp_path / "in.ipynb", "1")
    proc = _run(tmp_path, "--kernel", "no-such-kernel")
    assert proc.wait(60) == 1
    final = read_status(tmp_path / "status.json")
    assert final["state"] == "failed" and "No such kernel: no-such-kernel" in final["reason"]


def test_unwritable_output_fails_the_job_with_reason(tmp_path, notebook):
    notebook(tmp_path / "in.ipynb", "print('ran')")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab_primehub.jobs.execute",
            "--input",
            str(tmp_path / "in.ipynb"),
            "--output",
            str(tmp_path / "gone" / "out.ipynb"),
            "--status-file",
            str(tmp_path / "status.json"),
            "--log-file",
            str(tmp_path / "job.log"),
        ]
    )
    assert proc.wait(180) == 1
    final = read_status(tmp_path / "status.json")
    assert final["state"] == "failed"
    assert "Cannot write the output notebook out.ipynb" in final["reason"]
