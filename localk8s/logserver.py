"""The node's "kubelet" HTTPS endpoint, so ``kubectl logs`` and the pod log API work.

The API server proxies ``pods/log`` to ``https://<InternalIP>:<kubeletEndpoint.Port>/containerLogs/
<namespace>/<pod>/<container>``. It verifies this endpoint with the cluster CA and authenticates
with its kubelet client certificate, which this server requires.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from localk8s.podruntime import PodRunner


def tail_bytes(data: bytes, lines: int) -> bytes:
    """The last ``lines`` lines of ``data``."""
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


class LogServer:
    """Serves container logs of the pods the agent runs."""

    def __init__(self, find: Callable[[str, str], PodRunner | None]) -> None:
        self._find = find

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.logs)
        app.router.add_get("/healthz", lambda _r: web.Response(text="ok"))
        return app

    async def logs(self, request: web.Request) -> web.StreamResponse:
        """GET /containerLogs/{ns}/{pod}/{container}?follow&tailLines&limitBytes&previous."""
        ns, name, cname = (request.match_info[k] for k in ("ns", "pod", "container"))
        runner = self._find(ns, name)
        container = runner.container(cname) if runner else None
        if runner is None or container is None:
            raise web.HTTPNotFound(text=f"container {cname} in pod {ns}/{name} is not on this node")
        q = request.query
        previous = q.get("previous") in ("true", "1")
        path: Path = runner.log_path(cname, previous=previous)
        data = await asyncio.to_thread(_read_from, path, 0)
        if data is None:
            if previous:
                raise web.HTTPBadRequest(text=f"previous terminated container {cname} not found")
            data = b""
        limit = int(q["limitBytes"]) if q.get("limitBytes", "").isdigit() else None
        offset = len(data)
        if q.get("tailLines", "").lstrip("-").isdigit():
            data = tail_bytes(data, int(q["tailLines"]))
        if limit is not None:
            data = data[:limit]
        follow = q.get("follow") in ("true", "1") and not previous
        if not follow:
            return web.Response(body=data, content_type="text/plain")
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        await resp.write(data)
        sent = len(data)
        # Like kubelet: the stream ends when the followed container instance terminates.
        while limit is None or sent < limit:
            ended = (not container.running and container.exit_code is not None) or (
                runner.stopping or runner.finished.is_set()
            )
            chunk = await asyncio.to_thread(_read_from, path, offset) or b""
            offset += len(chunk)
            if limit is not None:
                chunk = chunk[: limit - sent]
            if chunk:
                await resp.write(chunk)
                sent += len(chunk)
            elif ended:
                break
            else:
                await asyncio.sleep(0.2)
        await resp.write_eof()
        return resp


def _read_from(path: Path, offset: int) -> bytes | None:
    """Bytes of ``path`` from ``offset`` on (None if the file does not exist)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read()
    except FileNotFoundError:
        return None


def server_ssl(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """TLS context that requires a client certificate signed by the cluster CA."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
