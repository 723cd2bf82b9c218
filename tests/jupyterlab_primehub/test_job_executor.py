"""The executor on its own, as the Kubernetes job pods will run it (no server)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import nbformat
import pytest
from papermill.iorw import load_notebook_node

from primehub_jobs_contract.executor import EXECUTOR_MODULE, executor_command
from primehub_jobs_contract.processes import is_alive
from primehub_jobs_contract.status import read_status


def _executor(spec: dict, spec_path) -> subprocess.Popen:
    """The executor as every backend starts it: ``python -m primehub_executor <spec.json>``."""
    spec_path.write_text(json.dumps(spec))
    return subprocess.Popen(
        executor_command(str(spec_path), (sys.executable, "-m", EXECUTOR_MODULE)),
        start_new_session=True,
    )


def _run(tmp_path, **overrides) -> subprocess.Popen:
    spec = {
        "input": str(tmp_path / "in.ipynb"),
        "output": str(tmp_path / "out.ipynb"),
        "status_file": str(tmp_path / "status.json"),
        "log_file": str(tmp_path / "job.log"),
        "artifacts": str(tmp_path / "artifacts"),
        "job_id": "standalone",
        **overrides,
    }
    return _executor(spec, tmp_path / "spec.json")


def test_standalone_run_writes_status_output_and_log(tmp_path, notebook):
    notebook(
        tmp_path / "in.ipynb",
        "import os\nprint(greeting, os.environ['PRIMEHUB_JOB_ID'], os.getcwd())",
        parameters="greeting = 'hi'",
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = _run(tmp_path, parameters={"greeting": "hello"}, cwd=str(workdir))
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
    proc = _run(tmp_path, timeout=None)
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
    proc = _run(tmp_path, kernel="no-such-kernel")
    assert proc.wait(60) == 1
    final = read_status(tmp_path / "status.json")
    assert final["state"] == "failed" and "No such kernel: no-such-kernel" in final["reason"]


def test_unwritable_output_fails_the_job_with_reason(tmp_path, notebook):
    notebook(tmp_path / "in.ipynb", "print('ran')")
    proc = _executor(
        {
            "input": str(tmp_path / "in.ipynb"),
            "output": str(tmp_path / "gone" / "out.ipynb"),
            "status_file": str(tmp_path / "status.json"),
            "log_file": str(tmp_path / "job.log"),
        },
        tmp_path / "spec.json",
    )
    assert proc.wait(180) == 1
    final = read_status(tmp_path / "status.json")
    assert final["state"] == "failed"
    assert "Cannot write the output notebook out.ipynb" in final["reason"]


# -- papermill semantics: early exit, errors IPython prints, metadata ---------------------------
def _early_exit_notebook(path, exit_line: str) -> None:
    """Four code cells; the second ends the notebook (or fails) with ``exit_line``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell(f"import sys\nprint('stopping')\n{exit_line}"),
        nbformat.v4.new_code_cell("print('three')"),
        nbformat.v4.new_code_cell("print('four')"),
    ]
    # outputs from an interactive session: cells the job never reaches must not keep them
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", name="stdout", text="stale\n")]
    nb.cells[3].execution_count = 7
    nbformat.write(nb, str(path))


def _markers(nb) -> list[int]:
    return [
        i
        for i, c in enumerate(nb.cells)
        if "papermill-error-cell-tag" in c.metadata.get("tags", [])
    ]


