"""Job change events for the lab's event stream (``GET /primehub/api/jobs/events``).

``JobEvents`` fans each change out to the open streams as server-sent-event text: a job that
was submitted, started, made progress, ended or was cancelled (``event: job``, the job as the
REST API shows it) and a deleted job (``event: deleted``, ``{"id"}``). A stream that cannot
keep up (its queue is full) is ended instead of growing without bound; the lab then reconnects
and lists the jobs again. At most ``max_streams`` streams are open at once.

Pure asyncio and no I/O: the handler writes the text, the backends and ``ServerJobs`` publish.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from primehub_jobs_contract.errors import TooMany

DEFAULT_MAX_STREAMS = 8
DEFAULT_QUEUE_SIZE = 256
RETRY_MS = 3000  # what the client waits before reconnecting (the SSE ``retry:`` field)


def sse(event: str, data: Any) -> str:
    """One server-sent event: ``event: <name>`` and the data as one line of JSON."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


KEEPALIVE = ": keep-alive\n\n"  # a comment line: proxies and the client see the stream alive


class Stream:
    """One subscriber: the events published since it opened, in order."""

    def __init__(self, owner: JobEvents, size: int) -> None:
        self._owner = owner
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(size)
        self.closed = False

    def put(self, text: str) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:  # a reader this slow lists the jobs again when it reconnects
            self.close()

    async def next(self, timeout: float) -> str | None:
        """The next event's text; ``KEEPALIVE`` after ``timeout`` seconds of quiet; None once
        the stream is closed (dropped for being slow, or the server stops)."""
        if self.closed and self._queue.empty():
            return None
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None if self.closed else KEEPALIVE

    def close(self) -> None:
        """End the stream; the reader gets None after what was queued before."""
        if self.closed:
            return
        self.closed = True
        self._owner._streams.discard(self)
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:  # full: drop one event so the end marker fits
            self._queue.get_nowait()
            self._queue.put_nowait(None)


class JobEvents:
    """Publishes job changes to at most ``max_streams`` open streams."""

    def __init__(
        self,
        max_streams: int = DEFAULT_MAX_STREAMS,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        live_backends: tuple[str, ...] = ("local",),
    ) -> None:
        self.max_streams = max_streams
        self.queue_size = queue_size
        #: backends whose every change is published as it happens; changes of the others
        #: (e.g. the hub's Kubernetes jobs, learned by polling the hub) the lab keeps polling for
        self.live_backends = live_backends
        self._streams: set[Stream] = set()

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def open(self) -> Stream:
        """A new stream, or TooMany when ``max_streams`` are open (the lab then polls)."""
        if len(self._streams) >= self.max_streams:
            raise TooMany(
                f"Too many open job event streams ({self.max_streams}); close other JupyterLab "
                "tabs of this server. This tab refreshes the jobs by polling meanwhile."
            )
        stream = Stream(self, self.queue_size)
        self._streams.add(stream)
        return stream

    def hello(self) -> str:
        """The first event of a stream: reconnect delay, and whose changes are pushed."""
        return f"retry: {RETRY_MS}\n" + sse("ready", {"live": list(self.live_backends)})

    def job_changed(self, job: Any) -> None:
        """Publish a job's current record (anything with ``to_json()``)."""
        if self._streams:
            self._publish(sse("job", job.to_json()))

    def job_deleted(self, job_id: str) -> None:
        if self._streams:
            self._publish(sse("deleted", {"id": job_id}))

    def _publish(self, text: str) -> None:
        for stream in list(self._streams):
            stream.put(text)

    def close(self) -> None:
        """End every stream (the server stops)."""
        for stream in list(self._streams):
            stream.close()
