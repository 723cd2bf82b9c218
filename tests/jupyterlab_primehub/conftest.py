"""Fixtures for the server extension tests (run with ``-p pytest_jupyter.jupyter_server``)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest

JOB_TIMEOUT = 180  # generous: kernels start slowly on a loaded 2-core machine


def write_notebook(
    path: Path, *cells: str, parameters: str | None = None, kernel: str = "python3"
) -> Path:
    """A notebook of code cells; ``parameters`` becomes a cell tagged ``parameters`` first."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def jobs_dir(tmp_path: Path) -> Path:
    return tmp_path / "jobs"


@pytest.fixture
def primehub_config() -> dict[str, Any]:
    """Extra PrimeHubApp traits for one test (override in a test module)."""
    return {}


@pytest.fixture
def server_env() -> dict[str, str]:
    """Environment variables set before the server starts (override in a test module)."""
    return {}


@pytest.fixture
def jp_server_config(
    jobs_dir: Path,
    primehub_config: dict[str, Any],
    server_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    for key, value in server_env.items():
        monkeypatch.setenv(key, value)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterlab_primehub": True}},
        "PrimeHubApp": {
            "jobs_dir": str(jobs_dir),
            "poll_interval": 0.2,
            "cancel_grace_period": 5.0,
            # A pre-started kernel (the default, 1) costs every test server a kernel start and
            # stop, most of the time of a test that runs no job: off here, on in the tests of
            # warm kernels (test_warm_kernels.py), the fault tests and the servers on the
            # cluster, which run the default.
            "warm_kernels": 0,
            **primehub_config,
        },
    }


class Api:
    """Small JSON client over jp_fetch that never raises on HTTP errors."""

    def __init__(self, fetch: Any) -> None:
        self.fetch = fetch

    async def call(
        self, method: str, *parts: str, body: Any = None, raw: bytes | None = None, **kw: Any
    ) -> tuple[int, Any]:
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        if raw is None and method in ("POST", "PUT"):
            raw = b""
        response = await self.fetch(
            "primehub", "api", *parts, method=method, body=raw, raise_error=False, **kw
        )
        text = response.body.decode() if response.body else ""
        ctype = response.headers.get("Content-Type", "")
        data = json.loads(text) if text and "json" in ctype else text
        return response.code, data

    async def submit(self, **body: Any) -> dict[str, Any]:
        code, data = await self.call("POST", "jobs", body=body)
        assert code == 201, data
        return data

    async def job(self, job_id: str) -> dict[str, Any]:
        code, data = await self.call("GET", "jobs", job_id)
        assert code == 200, data
        return data

    async def wait(self, job_id: str, *states: str, timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
        """Poll until the job reaches one of ``states`` (default: any final state)."""
        states = states or ("succeeded", "failed", "cancelled")
        end = time.monotonic() + timeout
        while True:
            job = await self.job(job_id)
            if job["status"] in states:
                return job
            assert time.monotonic() < end, f"job stuck in {job['status']}: {job}"
            await asyncio.sleep(0.2)


@pytest.fixture
def api(jp_fetch: Any, jp_serverapp: Any) -> Iterator[Api]:
    """JSON client for /primehub/api/ on the test server.

    Also fails the test if the server's job scheduler hit an unexpected error.
    """
    yield Api(jp_fetch)
    service = jp_serverapp.web_app.settings["primehub_jobs"]
    errors = {name: b.tick_errors for name, b in service.backends.items() if b.tick_errors}
    assert not errors, f"job scheduler errors (see the log): {errors}"


@pytest.fixture
def notebook() -> Any:
    """The ``write_notebook`` helper, as a fixture (test modules do not import conftest)."""
    return write_notebook


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def no_scheduler_errors(logger_name: str) -> Iterator[None]:
    """The job scheduler logs and survives unexpected errors; in tests they are failures."""
    collect = _Collect()
    logger = logging.getLogger(logger_name)
    logger.addHandler(collect)
    try:
        yield
    finally:
        logger.removeHandler(collect)
    failures = [m for m in collect.messages if "scheduler tick failed" in m]
    assert not failures, failures[0]


@pytest.fixture(autouse=True)
def no_scheduler_errors_in_services() -> Iterator[None]:
    """For ServerJobs instances built by tests (they log to the "test" logger)."""
    with no_scheduler_errors("test"):
        yield
