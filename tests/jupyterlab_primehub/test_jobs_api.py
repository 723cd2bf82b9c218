"""Notebook jobs through the REST API of a real jupyter-server with real ipykernel kernels."""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from primehub_jobs_contract.processes import is_alive
from primehub_jobs_contract.status import read_status

JOB_TIMEOUT = 180


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


async def test_parameterised_notebook_runs_with_typed_parameters(
    api, jp_root_dir, jobs_dir, notebook
):
    folder = jp_root_dir / "proj"
    folder.mkdir()
    (folder / "input.txt").write_text("read from the notebook's folder")
    notebook(
        folder / "train.ipynb",
        "import json, os\nprint(json.dumps([alpha, name, flag, items, opts, nothing]))",
        "print(open('input.txt').read())",
        "open(os.path.join(os.environ['PRIMEHUB_JOB_ARTIFACTS'], 'model.txt'), 'w')"
        ".write(os.environ['PRIMEHUB_JOB_ID'])",
        parameters="alpha = 0.0\nname = 'default'\nflag = False\nitems = []\nopts = {}\n"
        "nothing = 1",
    )
    parameters = {
        "alpha": 0.25,
        "name": 'it\'s "run"',
        "flag": True,
        "items": [1, "two", None],
        "opts": {"depth": 3, "nested": {"ok": False}},
        "nothing": None,
    }
    job = await api.submit(path="proj/train.ipynb", parameters=parameters)
    assert job["status"] == "pending"
    assert job["name"] == "train"
    assert job["backend"] == "local"
    assert re.fullmatch(r"proj/train-\d{14}-[0-9a-f]{6}-output\.ipynb", job["outputPath"])

    done = await api.wait(job["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"] == {"done": 5, "total": 5}
    assert done["error"] is None
    assert done["startedAt"] and done["finishedAt"]

    out = nbformat.read(jp_root_dir / done["outputPath"], as_version=4)
    assert _tags(out.cells[0]) == ["parameters"]
    assert _tags(out.cells[1]) == ["injected-parameters"]
    printed = json.loads(out.cells[2].outputs[0]["text"])
    assert printed == [0.25, 'it\'s "run"', True, [1, "two", None], parameters["opts"], None]
    assert out.cells[3].outputs[0]["text"].strip() == "read from the notebook's folder"

    # Artifacts land in the job's own folder, and come back as a zip.
    assert (jobs_dir / job["id"] / "artifacts" / "model.txt").read_text() == job["id"]
    response = await api.fetch("primehub", "api", "jobs", job["id"], "artifacts")
    assert response.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
        assert archive.read("model.txt").decode() == job["id"]

    # The log has the cell output; the user's folder has only the output notebook added.
    code, log = await api.call("GET", "jobs", job["id"], "log")
    assert code == 200 and "read from the notebook's folder" in log
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["input.txt", "train.ipynb", Path(done["outputPath"]).name]
    )


async def test_snapshot_at_submit_time(api, jp_root_dir, notebook):
    nb = notebook(jp_root_dir / "edit.ipynb", "print('original')")
    job = await api.submit(path="edit.ipynb")
    notebook(nb, "print('edited later')")  # the job may not even have started yet
    done = await api.wait(job["id"])
    out = nbformat.read(jp_root_dir / done["outputPath"], as_version=4)
    assert out.cells[0].outputs[0]["text"] == "original\n"


async def test_failing_notebook_records_cell_and_error(api, jp_root_dir, notebook):
    notebook(
        jp_root_dir / "bad.ipynb",
        "x = 1",
        "print('before the error')",
        "raise ValueError('broken input')",
        "print('never runs')",
    )
    job = await api.submit(path="bad.ipynb", name="bad job")
    done = await api.wait(job["id"])
    assert done["status"] == "failed"
    assert done["error"] == {"cellIndex": 2, "ename": "ValueError", "evalue": "broken input"}
    assert done["progress"] == {"done": 2, "total": 4}
    out = nbformat.read(jp_root_dir / done["outputPath"], as_version=4)
    assert "An Exception was encountered at" in out.cells[0].source
    assert "In [3]" in out.cells[0].source
    marker = next(i for i, c in enumerate(out.cells) if 'id="papermill-error-cell"' in c.source)
    assert out.cells[marker + 1].source == "raise ValueError('broken input')"
    assert out.cells[marker + 1].outputs[0]["ename"] == "ValueError"
    assert out.cells[-1].outputs == []
    # Papermill's per-cell records: what ran, what failed, what never started.
    assert out.cells[marker - 1].metadata["papermill"]["status"] == "completed"
    assert out.cells[marker + 1].metadata["papermill"]["status"] == "failed"
    assert out.cells[-1].metadata["papermill"]["status"] == "pending"
    assert out.metadata["papermill"]["exception"] is True
    assert done["endedEarly"] is None