@pytest.mark.parametrize(
    "exit_line, evalue",
    [
        ("sys.exit(0)", "0"),
        ("sys.exit()", ""),
        ("raise SystemExit()", ""),
        ("raise SystemExit(0)", "0"),
    ],
)
def test_clean_sys_exit_ends_early_and_succeeds(tmp_path, exit_line, evalue):
    _early_exit_notebook(tmp_path / "in.ipynb", exit_line)
    (tmp_path / "termination-log").write_text("")  # as the kubelet creates it
    proc = _run(tmp_path, termination_log=str(tmp_path / "termination-log"))
    assert proc.wait(180) == 0
    status = read_status(tmp_path / "status.json")
    assert status["state"] == "succeeded"
    assert status["error"] is None and status["reason"] is None
    ended = {"cellIndex": 1, "ename": "SystemExit", "evalue": evalue}
    assert status["endedEarly"] == ended
    assert status["progress"] == {"done": 2, "total": 4}
    # read back as a papermill user does
    out = load_notebook_node(str(tmp_path / "out.ipynb"))
    banner, note = _markers(out)
    assert banner == 0 and "ended early" in out.cells[0].source
    cells = [c for i, c in enumerate(out.cells) if i not in (banner, note)]
    assert note == 3  # right after the cell that exited (cells: banner, x = 1, exit, note, ...)
    assert "The 2 code cell(s) below were not run" in out.cells[note].source
    assert cells[1].outputs[0]["text"] == "stopping\n"
    error = next(o for o in cells[1].outputs if o["output_type"] == "error")
    assert (error["ename"], error["evalue"]) == ("SystemExit", evalue)
    for never_run in cells[2:]:
        assert never_run.outputs == [] and never_run.execution_count is None
        assert never_run.metadata["papermill"]["status"] == "pending"
    # papermill's records: the exit cell is marked as raising, the notebook too
    assert cells[0].metadata["papermill"]["status"] == "completed"
    assert cells[1].metadata["papermill"]["status"] == "failed"
    assert out.metadata["papermill"]["exception"] is True
    assert out.metadata["primehub_job"]["status"] == "succeeded"
    assert out.metadata["primehub_job"]["endedEarly"] == ended
    log = (tmp_path / "job.log").read_text()
    assert "ended early at cell 1" in log and "three" not in log
    message = json.loads((tmp_path / "termination-log").read_text())
    assert message == {"state": "succeeded", "endedEarly": ended}


@pytest.mark.parametrize("exit_line, evalue", [("sys.exit(1)", "1"), ("sys.exit('boom')", "boom")])
def test_sys_exit_with_a_code_or_message_fails(tmp_path, exit_line, evalue):
    _early_exit_notebook(tmp_path / "in.ipynb", exit_line)
    proc = _run(tmp_path, termination_log=str(tmp_path / "absent"))
    assert proc.wait(180) == 1
    status = read_status(tmp_path / "status.json")
    assert status["state"] == "failed" and status["endedEarly"] is None
    assert status["error"] == {"cellIndex": 1, "ename": "SystemExit", "evalue": evalue}
    assert status["reason"] == f"SystemExit: {evalue} (cell 1)"
    out = load_notebook_node(str(tmp_path / "out.ipynb"))
    assert "An Exception was encountered at" in out.cells[0].source
    assert out.metadata["primehub_job"]["endedEarly"] is None
    assert out.cells[-1].outputs == [] and out.cells[-1].execution_count is None
    # the termination message goes only into a file the kubelet created
    assert not (tmp_path / "absent").exists()


def test_error_ipython_prints_fails_with_its_name_on_the_failing_cell(tmp_path, notebook):
    # An unknown %magic: IPython prints "UsageError: ..." on stderr instead of raising, and
    # answers the execution with status error.
    notebook(tmp_path / "in.ipynb", "print('before')", "%no_such_magic now", "print('after')")
    proc = _run(tmp_path)
    assert proc.wait(180) == 1
    status = read_status(tmp_path / "status.json")
    assert status["state"] == "failed" and status["endedEarly"] is None
    message = "Line magic function `%no_such_magic` not found."
    assert status["error"] == {"cellIndex": 1, "ename": "UsageError", "evalue": message}
    out = load_notebook_node(str(tmp_path / "out.ipynb"))
    marker = next(i for i, c in enumerate(out.cells) if 'id="papermill-error-cell"' in c.source)
    failing = out.cells[marker + 1]
    assert failing.source == "%no_such_magic now"
    shown = "".join(o.get("text", "") for o in failing.outputs)
    assert f"UsageError: {message}" in shown
    assert failing.metadata["papermill"]["status"] == "failed"
    assert out.cells[-1].outputs == []


def _papermill(tmp_path, source, output, *args: str) -> int:
    papermill = Path(sys.executable).with_name("papermill")
    return subprocess.run(
        [str(papermill), str(source), str(output), "--no-progress-bar", *args],
        capture_output=True,
        timeout=240,
    ).returncode


