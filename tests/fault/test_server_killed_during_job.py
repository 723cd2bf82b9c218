"""The single-user server dies while a local job runs; a restarted server must tell the truth.

* Only the server process dies (the executor is detached): the job finishes, and the restarted
  server reports it succeeded with the complete output.
* The server, the executor and its kernel die together (a pod killed): the restarted server
  marks the job failed with a reason, and keeps the partial output notebook and the log.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat

from localk8s.testing import wait_for

from .conftest import WAIT, executor_pids, kill_tree, write_notebook


def _setup(tmp_path: Path, sleep: int) -> tuple[Path, Path]:
    root, jobs_dir = tmp_path / "root", tmp_path / "jobs"
    write_notebook(
        root / "slow.ipynb",
        "print('first cell done', flush=True)",
        f"import pathlib, time\npathlib.Path('started').touch()\ntime.sleep({sleep})",
        "print('third cell done')",
        parameters="tag = 'x'",
    )
    return root, jobs_dir


def _output_texts(path: Path) -> str:
    nb = nbformat.read(str(path), as_version=4)
    return "\n".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))


def test_server_process_killed_job_finishes_and_restart_reports_it(tmp_path, jupyter_servers):
    root, jobs_dir = _setup(tmp_path, sleep=8)
    server = jupyter_servers(root, jobs_dir)
    job = server.submit(path="slow.ipynb", parameters={"tag": "kill-server"})
    wait_for(lambda: (root / "started").exists(), WAIT, what="the slow cell to start")

    server.kill()
    assert executor_pids(jobs_dir), "the executor should outlive the server process"
    restarted = jupyter_servers(root, jobs_dir, port=server.port, token=server.token)

    done = restarted.wait(job["id"], timeout=WAIT)
    assert done["status"] == "succeeded", done
    assert done["progress"]["done"] == done["progress"]["total"]
    out = _output_texts(root / done["outputPath"])
    assert "first cell done" in out and "third cell done" in out
    log = restarted.request("GET", f"jobs/{job['id']}/log")
    assert log.status_code == 200 and "third cell done" in log.text


def test_server_executor_and_kernel_killed_job_fails_with_partial_output(tmp_path, jupyter_servers):
    root, jobs_dir = _setup(tmp_path, sleep=600)
    server = jupyter_servers(root, jobs_dir)
    job = server.submit(path="slow.ipynb")
    wait_for(lambda: (root / "started").exists(), WAIT, what="the slow cell to start")
    # the first cell's output has been saved before the slow cell blocks
    wait_for(
        lambda: "first cell done" in server.request("GET", f"jobs/{job['id']}/log").text,
        WAIT,
        what="the first cell's output in the log",
    )
    running = server.job(job["id"])
    assert running["status"] == "running"

    # everything of the "pod" dies at once: server, executor and kernel
    victims = executor_pids(jobs_dir)
    assert victims
    server.kill()
    for pid in victims:
        kill_tree(pid)
    wait_for(lambda: not executor_pids(jobs_dir), 30, what="the executor and kernel gone")
    time.sleep(0.5)  # not an assertion: let the kernel's sockets close before the restart

    restarted = jupyter_servers(root, jobs_dir, port=server.port, token=server.token)
    done = restarted.wait(job["id"], timeout=WAIT)
    assert done["status"] == "failed", done
    assert done["reason"] or done["error"], f"a failed job must say why: {done}"
    assert done["finishedAt"]
    log = restarted.request("GET", f"jobs/{job['id']}/log")
    assert log.status_code == 200 and "first cell done" in log.text
    output = root / running["outputPath"]
    assert output.exists(), "the partial output notebook must be kept"
    partial = _output_texts(output)
    assert "first cell done" in partial and "third cell done" not in partial
    # the restarted server keeps serving jobs
    again = restarted.submit(path="slow.ipynb")
    assert again["status"] in ("pending", "running")
    assert restarted.request("POST", f"jobs/{again['id']}/cancel").status_code < 300
