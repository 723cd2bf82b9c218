"""PURE: SLURM jobs as quota sees them.

Usage on SLURM comes from the hub's own record of the jobs it submitted (user, group and what
each asks for, kept in the spawner state so a hub restart keeps it) intersected with the jobs
``squeue`` reports active. Nothing a user can change on their job (its name, comment or
account) decides whose quota it counts against.

:func:`quota_objects` feeds those jobs to :class:`.quota.QuotaLedger`, the same check-and-reserve
and wording as on Kubernetes: the ledger reads them through :class:`JobHolders` (its
``Holders`` interface: labels, active, limits, leaving) instead of pod objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .launch import GROUP_LABEL, USER_LABEL, label_value
from .quantities import Resources

# what squeue prints for the quota check: job id and state of every job, one per line
SQUEUE_ARGS = ("squeue", "-h", "-a", "-o", "%i|%T")
ACTIVE_STATES = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "RESIZING", "REQUEUED"}
)


@dataclass(frozen=True)
class JobRecord:
    """A notebook job this hub submitted: whose, in which group, asking for what."""

    job_id: str
    key: str  # the quota reservation key of its server
    user: str
    group: str
    usage: Resources

    def to_state(self) -> dict[str, Any]:
        """What the spawner state keeps of it (JSON)."""
        return {
            "job_id": self.job_id,
            "user": self.user,
            "group": self.group,
            "cpu": self.usage.cpu,
            "memory": self.usage.memory,
            "gpu": self.usage.gpu,
        }

    @classmethod
    def from_state(cls, key: str, data: Mapping[str, Any]) -> JobRecord | None:
        """The record kept in a spawner state, or None when it is missing or malformed."""
        try:
            return cls(
                job_id=str(data["job_id"]),
                key=key,
                user=str(data["user"]),
                group=str(data["group"]),
                usage=Resources(float(data["cpu"]), int(data["memory"]), int(data["gpu"])),
            )
        except (KeyError, TypeError, ValueError):
            return None


def parse_squeue(text: str) -> dict[str, str]:
    """``squeue -o '%i|%T'`` output -> job id -> state (lines that are not that are skipped)."""
    jobs = {}
    for line in text.splitlines():
        job_id, sep, state = line.strip().partition("|")
        if sep and job_id:
            jobs[job_id] = state.strip()
    return jobs


def quota_objects(records: Iterable[JobRecord], squeue: Mapping[str, str]) -> dict[str, JobRecord]:
    """The recorded jobs SLURM reports active, keyed by their reservation key (what the quota
    ledger counts, read through :class:`JobHolders`)."""
    return {rec.key: rec for rec in records if squeue.get(rec.job_id) in ACTIVE_STATES}


class JobHolders:
    """How :class:`.quota.QuotaLedger` reads a :class:`JobRecord` (its ``Holders``)."""

    @staticmethod
    def labels(rec: JobRecord) -> Mapping[str, str]:
        return {GROUP_LABEL: label_value(rec.group), USER_LABEL: label_value(rec.user)}

    @staticmethod
    def active(rec: JobRecord) -> bool:
        return True  # only active jobs are passed (quota_objects)

    @staticmethod
    def limits(rec: JobRecord) -> Resources:
        return rec.usage

    @staticmethod
    def leaving(rec: JobRecord) -> bool:
        return False


def squeue_state(status: str) -> tuple[str, str, str]:
    """``squeue -o '%T|%r|%B'`` of one job -> (state, pending reason, node)."""
    parts = [p.strip() for p in status.strip().split("|")]
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]