@pytest.mark.parametrize(
    "last, code",
    [("print('done')", 0), ("import sys\nsys.exit(0)", 0), ("raise ValueError('bad')", 1)],
    ids=["succeeds", "ends-early", "fails"],
)
def test_notebook_metadata_matches_a_real_papermill_run(tmp_path, last, code):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell("alpha = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A report"),
        params,
        nbformat.v4.new_code_cell("print(alpha)"),
        nbformat.v4.new_code_cell(last),
        nbformat.v4.new_markdown_cell("## After"),
        nbformat.v4.new_code_cell("print('tail')"),
    ]
    source = tmp_path / "in.ipynb"
    nbformat.write(nb, str(source))
    ours_path, theirs_path = tmp_path / "out.ipynb", tmp_path / "papermill-out.ipynb"
    proc = _run(tmp_path, parameters={"alpha": 2}, cwd=str(tmp_path))
    assert proc.wait(180) == code
    assert (
        _papermill(tmp_path, source, theirs_path, "-p", "alpha", "2", "--cwd", str(tmp_path))
        == code
    )
    ours = load_notebook_node(str(ours_path))
    theirs = load_notebook_node(str(theirs_path))

    mine, pm_meta = ours.metadata["papermill"], theirs.metadata["papermill"]
    assert set(mine) == set(pm_meta)
    for key in pm_meta:
        assert type(mine[key]) is type(pm_meta[key]), key
    for key in (
        "parameters",
        "default_parameters",
        "environment_variables",
        "exception",
        "version",
    ):
        assert mine[key] == pm_meta[key], key
    assert mine["parameters"] == {"alpha": 2}
    assert mine["exception"] is (None if last == "print('done')" else True)
    assert (mine["input_path"], mine["output_path"]) == (str(source), str(ours_path))
    start, end = (datetime.fromisoformat(mine[k]) for k in ("start_time", "end_time"))
    assert start.utcoffset() == end.utcoffset() == timedelta(0)
    assert abs((end - start).total_seconds() - mine["duration"]) < 0.01
    assert 0 < mine["duration"] < 180

    # the same cells, each with papermill's record in the same state
    def cells(notebook):
        return [c for c in notebook.cells if "papermill-error-cell-tag" not in c.metadata.tags]

    assert len(cells(ours)) == len(cells(theirs)) == 7  # with the injected-parameters cell
    for a, b in zip(cells(ours), cells(theirs), strict=True):
        assert a.source == b.source
        assert set(a.metadata.papermill) == set(b.metadata.papermill)
        for key in ("status", "exception"):
            assert a.metadata.papermill[key] == b.metadata.papermill[key], (a.source, key)
        assert (a.metadata.papermill["duration"] is None) == (
            b.metadata.papermill["duration"] is None
        )
        if a.cell_type == "code":
            assert (a.execution_count is None) == (b.execution_count is None), a.source
            assert bool(a.outputs) == bool(b.outputs), a.source


def test_the_kernel_talks_over_private_ipc_sockets_and_the_log_has_no_tcp_warning(
    tmp_path, notebook
):
    """The kernel runs next to the executor: Unix sockets in a 0700 folder, not TCP ports other
    processes could reach, and no ipykernel "running over TCP without encryption" warning in
    what the user reads (the job log and the executor's own output, a pod's log)."""
    notebook(
        tmp_path / "in.ipynb",
        "import json, os\n"
        "from ipykernel.connect import get_connection_file\n"
        "info = json.load(open(get_connection_file()))\n"
        "folder = os.path.dirname(get_connection_file())\n"
        "print('transport', info['transport'], oct(os.stat(folder).st_mode & 0o777))\n"
        "print('folder', folder)",
    )
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "input": str(tmp_path / "in.ipynb"),
                "output": str(tmp_path / "out.ipynb"),
                "status_file": str(tmp_path / "status.json"),
                "log_file": str(tmp_path / "job.log"),
                "artifacts": str(tmp_path / "artifacts"),
                "job_id": "ipc",
            }
        )
    )
    proc = subprocess.run(
        executor_command(str(spec), (sys.executable, "-m", EXECUTOR_MODULE)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    log = (tmp_path / "job.log").read_text()
    assert proc.returncode == 0, proc.stdout + proc.stderr + log
    assert read_status(tmp_path / "status.json")["state"] == "succeeded"
    assert "transport ipc 0o700" in log
    for text in (log, proc.stdout, proc.stderr):
        assert "without encryption" not in text
    # the sockets' folder is removed with the kernel
    folder = log.split("folder ", 1)[1].splitlines()[0]
    assert folder and not Path(folder).exists()
