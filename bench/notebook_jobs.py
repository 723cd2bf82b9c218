"""Notebook jobs: our executor (REST API of a real jupyter server) vs papermill vs nbconvert.

The same 10-cell notebook with a ``parameters`` cell runs, alternating between four: our server
with a pre-started kernel (``warm_kernels=1``, the default), a second server with them off
(``warm_kernels=0``: kernel start included, as for papermill and nbconvert), papermill and
nbconvert; each run from request to finished output notebook. Before every measured run the
warm server's next kernel must be ready, so its start never overlaps a measurement (ours or a
peer's). The memory (RSS) a waiting warm kernel and its executor cost is read from /proc. Then
50 one-cell jobs go through the local runner with concurrency 2, against the same jobs one by
one. Last, what the jobs panel sees: the executor's end to 'succeeded' on the lab's event
stream (``bench/job_events.py``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import nbformat

from bench.job_events import lab_push_latency
from bench.jupyter_server import start_server
from bench.report import Row, Section, median
from jupyterlab_primehub.jobs.warm import read_state
from primehub_jobs_contract.processes import is_alive

PARAMETERS = {"n": 20000, "label": "bench"}
CELLS = [
    "import json, math, statistics",
    "values = [math.sin(i) for i in range(n)]",
    "total = sum(values)\nprint(label, round(total, 6))",
    "squares = [v * v for v in values]",
    "print(statistics.fmean(squares))",
    "data = {'label': label, 'n': n, 'total': total}",
    "encoded = json.dumps(data)\nprint(encoded)",
    "words = ' '.join(str(i) for i in range(200))\nlen(words)",
    "assert n > 0 and isinstance(label, str)",
]


def write_notebook(path: Path, cells: list[str], parameters: str) -> Path:
    """A python3 notebook: a ``parameters``-tagged cell, then ``cells``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    first = nbformat.v4.new_code_cell(parameters)
    first.metadata["tags"] = ["parameters"]
    nb.cells = [first, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(nb, str(path))
    return path


def wait_warm(jobs_dir: Path, timeout: float = 120) -> dict:
    """Wait until a warm kernel of the server is ready; its state (PIDs)."""
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted((jobs_dir / "warm").glob("*.json")):
            state = read_state(path)
            if state and is_alive(state.get("kernelPid"), state.get("kernelPidStart")):
                return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"no warm kernel ready in {jobs_dir} after {timeout:.0f}s")
        time.sleep(0.05)


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _timed_job(server, parameters: dict) -> float:
    start = time.perf_counter()
    job = server.submit(path="ten.ipynb", parameters=parameters)
    done = server.wait(job["id"])
    elapsed = time.perf_counter() - start
    if done["status"] != "succeeded":
        raise RuntimeError(f"our job failed: {done}")
    return elapsed


def _cli(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> Section:
    """Measure and return the section."""
    repeat = max(1, args.repeat)
    small = max(2, args.small_jobs)
    bindir = Path(sys.executable).parent
    section = Section("jobs", "Notebook jobs: our executor vs papermill vs nbconvert")
    with TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        write_notebook(root / "ten.ipynb", CELLS, "n = 1000\nlabel = 'default'")
        write_notebook(root / "small.ipynb", ["x * 2"], "x = 1")
        jobs_dir = Path(tmp) / "jobs"
        server = start_server(root, jobs_dir, config={"max_concurrent_jobs": 2, "warm_kernels": 1})
        cold_server = start_server(
            root, Path(tmp) / "jobs-cold", config={"max_concurrent_jobs": 2, "warm_kernels": 0}
        )
        try:
            ours, cold, pm, nbc = [], [], [], []
            kernel_rss, executor_rss = [], []
            pm_args = []
            for k, v in PARAMETERS.items():
                pm_args += ["-p", k, str(v)]
            # one unmeasured run of each warms the OS caches and kernel spec lookups
            for i in range(repeat + 1):
                warm = wait_warm(jobs_dir)
                kernel_rss.append(rss_mib(warm["kernelPid"]))
                executor_rss.append(rss_mib(warm["pid"]))
                elapsed = _timed_job(server, PARAMETERS)
                wait_warm(jobs_dir)  # the next warm kernel starts now: not during the others
                t_cold = _timed_job(cold_server, PARAMETERS)
                t_pm = _cli(
                    str(bindir / "papermill"), "ten.ipynb", f"pm-{i}.ipynb", *pm_args,
                    "-k", "python3", "--no-progress-bar", cwd=root,
                )  # fmt: skip
                t_nbc = _cli(
                    str(bindir / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                    "ten.ipynb", "--output", f"nbc-{i}.ipynb", cwd=root,
                )  # fmt: skip
                if i:
                    ours.append(elapsed)
                    cold.append(t_cold)
                    pm.append(t_pm)
                    nbc.append(t_nbc)

            cold_server.stop()
            wait_warm(jobs_dir)
            start = time.perf_counter()
            ids = [
                server.submit(path="small.ipynb", parameters={"x": i})["id"] for i in range(small)
            ]
            finals = [server.wait(j, timeout=60 * small) for j in ids]
            concurrent = time.perf_counter() - start
            start = time.perf_counter()
            serial_finals = []
            for i in range(small):
                serial_finals.append(
                    server.wait(server.submit(path="small.ipynb", parameters={"x": i})["id"])
                )
            serial = time.perf_counter() - start
            bad = [j for j in finals + serial_finals if j["status"] != "succeeded"]
            if bad:
                raise RuntimeError(f"{len(bad)} small jobs did not succeed, e.g. {bad[0]}")
        finally:
            server.stop()
            cold_server.stop()
    section.rows = [
        Row("10-cell notebook, submit to succeeded (pre-started kernel)", median(ours),
            median(pm), peer_name="papermill"),
        Row("10-cell notebook, submit to succeeded (warm_kernels=0)", median(cold),
            median(pm), peer_name="papermill"),
        Row("10-cell notebook, submit to succeeded (pre-started kernel)", median(ours),
            median(nbc), peer_name="nbconvert --execute",
            note="nbconvert cannot inject parameters"),
        Row("memory of a waiting pre-started kernel (RSS)", median(kernel_rss), unit="MiB",
            note=f"its waiting executor: {median(executor_rss):.0f} MiB more"),
        Row(f"{small} small jobs, concurrency 2 (total)", concurrent, serial,
            peer_name="same jobs one by one"),
    ]  # fmt: skip
    section.details = {
        "repeat": repeat,
        "small_jobs": small,
        "samples": {
            "ours": ours,
            "ours_warm_kernels_0": cold,
            "papermill": pm,
            "nbconvert": nbc,
            "warm_kernel_rss_mib": kernel_rss,
            "warm_executor_rss_mib": executor_rss,
        },
        "server_poll_interval": "PrimeHubApp.poll_interval default (1 s)",
        "client_poll_interval": 0.05,
    }
    # What the jobs panel sees: the executor's end -> 'succeeded' on the lab's event stream.
    push_row, push_samples = lab_push_latency(write_notebook, CELLS, PARAMETERS, repeat)
    section.rows.append(push_row)
    section.details["samples"]["lab_push"] = push_samples
    return section