async def test_sys_exit_0_ends_the_job_early_and_it_succeeds(api, jp_root_dir, notebook):
    # papermill's rule: sys.exit(0) stops the notebook and the run succeeds
    notebook(
        jp_root_dir / "early.ipynb",
        "x = 1",
        "import sys\nif x:\n    print('nothing to do')\n    sys.exit(0)",
        "print('three')",
        "print('four')",
    )
    job = await api.submit(path="early.ipynb")
    done = await api.wait(job["id"])
    assert done["status"] == "succeeded", done
    assert done["endedEarly"] == {"cellIndex": 1, "ename": "SystemExit", "evalue": "0"}
    assert done["error"] is None and done["reason"] is None
    assert done["progress"] == {"done": 2, "total": 4}
    # the listing carries it too
    code, page = await api.call("GET", "jobs")
    assert code == 200
    listed = next(j for j in page["jobs"] if j["id"] == job["id"])
    assert listed["endedEarly"] == done["endedEarly"]

    out = nbformat.read(jp_root_dir / done["outputPath"], as_version=4)
    assert "This job ended early at" in out.cells[0].source
    note = next(i for i, c in enumerate(out.cells) if 'id="primehub-ended-early"' in c.source)
    exited = out.cells[note - 1]
    assert exited.source.endswith("sys.exit(0)")
    assert [o["text"] for o in exited.outputs if o["output_type"] == "stream"][0] == (
        "nothing to do\n"
    )
    for cell in out.cells[note + 1 :]:
        assert cell.outputs == [] and cell.execution_count is None
        assert cell.metadata["papermill"]["status"] == "pending"
    assert out.metadata["primehub_job"]["endedEarly"] == done["endedEarly"]
    assert out.metadata["papermill"]["exception"] is True  # as papermill writes it
    code, log = await api.call("GET", "jobs", job["id"], "log")
    assert "ended early at cell 1" in log and "three" not in log


async def test_sys_exit_1_fails_the_job_with_systemexit(api, jp_root_dir, notebook):
    notebook(jp_root_dir / "exit1.ipynb", "x = 1", "import sys\nsys.exit(1)", "print('three')")
    job = await api.submit(path="exit1.ipynb")
    done = await api.wait(job["id"])
    assert done["status"] == "failed"
    assert done["error"] == {"cellIndex": 1, "ename": "SystemExit", "evalue": "1"}
    assert done["endedEarly"] is None
    out = nbformat.read(jp_root_dir / done["outputPath"], as_version=4)
    assert "An Exception was encountered at" in out.cells[0].source


async def test_cell_timeout_and_job_deadline_fail_with_the_reason(api, jp_root_dir, notebook):
    notebook(jp_root_dir / "slow.ipynb", "x = 1", "import time\ntime.sleep(120)")
    by_cell = await api.submit(path="slow.ipynb", timeout=2)
    by_deadline = await api.submit(path="slow.ipynb", deadline=6)
    cell_done = await api.wait(by_cell["id"])
    assert cell_done["status"] == "failed"
    assert cell_done["error"]["ename"] == "CellTimeoutError"
    assert cell_done["error"]["cellIndex"] == 1
    assert "timed out after 2 s" in cell_done["reason"]
    deadline_done = await api.wait(by_deadline["id"])
    assert deadline_done["status"] == "failed"
    assert deadline_done["error"]["ename"] == "DeadlineExceeded"
    assert "deadline of 6 s exceeded" in deadline_done["reason"]


async def test_cancel_running_job_kills_kernel_and_keeps_partial_output(
    api, jp_root_dir, jobs_dir, notebook
):
    notebook(jp_root_dir / "long.ipynb", "print('first cell done')", "import time\ntime.sleep(300)")
    job = await api.submit(path="long.ipynb")
    status_file = jobs_dir / job["id"] / "status.json"
    for _ in range(JOB_TIMEOUT * 5):
        current = await api.job(job["id"])
        if current["progress"]["done"] >= 1:
            break
        await asyncio.sleep(0.2)
    # Cell output reaches the log while the job is still running.
    code, log = await api.call("GET", "jobs", job["id"], "log")
    assert code == 200 and "first cell done" in log
    assert (await api.job(job["id"]))["status"] == "running"
    status = read_status(status_file)
    kernel = (status["kernelPid"], status["kernelPidStart"])
    executor = (status["pid"], status["pidStart"])
    assert is_alive(*kernel)

    code, cancelled = await api.call("POST", "jobs", job["id"], "cancel")
    assert code == 200
    done = await api.wait(job["id"])
    assert done["status"] == "cancelled"
    assert done["reason"] == "Cancelled by user"
    for _ in range(150):
        if not is_alive(*kernel) and not is_alive(*executor):
            break
        await asyncio.sleep(0.2)
    assert not is_alive(*kernel), "the kernel survived the cancel"
    assert not is_alive(*executor)
    out = nbformat.read(jp_root_dir / done["outputPath"], as_version=4)
    assert out.cells[0].outputs[0]["text"] == "first cell done\n"

    code, body = await api.call("POST", "jobs", job["id"], "cancel")
    assert code == 409 and "already cancelled" in body["message"]


