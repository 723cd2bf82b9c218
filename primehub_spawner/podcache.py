"""The shared watch cache of group pods: every pod carrying the ``primehub.io/group`` label.

Notebook, gateway and job pods all carry it, so this one cache is the source of quota usage for
both hub processes: the spawner (one watch per namespace, shared by all spawners through
KubeSpawner's reflector registry) and the ``primehub-jobs`` service (``jobs/kube.py``, one watch
for the service). Kubernetes glue only; the quota arithmetic over the cached pods is
:mod:`.quota`'s.

Quota fails closed: the cache is :attr:`~GroupPodReflector.fresh` only while its watch runs and
its last full list succeeded. KubeSpawner's reflector gives up after repeated API errors (in its
default one-namespace mode nobody is told, and the frozen cache would be reused); whoever admits
a launch asks :func:`fresh_pods`, which restarts a stopped watch and refuses (``StaleCache``)
rather than count on data that may be old.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubespawner.reflector import ResourceReflector

from .launch import GROUP_LABEL

STALE_MESSAGE = (
    "Quota cannot be checked right now: the hub cannot read the pods from Kubernetes. "
    "Try again in a minute; if it persists, contact your admin."
)


class StaleCache(Exception):
    """The pod cache may be out of date, so no quota decision can be taken on it."""

    def __init__(self) -> None:
        super().__init__(STALE_MESSAGE)


class GroupPodReflector(ResourceReflector):
    """Watch cache of every pod carrying the ``primehub.io/group`` label (notebooks and
    jobs): the source of quota usage. One per namespace, shared by all spawners."""

    kind = "pods"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label_selector = GROUP_LABEL  # existence selector: any value
        self.list_failed = False
        self.listed_at: float | None = None  # monotonic time of the last full list

    async def _list_and_update(self, *args: Any, **kwargs: Any) -> Any:
        # every (re)connection of the watch starts with a full list: its result says whether
        # the cache can be trusted
        try:
            version = await super()._list_and_update(*args, **kwargs)
        except BaseException:
            self.list_failed = True
            raise
        self.list_failed = False
        self.listed_at = time.monotonic()
        return version

    @property
    def watching(self) -> bool:
        """The watch task runs (it ends when the reflector gives up or is stopped)."""
        task = self.watch_task
        return task is not None and not task.done()

    @property
    def fresh(self) -> bool:
        """The cache follows the API server: watching, and the last list succeeded."""
        return self.watching and not self.list_failed and self.listed_at is not None

    @property
    def pods(self) -> dict[str, dict]:
        """``namespace/name`` -> pod dict."""
        return self.resources


async def fresh_pods(
    current: GroupPodReflector | None,
    restart: Callable[[], Awaitable[GroupPodReflector]],
) -> dict[str, dict]:
    """The pods of ``current`` if its cache is fresh; a reflector that stopped watching is
    replaced through ``restart`` first. Raises :class:`StaleCache` when no fresh cache can be
    had (the API server does not answer): a quota decision must not be taken on old data."""
    reflector = current
    if reflector is None or not reflector.watching:
        try:
            reflector = await restart()
        except Exception:
            raise StaleCache() from None
    if not reflector.fresh:
        raise StaleCache()
    return reflector.pods
