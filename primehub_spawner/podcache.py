"""The shared watch cache of group pods: every pod carrying the ``primehub.io/group`` label.

Notebook, gateway and job pods all carry it, so this one cache is the source of quota usage for
both hub processes: the spawner (one watch per namespace, shared by all spawners through
KubeSpawner's reflector registry) and the ``primehub-jobs`` service (``jobs/kube.py``, one watch
for the service). Kubernetes glue only; the quota arithmetic over the cached pods is
:mod:`.quota`'s.
"""

from __future__ import annotations

from typing import Any

from kubespawner.reflector import ResourceReflector

from .launch import GROUP_LABEL


class GroupPodReflector(ResourceReflector):
    """Watch cache of every pod carrying the ``primehub.io/group`` label (notebooks and
    jobs): the source of quota usage. One per namespace, shared by all spawners."""

    kind = "pods"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label_selector = GROUP_LABEL  # existence selector: any value

    @property
    def pods(self) -> dict[str, dict]:
        """``namespace/name`` -> pod dict."""
        return self.resources