@pytest.fixture
def primehub_config(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("primehub_config", [{"max_concurrent_jobs": 2}], indirect=True)
async def test_eight_jobs_run_at_most_two_at_a_time(
    api, jp_root_dir, jobs_dir, jp_serverapp, notebook
):
    notebook(jp_root_dir / "quick.ipynb", "import time\ntime.sleep(0.3)")
    jobs = [await api.submit(path="quick.ipynb", name=f"q{n}") for n in range(8)]
    finished = [await api.wait(job["id"], timeout=600) for job in jobs]
    assert [j["status"] for j in finished] == ["succeeded"] * 8

    # Use the executors' own start/end records, not timing from the test.
    events = []
    starts = []
    for job in jobs:
        status = read_status(jobs_dir / job["id"] / "status.json")
        events += [(status["startedAt"], 1), (status["finishedAt"], -1)]
        starts.append(next(f["startedAt"] for f in finished if f["id"] == job["id"]))
    running = peak = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        running += delta
        peak = max(peak, running)
    assert peak == 2
    # The runner records when it launched each executor: launches follow submission order.
    assert starts == sorted(starts), "jobs did not start in FIFO order"
    # Queued and running jobs count as server activity (the idle culler leaves the server alone).
    assert "primehub_jobs_last_activity" in jp_serverapp.web_app.settings
    assert (
        jp_serverapp.web_app.last_activity()
        >= jp_serverapp.web_app.settings["primehub_jobs_last_activity"]
    )


async def test_listing_filters_paginates_and_deletes(api, jp_root_dir, jobs_dir, notebook):
    notebook(jp_root_dir / "ok.ipynb", "1")
    notebook(jp_root_dir / "bad.ipynb", "1/0")
    ids = []
    for path in ("ok.ipynb", "bad.ipynb", "ok.ipynb"):
        ids.append((await api.submit(path=path))["id"])
    for job_id in ids:
        await api.wait(job_id)

    code, page = await api.call("GET", "jobs", params={"limit": "2", "offset": "0"})
    assert code == 200 and page["total"] == 3
    assert [j["id"] for j in page["jobs"]] == [ids[2], ids[1]]
    code, page = await api.call("GET", "jobs", params={"status": "failed"})
    assert page["total"] == 1 and page["jobs"][0]["id"] == ids[1]
    code, body = await api.call("GET", "jobs", params={"status": "done"})
    assert code == 400 and "pending, preparing, running" in body["message"]

    output = jp_root_dir / (await api.job(ids[0]))["outputPath"]
    code, _ = await api.call("DELETE", "jobs", ids[0])
    assert code == 204
    assert not (jobs_dir / ids[0]).exists()
    assert output.exists(), "deleting a job keeps its output notebook"
    code, body = await api.call("GET", "jobs", ids[0])
    assert code == 404 and ids[0] in body["message"]


async def test_parameters_for_a_kernel_without_translator(api, jp_root_dir, notebook):
    notebook(jp_root_dir / "echo.ipynb", "hello", kernel="echo")
    code, body = await api.call("POST", "jobs", body={"path": "echo.ipynb", "parameters": {"a": 1}})
    assert code == 400
    assert "kernel language 'echo'" in body["message"] and "python" in body["message"]


@pytest.mark.parametrize("primehub_config", [{"max_concurrent_jobs": 1}], indirect=True)
async def test_cancel_pending_job_never_starts(api, jp_root_dir, notebook):
    notebook(jp_root_dir / "long.ipynb", "import time\ntime.sleep(300)")
    running = await api.submit(path="long.ipynb")
    queued = await api.submit(path="long.ipynb")
    await api.wait(running["id"], "running")
    assert (await api.job(queued["id"]))["status"] == "pending"
    code, job = await api.call("POST", "jobs", queued["id"], "cancel")
    assert code == 200 and job["status"] == "cancelled" and job["startedAt"] is None
    await api.call("POST", "jobs", running["id"], "cancel")
    assert (await api.wait(running["id"]))["status"] == "cancelled"
    assert (await api.job(queued["id"]))["startedAt"] is None
    assert not (jp_root_dir / queued["outputPath"]).exists()
