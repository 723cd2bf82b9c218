"""The job event stream (``GET /primehub/api/jobs/events``) on a real jupyter server with real
kernels: the lab learns a job's end from the server's push, not from a poll.

The runner's poll interval is set to 10 minutes here, so a job can only be seen starting and
ending through the push path: a submit wakes the scheduler, the executor's exit wakes it again
(a pidfd on the event loop), and each change goes out on the stream at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyterlab_primehub.jobs.events import KEEPALIVE, JobEvents
from jupyterlab_primehub.jobs.exits import ExitWatcher
from primehub_jobs_contract.errors import TooMany
from primehub_jobs_contract.processes import process_start_time
from primehub_jobs_contract.status import read_status

JOB_TIMEOUT = 180  # generous: kernels start slowly on a loaded 2-core machine


@pytest.fixture
def primehub_config() -> dict[str, Any]:
    return {"poll_interval": 600.0}


class EventStream:
    """A raw HTTP/1.0 client of the event stream (the body is the SSE text until close)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = ""

    @classmethod
    async def open(cls, port: int, path: str, headers: dict[str, str]) -> EventStream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        lines = [f"GET {path} HTTP/1.0", "Host: 127.0.0.1", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        stream = cls(reader, writer)
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        status_line, *header_lines = head.strip().split("\r\n")
        stream.status = int(status_line.split()[1])
        for line in header_lines:
            name, _, value = line.partition(":")
            stream.headers[name.strip().lower()] = value.strip()
        return stream

    async def rest(self) -> str:
        """The whole remaining body (for an error answer)."""
        return (await asyncio.wait_for(self.reader.read(), 30)).decode()

    async def event(self, timeout: float = JOB_TIMEOUT) -> tuple[str, Any]:
        """The next event (name, data); comments (keep-alives) are skipped."""
        while True:
            block, sep, after = self.body.partition("\n\n")
            if sep:
                self.body = after
                name, data = "message", []
                for line in block.split("\n"):
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                if data:
                    return name, json.loads("\n".join(data))
                continue
            chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
            assert chunk, "the server closed the event stream"
            self.body += chunk.decode()

    async def until(self, job_id: str, status: str) -> list[dict[str, Any]]:
        """Job events of ``job_id`` up to the first with ``status`` (all of them, in order)."""
        seen: list[dict[str, Any]] = []
        while True:
            name, data = await self.event()
            if name == "job" and data["id"] == job_id:
                seen.append(data)
                if data["status"] == status:
                    return seen

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
def events_url(jp_base_url: str) -> str:
    return f"{jp_base_url}primehub/api/jobs/events"


async def test_stream_pushes_start_and_end_of_a_job(
    api: Any, notebook: Any, jp_root_dir: Path, jp_http_port: int, jp_auth_header: Any,
    events_url: str, jobs_dir: Path,
) -> None:  # fmt: skip
    notebook(jp_root_dir / "team" / "two.ipynb", "x = 1", "print(x + 1)")
    stream = await EventStream.open(jp_http_port, events_url, jp_auth_header)
    try:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert await stream.event() == ("ready", {"live": ["local"]})
        job = await api.submit(path="team/two.ipynb")
        seen = await stream.until(job["id"], "succeeded")
        # submitted, then started (pushed by the runner), then the end (the executor's exit)
        assert [e["status"] for e in seen][:2] == ["pending", "running"]
        end = seen[-1]
        assert end["progress"] == {"done": 2, "total": 2}
        assert end["finishedAt"]
        # the pushed end is the executor's own final word, and the REST API agrees
        assert read_status(jobs_dir / job["id"] / "status.json")["state"] == "succeeded"
        assert (await api.job(job["id"]))["status"] == "succeeded"
        code, _ = await api.call("DELETE", "jobs", job["id"])
        assert code == 204
        assert await stream.event() == ("deleted", {"id": job["id"]})
    finally:
        stream.close()


async def test_stream_pushes_a_failed_job_with_its_error(
    api: Any, notebook: Any, jp_root_dir: Path, jp_http_port: int, jp_auth_header: Any,
    events_url: str,
) -> None:  # fmt: skip
    notebook(jp_root_dir / "team" / "bad.ipynb", "1 / 0")
    stream = await EventStream.open(jp_http_port, events_url, jp_auth_header)
    try:
        await stream.event()  # ready
        job = await api.submit(path="team/bad.ipynb")
        end = (await stream.until(job["id"], "failed"))[-1]
        assert end["error"]["ename"] == "ZeroDivisionError"
    finally:
        stream.close()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "token not-the-token"}],
    ids=["no token", "wrong token"],
)
async def test_stream_refuses_who_may_not_use_the_server(
    headers: dict[str, str], api: Any, notebook: Any, jp_root_dir: Path, jp_http_port: int,
    events_url: str,
) -> None:  # fmt: skip
    notebook(jp_root_dir / "team" / "one.ipynb", "x = 1")
    stream = await EventStream.open(jp_http_port, events_url, headers)
    try:
        assert stream.status == 403
        await api.submit(path="team/one.ipynb")  # a job exists, and none of it leaks
        body = await stream.rest()
        assert "event:" not in body and "team/one" not in body
    finally:
        stream.close()


