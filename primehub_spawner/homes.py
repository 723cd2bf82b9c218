"""PURE: one home volume, several servers of a user.

Every server of a user (the default one and each named server) mounts the one home PVC
(``claim-{username}``), which the spawner creates ``ReadWriteOnce``: Kubernetes can attach it
to one node at a time. A second server scheduled onto another node would wait for the
volume until the start timeout. So a server of a user who already has servers holding the
home gets a required pod affinity to them (same node, ``kubernetes.io/hostname``), and
when it cannot be scheduled there the spawn fails fast saying why (:func:`conflict_hint`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"


@dataclass(frozen=True)
class HomeHolder:
    """A server pod of the user that mounts the home PVC (running, or still being scheduled)."""

    pod: str
    server: str  # the named server ('' for the default server)
    node: str  # '' while it is not scheduled yet


def _mounts_claim(pod: Mapping[str, Any], claim: str) -> bool:
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if ((volume.get("persistentVolumeClaim") or {}).get("claimName")) == claim:
            return True
    return False


def home_holders(
    pods: Iterable[Mapping[str, Any]],
    *,
    namespace: str,
    selector: Mapping[str, str],
    claim: str,
    this_pod: str,
) -> list[HomeHolder]:
    """The user's other pods (labels ``selector``, in ``namespace``) that are not ending and
    mount ``claim``, scheduled or not (two servers started at once: the scheduler places the
    second with the first); sorted by pod name."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if meta.get("namespace") != namespace or meta.get("name") == this_pod:
            continue
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        node = (pod.get("spec") or {}).get("nodeName") or ""
        phase = (pod.get("status") or {}).get("phase")
        if meta.get("deletionTimestamp") or phase in ("Succeeded", "Failed"):
            continue
        if not _mounts_claim(pod, claim):
            continue
        annotations = meta.get("annotations") or {}
        server = annotations.get("hub.jupyter.org/servername") or ""
        out.append(HomeHolder(pod=meta["name"], server=server, node=node))
    return sorted(out, key=lambda h: h.pod)


def with_home_affinity(spec: dict[str, Any], selector: Mapping[str, str]) -> dict[str, Any]:
    """``spec`` (a pod spec, changed in place and returned) with a required pod affinity to the
    pods matching ``selector`` on the same node, added to any affinity already there."""
    affinity = spec.setdefault("affinity", {}) or {}
    spec["affinity"] = affinity
    pod_affinity = affinity.setdefault("podAffinity", {}) or {}
    affinity["podAffinity"] = pod_affinity
    terms = list(pod_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
    terms.append(
        {"labelSelector": {"matchLabels": dict(selector)}, "topologyKey": HOSTNAME_TOPOLOGY}
    )
    pod_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = terms
    return spec


def affinity_blocked(pod: Mapping[str, Any]) -> str | None:
    """The scheduler's message when ``pod`` is unschedulable because of its pod affinity (the
    node holding the home volume does not take it), else None."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        message = cond.get("message") or ""
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
            and "pod affinity" in message
        ):
            return message
    return None


def conflict_hint(claim: str, holders: Iterable[HomeHolder]) -> str:
    """What a user reads when a server that must join its home volume's node cannot."""
    holders = list(holders)
    nodes = sorted({h.node for h in holders if h.node})
    names = ", ".join(f"'{h.server}'" if h.server else "(default)" for h in holders)
    if not nodes:
        where = "the node of your other servers"
    else:
        where = f"node {nodes[0]}" if len(nodes) == 1 else "nodes " + ", ".join(nodes)
    return (
        f"Your servers share one home volume ({claim}) that only one node can mount at a "
        f"time, so this server can start only on {where}, where your server(s) {names} run. "
        "Stop those servers, or choose an instance type that fits on that node."
    )
