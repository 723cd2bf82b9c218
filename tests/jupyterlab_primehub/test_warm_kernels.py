"""Pre-started kernels for local jobs (PrimeHubApp.warm_kernels), with real servers and kernels.

A warm kernel must not change what a job sees: the notebook's folder as working directory (also
for imports), the job's environment, papermill-style parameters, a fresh kernel per job; cancel
kills it, and no warm kernel outlives the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from bench.jupyter_server import start_server
from jupyterlab_primehub.context import ServerContext
from jupyterlab_primehub.jobs.local import LocalJobRunner
from jupyterlab_primehub.jobs.model import JobRequest
from jupyterlab_primehub.jobs.service import ServerJobs
from jupyterlab_primehub.jobs.store import JobStore
from jupyterlab_primehub.jobs.warm import WarmPool, read_state
from primehub_jobs_contract.processes import is_alive
from primehub_jobs_contract.status import read_status

WAIT = 180


@pytest.fixture
def primehub_config(request):
    # one pre-started python3 kernel (the default, said here so the tests read on their own)
    return {"warm_kernels": 1, **getattr(request, "param", {})}


def warm_states(jobs_dir: Path) -> list[dict]:
    """State files of warm executors whose kernel answered and still runs."""
    states = [read_state(p) for p in sorted((jobs_dir / "warm").glob("*.json"))]
    return [s for s in states if s and is_alive(s["kernelPid"], s["kernelPidStart"])]


async def lab_opens(api) -> None:
    """What JupyterLab does when it opens: its jobs panel lists the jobs (the first use of the
    PrimeHub API, which starts the pre-started kernels)."""
    code, _ = await api.call("GET", "jobs")
    assert code == 200


async def wait_warm(jobs_dir: Path, *, other_than: set[int] = frozenset()) -> dict:
    """A ready warm kernel (not one of ``other_than``'s kernel PIDs)."""
    end = time.monotonic() + WAIT
    while True:
        ready = [s for s in warm_states(jobs_dir) if s["kernelPid"] not in other_than]
        if ready:
            return ready[0]
        assert time.monotonic() < end, "no warm kernel became ready"
        await asyncio.sleep(0.2)


async def wait_dead(*identities: tuple[int, int | None], timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while any(is_alive(*i) for i in identities) and time.monotonic() < end:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    alive = [i for i in identities if is_alive(*i)]
    assert not alive, f"still running: {alive}"


def outputs(nb) -> list[str]:
    return [
        "".join(o.get("text", "") for o in c.outputs) for c in nb.cells if c.cell_type == "code"
    ]


async def test_job_on_a_warm_kernel_sees_its_folder_env_and_parameters(
    api, jp_root_dir, jobs_dir, notebook
):
    await lab_opens(api)
    warm = await wait_warm(jobs_dir)
    folder = jp_root_dir / "proj" / "sub"
    folder.mkdir(parents=True)
    (folder / "input.txt").write_text("from the notebook's folder")
    (folder / "helper_mod.py").write_text("WHERE = 'helper next to the notebook'\n")
    notebook(
        folder / "nb.ipynb",
        "import json, os, subprocess, sys\n"
        "print(json.dumps({'cwd': os.getcwd(), 'id': os.environ.get('PRIMEHUB_JOB_ID'),"
        " 'artifacts': os.environ.get('PRIMEHUB_JOB_ARTIFACTS'), 'alpha': alpha,"
        " 'name': name, 'leftover': [k for k in globals() if 'primehub' in k]}))",
        "print(open('input.txt').read())",
        "import helper_mod\nprint(helper_mod.WHERE)",
        # a child process inherits the job's environment and folder too
        "print(subprocess.check_output(['sh', '-c', 'echo $PRIMEHUB_JOB_ID; pwd'], text=True))",
        parameters="alpha = 0.0\nname = 'default'",
    )
    job = await api.submit(path="proj/sub/nb.ipynb", parameters={"alpha": 0.5, "name": "warm"})
    done = await api.wait(job["id"])
    assert done["status"] == "succeeded", done
    status = read_status(jobs_dir / job["id"] / "status.json")
    assert status["kernelPid"] == warm["kernelPid"], "the job did not get the warm kernel"
    assert status["pid"] == warm["pid"], "the warm executor did not run the job"
    code, log = await api.call("GET", "jobs", job["id"], "log")
    assert "Using the pre-started kernel python3" in log

    out = nbformat.read(jp_root_dir / done["outputPath"], as_version=4)
    seen = json.loads(outputs(out)[2])
    assert seen["cwd"] == str(folder.resolve())
    assert seen["id"] == job["id"]
    assert seen["artifacts"] == str((jobs_dir / job["id"] / "artifacts").resolve())
    assert (seen["alpha"], seen["name"]) == (0.5, "warm")  # the injected cell won
    assert seen["leftover"] == [], "the set-up left names in the notebook's namespace"
    assert outputs(out)[3] == "from the notebook's folder\n"
    assert outputs(out)[4] == "helper next to the notebook\n"
    assert outputs(out)[5] == f"{job['id']}\n{folder.resolve()}\n\n"
    # papermill's injected cell, then the cells numbered from 1 as on a new kernel
    assert "injected-parameters" in out.cells[1].metadata["tags"]
    counts = [c.execution_count for c in out.cells if c.cell_type == "code"]
    assert counts == [1, 2, 3, 4, 5, 6]


async def test_two_jobs_never_share_a_kernel(api, jp_root_dir, jobs_dir, notebook):
    notebook(jp_root_dir / "set.ipynb", "secret = 42\nprint(secret)")
    notebook(jp_root_dir / "get.ipynb", "print('secret' in globals())")
    await lab_opens(api)
    first_warm = await wait_warm(jobs_dir)
    first = await api.wait((await api.submit(path="set.ipynb"))["id"])
    assert first["status"] == "succeeded", first
    first_status = read_status(jobs_dir / first["id"] / "status.json")
    assert first_status["kernelPid"] == first_warm["kernelPid"]
    await wait_dead((first_status["kernelPid"], first_status["kernelPidStart"]))

    # the next warm kernel was started after the hand-over; the second job gets that one
    second_warm = await wait_warm(jobs_dir, other_than={first_warm["kernelPid"]})
    second = await api.wait((await api.submit(path="get.ipynb"))["id"])
    assert second["status"] == "succeeded", second
    second_status = read_status(jobs_dir / second["id"] / "status.json")
    assert second_status["kernelPid"] == second_warm["kernelPid"] != first_status["kernelPid"]
    out = nbformat.read(jp_root_dir / second["outputPath"], as_version=4)
    assert outputs(out) == ["False\n"]


async def test_no_kernel_is_pre_started_until_the_jobs_api_is_used(api, jobs_dir, jp_serverapp):
    """A server nobody runs jobs from (a spawn storm, an API-only server) keeps no idle
    kernel: the pool fills at the first use of the PrimeHub API, as JupyterLab opening."""
    runner = jp_serverapp.web_app.settings["primehub_jobs"].backends["local"]
    errors = runner.tick_errors
    for _ in range(10):  # ten scheduling rounds (poll_interval 0.2 s) with no one using it
        runner.wake()
        await asyncio.sleep(0.2)
    assert runner.tick_errors == errors
    assert runner.warm.processes() == [] and warm_states(jobs_dir) == []
    await lab_opens(api)
    warm = await wait_warm(jobs_dir)
    assert [w.proc.pid for w in runner.warm.processes()] == [warm["pid"]]


@pytest.mark.parametrize("primehub_config", [{"warm_kernels": 0}], indirect=True)
async def test_pool_size_zero_starts_a_kernel_per_job(api, jp_root_dir, jobs_dir, notebook):
    folder = jp_root_dir / "cold"
    folder.mkdir()
    notebook(
        folder / "nb.ipynb",
        "import os\nprint(os.getcwd(), os.environ['PRIMEHUB_JOB_ID'], n)",
        parameters="n = 1",
    )
    job = await api.submit(path="cold/nb.ipynb", parameters={"n": 7})
    done = await api.wait(job["id"])
    assert done["status"] == "succeeded", done
    out = nbformat.read(jp_root_dir / done["outputPath"], as_version=4)
    assert outputs(out)[-1] == f"{folder.resolve()} {job['id']} 7\n"
    code, log = await api.call("GET", "jobs", job["id"], "log")
    assert "Starting kernel python3 in" in log and "pre-started" not in log
    assert not list((jobs_dir / "warm").glob("*.json")), "a warm kernel was started anyway"


async def test_cancel_kills_the_warm_kernel_of_the_job(api, jp_root_dir, jobs_dir, notebook):
    await lab_opens(api)
    warm = await wait_warm(jobs_dir)
    notebook(jp_root_dir / "long.ipynb", "print('first')", "import time\ntime.sleep(300)")
    job = await api.submit(path="long.ipynb")
    end = time.monotonic() + WAIT
    while (await api.job(job["id"]))["progress"]["done"] < 1:
        assert time.monotonic() < end
        await asyncio.sleep(0.2)
    status = read_status(jobs_dir / job["id"] / "status.json")
    assert status["kernelPid"] == warm["kernelPid"]
    kernel = (warm["kernelPid"], warm["kernelPidStart"])
    executor = (warm["pid"], warm["pidStart"])
    assert is_alive(*kernel)
    code, _ = await api.call("POST", "jobs", job["id"], "cancel")
    assert code == 200
    done = await api.wait(job["id"])
    assert (done["status"], done["reason"]) == ("cancelled", "Cancelled by user")
    await wait_dead(kernel, executor)


def _service(root: Path, jobs_dir: Path, warm_kernels: int) -> ServerJobs:
    store = JobStore(jobs_dir / "jobs.sqlite")
    runner = LocalJobRunner(
        store, jobs_dir, poll_interval=0.2, cancel_grace=5, warm_kernels=warm_kernels
    )
    return ServerJobs(
        root_dir=str(root),
        store=store,
        backends={"local": runner},
        default_backend="local",
        context=ServerContext.from_env({}),
        log=logging.getLogger("test"),
    )


async def test_stopping_the_runner_stops_its_warm_kernels_and_a_restart_reattaches(
    tmp_path, notebook
):
    root, jobs_dir = tmp_path / "root", tmp_path / "jobs"
    notebook(
        root / "nb.ipynb",
        # runs until the test creates 'go' (after the restart)
        "import pathlib, time\npathlib.Path('started').touch()\n"
        "while not pathlib.Path('go').exists():\n    time.sleep(0.1)",
        "print('done')",
    )
    service = _service(root, jobs_dir, warm_kernels=1)
    await service.start()
    service.in_use()
    warm = await wait_warm(jobs_dir)
    job = await service.submit(JobRequest(path="nb.ipynb"))
    end = time.monotonic() + WAIT
    while not (root / "started").exists():
        assert time.monotonic() < end
        await asyncio.sleep(0.2)
    refill = await wait_warm(jobs_dir, other_than={warm["kernelPid"]})
    await service.stop()
    # the waiting warm kernel and its executor are gone; the running job's are not
    await wait_dead(
        (refill["kernelPid"], refill["kernelPidStart"]), (refill["pid"], refill["pidStart"])
    )
    assert is_alive(warm["kernelPid"], warm["kernelPidStart"])
    assert not list((jobs_dir / "warm").glob("*.json"))

    again = _service(root, jobs_dir, warm_kernels=0)  # a restarted server re-attaches
    await again.start()
    (root / "go").touch()
    try:
        end = time.monotonic() + WAIT
        while (current := again.store.get(job.id)).status.value != "succeeded":
            assert not current.status.is_final, current
            assert time.monotonic() < end
            await asyncio.sleep(0.2)
    finally:
        await again.stop()
    await wait_dead((warm["kernelPid"], warm["kernelPidStart"]))


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_no_warm_kernel_outlives_the_server(tmp_path, how):
    """Stopped (SIGTERM) or killed (SIGKILL, no clean-up code runs): the warm executor sees
    the end of its stdin and stops its kernel."""
    jobs_dir = tmp_path / "jobs"
    server = start_server(
        tmp_path / "root", jobs_dir, config={"poll_interval": 0.2, "warm_kernels": 1}
    )
    try:
        end = time.monotonic() + WAIT
        while not (states := warm_states(jobs_dir)):
            assert time.monotonic() < end, server.log_tail()
            time.sleep(0.2)
        if how == "SIGTERM":
            server.stop()
        else:
            server.kill()
    finally:
        server.stop()
    state = states[0]
    identities = [(state["kernelPid"], state["kernelPidStart"]), (state["pid"], state["pidStart"])]
    end = time.monotonic() + 30
    while any(is_alive(*i) for i in identities) and time.monotonic() < end:
        time.sleep(0.2)
    alive = [i for i in identities if is_alive(*i)]
    for pid, _ in alive:  # do not leak them into other tests
        os.killpg(pid, signal.SIGKILL)
    assert not alive, f"left behind after {how}: {alive}"


def test_a_job_of_another_kernelspec_gets_a_new_kernel_and_the_warm_one_is_stopped(
    tmp_path, notebook, monkeypatch
):
    """The warm executor on its own: a job whose kernelspec is not the warm kernel's runs on a
    kernel it starts itself (in the notebook's folder), and the unused warm kernel is killed."""
    kernels = tmp_path / "share" / "kernels" / "other"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Other Python",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share"))
    folder = tmp_path / "work"
    notebook(folder / "nb.ipynb", "import os\nprint(os.getcwd())", kernel="other")
    state_file = tmp_path / "warm.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "primehub_executor.warm", "python3", str(state_file)],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        end = time.monotonic() + WAIT
        while not read_state(state_file):
            assert proc.poll() is None and time.monotonic() < end
            time.sleep(0.2)
        warm = read_state(state_file)
        spec = {
            "input": str(folder / "nb.ipynb"),
            "output": str(folder / "out.ipynb"),
            "status_file": str(tmp_path / "status.json"),
            "log_file": str(tmp_path / "job.log"),
            "job_id": "other-kernel",
        }
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        proc.communicate(f"{tmp_path / 'spec.json'}\n".encode(), timeout=WAIT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0
    status = read_status(tmp_path / "status.json")
    assert status["state"] == "succeeded", status
    assert status["kernelPid"] != warm["kernelPid"]
    assert not is_alive(warm["kernelPid"], warm["kernelPidStart"])
    log = (tmp_path / "job.log").read_text()
    assert "The pre-started kernel is not used (it is python3, the job wants other)" in log
    assert "Starting kernel other in" in log
    out = nbformat.read(folder / "out.ipynb", as_version=4)
    assert outputs(out) == [f"{folder}\n"]


def test_a_job_handed_over_before_its_kernel_answered_survives_a_restarted_servers_clean_up(
    tmp_path, notebook, monkeypatch
):
    """A job reaches a warm executor whose kernel is still starting (a loaded machine). The
    process is that job's executor from then on: it must not write a warm state file when the
    kernel answers, or the clean-up of the next server (after the first one was killed) kills
    the running job. Here the kernel takes 2 s to start, the job arrives at once, and a
    restarted server's clean-up runs while the job's cell runs."""
    kernels = tmp_path / "share" / "kernels" / "slowpy"
    kernels.mkdir(parents=True)
    launcher = f"sleep 2; exec {sys.executable} -m ipykernel_launcher -f $0"
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["sh", "-c", launcher, "{connection_file}"],
                "display_name": "Slow Python",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share"))
    folder = tmp_path / "work"
    notebook(
        folder / "nb.ipynb",
        "import pathlib, time\npathlib.Path('started').touch()\n"
        "while not pathlib.Path('go').exists():\n    time.sleep(0.1)\nprint('done')",
        kernel="slowpy",
    )
    warm_dir = tmp_path / "warm"
    warm_dir.mkdir()
    spec = {
        "input": str(folder / "nb.ipynb"),
        "output": str(folder / "out.ipynb"),
        "status_file": str(tmp_path / "status.json"),
        "log_file": str(tmp_path / "job.log"),
        "job_id": "early",
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.Popen(
        [sys.executable, "-m", "primehub_executor.warm", "slowpy", str(warm_dir / "s.json")],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        proc.stdin.write(f"{tmp_path / 'spec.json'}\n".encode())  # before the kernel answers
        proc.stdin.close()
        end = time.monotonic() + WAIT
        while not (folder / "started").exists():
            assert proc.poll() is None, (tmp_path / "job.log").read_text()
            assert time.monotonic() < end
            time.sleep(0.1)
        # the next server starts: it kills the warm executors that state files name
        WarmPool(
            warm_dir, count=1, kernels=["slowpy"], command=(), cwd=str(tmp_path)
        ).clean_leftovers()
        (folder / "go").touch()
        proc.wait(WAIT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    log = (tmp_path / "job.log").read_text()
    assert proc.returncode == 0, log
    assert read_status(tmp_path / "status.json")["state"] == "succeeded", log
    assert "Using the pre-started kernel slowpy" in log
    assert outputs(nbformat.read(folder / "out.ipynb", as_version=4)) == ["done\n"]
