"""Quota: usage from pod objects, and admission with in-flight reservations.

Usage is the sum of container limits over Pending and Running pods carrying the
``primehub.io/group`` label (notebooks and jobs alike); per-user usage counts the user's
pods in that group. The pods come from a watch cache (no API call per spawn).

Concurrent spawns cannot overshoot: :meth:`QuotaLedger.admit` checks and reserves in one
synchronous step (nothing else runs on the event loop in between), and a reservation
counts until its pod shows up in the cache (from then on the pod itself counts), the spawn
fails, or it expires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .launch import GROUP_LABEL, USER_LABEL
from .quantities import (
    QuantityError,
    Quota,
    Resources,
    format_number,
    parse_cpu,
    parse_pod_memory,
)

ACTIVE_PHASES = ("Pending", "Running")


class QuotaExceeded(Exception):
    """A launch would exceed a quota; the message is PrimeHub's wording. ``scope`` says whose
    quota: ``"user"`` (other users' launches in the group may still fit) or ``"group"``."""

    def __init__(self, message: str, scope: str = "user") -> None:
        super().__init__(message)
        self.scope = scope


def pod_limits(pod: Mapping[str, Any]) -> Resources:
    """Sum of the containers' limits (GPU = every extended resource named ``*/gpu``)."""
    total = Resources()
    for container in (pod.get("spec") or {}).get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        cpu = memory = gpu = 0
        try:
            if "cpu" in limits:
                cpu = parse_cpu(limits["cpu"])
            if "memory" in limits:
                memory = parse_pod_memory(limits["memory"])
            for name, value in limits.items():
                if name.endswith("/gpu"):
                    gpu += int(value)
        except (QuantityError, ValueError):
            continue  # a pod we did not build, with odd limits: do not let it break spawns
        total = total + Resources(cpu, memory, gpu)
    return total


def is_active(pod: Mapping[str, Any]) -> bool:
    """Pending or Running (a just-created pod without status counts as Pending)."""
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    return phase in ACTIVE_PHASES


def _labels(pod: Mapping[str, Any]) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}


class Holders(Protocol):
    """What the ledger reads of each thing that holds quota (a pod; a SLURM job)."""

    def labels(self, obj: Any) -> Mapping[str, str]:
        """Its group and user labels (``GROUP_LABEL``, ``USER_LABEL``)."""

    def active(self, obj: Any) -> bool:
        """Whether it holds its resources now."""

    def limits(self, obj: Any) -> Resources:
        """What it holds."""

    def leaving(self, obj: Any) -> bool:
        """Whether it is on its way out (a reservation of the same key then stays)."""


class PodHolders:
    """Pods (the default): labels, phase Pending/Running, the containers' limits, and a
    ``deletionTimestamp`` for leaving."""

    @staticmethod
    def labels(pod: Mapping[str, Any]) -> Mapping[str, str]:
        return _labels(pod)

    @staticmethod
    def active(pod: Mapping[str, Any]) -> bool:
        return is_active(pod)

    @staticmethod
    def limits(pod: Mapping[str, Any]) -> Resources:
        return pod_limits(pod)

    @staticmethod
    def leaving(pod: Mapping[str, Any]) -> bool:
        return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


@dataclass(frozen=True)
class Usage:
    """What a user and their group currently hold in one group."""

    user: Resources
    group: Resources


@dataclass
class Reservation:
    """Resources promised to a spawn in flight, keyed by its pod (``namespace/name``)."""

    key: str
    group_label: str
    user_label: str
    resources: Resources
    expires: float
    # released when a cached pod carries this (label, value): a job's pod has a generated
    # name, so it is recognised by its job label rather than by ``key``
    release_label: tuple[str, str] | None = None


def _first_exceeded(
    quota: Quota, used: Resources, request: Resources
) -> tuple[str, str, str] | None:
    """(resource, limit, total wanted) of the first resource over quota, as text."""
    total = used + request
    checks = (
        ("cpu", quota.cpu, total.cpu, request.cpu, format_number),
        ("memory", quota.memory, total.memory, request.memory, _gib),
        ("gpu", quota.gpu, total.gpu, request.gpu, format_number),
    )
    for name, limit, wanted, requested, fmt in checks:
        # a resource the launch does not ask for never blocks it
        if limit is not None and requested > 0 and wanted > limit:
            return name, fmt(limit), fmt(wanted)
    return None


