"""Client-side count of the Kubernetes API requests a JupyterHub process makes (bench only).

``install(c)`` is called from a benchmark hub's config: it wraps kubernetes_asyncio's REST
client so every request (watches included) is recorded as ``(verb, resource, path, selector)``,
and adds a hub API handler ``GET /hub/api/bench/k8s-requests?since=N`` (records from index N).
The local cluster has no audit log option yet, so requests are counted here, in the only
client under test; see bench/README.md for the apiserver flags that would count them there.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

RECORDS: list[tuple[str, str, str, str]] = []


def classify(method: str, url: str, query: Any) -> tuple[str, str]:
    """Kubernetes verb (get, list, watch, create, delete, patch, update) and resource of a call."""
    params = dict(query or [])
    parts = [p for p in urlsplit(url).path.split("/") if p]
    # /api/v1/... or /apis/<group>/<version>/...
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    resource = rest[0] if rest else ""
    named = len(rest) >= 2
    method = method.upper()
    if method == "GET":
        if str(params.get("watch", "")).lower() in ("true", "1"):
            verb = "watch"
        else:
            verb = "get" if named else "list"
    else:
        verb = {"POST": "create", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}.get(
            method, method.lower()
        )
    return verb, resource


def install(c: Any) -> None:
    """Count requests in this process and serve the counts (call from a hub config)."""
    from jupyterhub.apihandlers.base import APIHandler
    from jupyterhub.scopes import needs_scope
    from kubernetes_asyncio.client import rest

    original = rest.RESTClientObject.request
    if getattr(original, "_bench_counted", False):
        return

    async def request(self: Any, method: str, url: str, query_params: Any = None, *a, **kw):
        verb, resource = classify(method, url, query_params)
        params = dict(query_params or [])
        selector = f"{params.get('labelSelector', '')}|{params.get('fieldSelector', '')}"
        RECORDS.append((verb, resource, urlsplit(url).path, selector))
        return await original(self, method, url, query_params, *a, **kw)

    request._bench_counted = True  # type: ignore[attr-defined]
    rest.RESTClientObject.request = request

    class CountsHandler(APIHandler):
        """``GET /hub/api/bench/k8s-requests?since=N`` (admins only)."""

        @needs_scope("admin:users")
        def get(self) -> None:
            since = int(self.get_argument("since", "0"))
            self.finish(json.dumps({"total": len(RECORDS), "records": RECORDS[since:]}))

    # append (not assign): the reference config registers its own handler there
    c.JupyterHub.extra_handlers.append((r"/api/bench/k8s-requests", CountsHandler))