async def test_open_streams_are_capped_and_a_closed_one_frees_its_place(
    api: Any, jp_serverapp: Any, jp_http_port: int, jp_auth_header: Any, events_url: str
) -> None:
    events = jp_serverapp.web_app.settings["primehub_jobs"].events
    events.max_streams = 2
    # a closed connection is noticed at the next write: a keep-alive comes soon here
    jp_serverapp.web_app.settings["primehub_events_keepalive"] = 0.1
    first = await EventStream.open(jp_http_port, events_url, jp_auth_header)
    second = await EventStream.open(jp_http_port, events_url, jp_auth_header)
    try:
        await first.event()
        await second.event()
        third = await EventStream.open(jp_http_port, events_url, jp_auth_header)
        assert third.status == 429
        message = json.loads(await third.rest())["message"]
        assert "Too many open job event streams (2)" in message
        first.close()
        for _ in range(600):  # until the server notices the closed connection (a keep-alive)
            if events.open_streams == 1:
                break
            await asyncio.sleep(0.05)
        assert events.open_streams == 1
        again = await EventStream.open(jp_http_port, events_url, jp_auth_header)
        assert again.status == 200
        assert (await again.event())[0] == "ready"
        again.close()
    finally:
        first.close()
        second.close()


async def test_keepalive_comments_on_a_quiet_stream(
    api: Any, jp_serverapp: Any, jp_http_port: int, jp_auth_header: Any, events_url: str
) -> None:
    jp_serverapp.web_app.settings["primehub_events_keepalive"] = 0.05
    stream = await EventStream.open(jp_http_port, events_url, jp_auth_header)
    try:
        await stream.event()
        while KEEPALIVE not in stream.body:
            stream.body += (await asyncio.wait_for(stream.reader.read(65536), 30)).decode()
    finally:
        stream.close()


# -- the pieces, without a server ----------------------------------------------------------------
class _Job:
    def __init__(self, job_id: str) -> None:
        self.id = job_id

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": "running"}


async def test_a_stream_too_slow_to_keep_up_is_ended_not_grown() -> None:
    events = JobEvents(max_streams=2, queue_size=3)
    slow = events.open()
    for i in range(10):
        events.job_changed(_Job(f"{i:012x}"))
    assert slow.closed and events.open_streams == 0
    texts = [await slow.next(1) for _ in range(3)]
    assert texts[-1] is None  # what fitted, then the end: the lab reconnects and lists again
    assert all(t and t.startswith("event: job\n") for t in texts[:-1])


async def test_cap_is_a_429_with_a_message() -> None:
    events = JobEvents(max_streams=1)
    events.open()
    with pytest.raises(TooMany) as refused:
        events.open()
    assert refused.value.status_code == 429


async def test_closing_ends_every_stream() -> None:
    events = JobEvents()
    stream = events.open()
    events.job_deleted("0123456789ab")
    events.close()
    assert await stream.next(1) == 'event: deleted\ndata: {"id":"0123456789ab"}\n\n'
    assert await stream.next(1) is None


@pytest.fixture
def child() -> Any:
    """A process that runs until its stdin is closed."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


async def test_exit_watcher_reports_a_process_exit(child: Any) -> None:
    exited = asyncio.Event()
    watcher = ExitWatcher(exited.set)
    proc = child
    try:
        assert watcher.watch("job", proc.pid, process_start_time(proc.pid))
        assert not exited.is_set()
        proc.stdin.close()  # the process ends now
        await asyncio.wait_for(exited.wait(), 30)
        assert not watcher.watching("job")
        # not reaped by the watcher: the runner still gets the exit code
        waited = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)  # noqa: ASYNC222
        assert waited is not None and waited.si_status == 0
    finally:
        watcher.close()


async def test_exit_watcher_does_not_watch_a_reused_pid(child: Any) -> None:
    exited = asyncio.Event()
    watcher = ExitWatcher(exited.set)
    proc = child
    try:
        # a recorded start time that is not this process's: it is not the job's executor
        assert not watcher.watch("job", proc.pid, 1)
        await asyncio.wait_for(exited.wait(), 30)  # so the runner looks at the job now
    finally:
        watcher.close()