def _exceeded(who: str, quota: Quota, used: Resources, request: Resources) -> str | None:
    found = _first_exceeded(quota, used, request)
    if found is None:
        return None
    name, limit, wanted = found
    return f"{who} exceeded {name} quota: {limit}, requesting {wanted}"


def exceeded(who: str, quota: Quota, used: Resources, request: Resources) -> str | None:
    """PrimeHub's message when ``request`` on top of ``used`` exceeds ``quota`` (else None);
    ``who`` is e.g. ``"User alice"`` or ``"Group team"``. Used by the jobs queue."""
    return _exceeded(who, quota, used, request)


def _gib(num_bytes: float) -> str:
    return f"{format_number(round(num_bytes / 2**30, 2))}Gi"


class QuotaLedger:
    """Usage and admission for one hub (one shared instance)."""

    def __init__(self, holders: Holders | None = None) -> None:
        self.reservations: dict[str, Reservation] = {}
        self.holders: Holders = holders or PodHolders()

    def _prune(self, pods: Mapping[str, Mapping[str, Any]], now: float) -> None:
        labelled: set[tuple[str, str]] | None = None
        for key, res in list(self.reservations.items()):
            pod = pods.get(key)
            # A terminating pod of the same name is an earlier server: keep reserving.
            cached = pod is not None and not self.holders.leaving(pod)
            if not cached and res.release_label is not None:
                if labelled is None:  # one pass over the pods, only when a job is in flight
                    labelled = {
                        item for p in pods.values() for item in self.holders.labels(p).items()
                    }
                cached = res.release_label in labelled
            if cached or res.expires <= now:
                # the pod is in the cache now and counts by itself (or the spawn is stale)
                del self.reservations[key]

    def usage(
        self,
        pods: Mapping[str, Mapping[str, Any]],
        group_label: str,
        user_label: str,
        now: float,
    ) -> Usage:
        """Current usage of a user in a group and of the whole group, reservations included."""
        self._prune(pods, now)
        user = group = Resources()
        for pod in pods.values():
            labels = self.holders.labels(pod)
            if labels.get(GROUP_LABEL) != group_label or not self.holders.active(pod):
                continue
            limits = self.holders.limits(pod)
            group = group + limits
            if labels.get(USER_LABEL) == user_label:
                user = user + limits
        for res in self.reservations.values():
            if res.group_label == group_label:
                group = group + res.resources
                if res.user_label == user_label:
                    user = user + res.resources
        return Usage(user=user, group=group)

    def admit(
        self,
        key: str,
        *,
        user: str,
        group: str,
        user_label: str,
        group_label: str,
        request: Resources,
        quota: Quota,
        project_quota: Quota,
        pods: Mapping[str, Mapping[str, Any]],
        now: float,
        ttl: float,
        release_label: tuple[str, str] | None = None,
    ) -> Usage:
        """Admit ``request`` for pod ``key`` or raise :class:`QuotaExceeded`.

        On success the request is reserved until the pod appears in ``pods`` (by ``key``, or
        by ``release_label`` when given), it is released, or ``ttl`` seconds pass. Synchronous
        on purpose: check and reserve must not be separated by an ``await``.
        """
        self.reservations.pop(key, None)  # a retry of the same server replaces its own
        current = self.usage(pods, group_label, user_label, now)
        problem = _exceeded(f"User {user}", quota, current.user, request)
        if problem:
            raise QuotaExceeded(problem, "user")
        problem = _exceeded(f"Group {group}", project_quota, current.group, request)
        if problem:
            raise QuotaExceeded(problem, "group")
        self.reservations[key] = Reservation(
            key, group_label, user_label, request, now + ttl, release_label
        )
        return current

    def release(self, key: str) -> None:
        """Forget the reservation of pod ``key`` (spawn failed or server stopped)."""
        self.reservations.pop(key, None)

    @staticmethod
    def fits(current: Usage, request: Resources, quota: Quota, project_quota: Quota) -> str | None:
        """Why ``request`` would not fit now (a short reason for the form), or None."""
        for who, q, used in (
            ("your", quota, current.user),
            ("the group's", project_quota, current.group),
        ):
            found = _first_exceeded(q, used, request)
            if found:
                name, limit, wanted = found
                label = name if name == "memory" else name.upper()
                return f"would exceed {who} {label} quota ({wanted} of {limit})"
        return None
