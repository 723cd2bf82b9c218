"""PURE queue admission: which pending jobs may start now, and why the others wait.

Each group's queue is FIFO. Usage is what the group-labelled pods hold (notebooks and jobs,
from the watch cache) plus jobs admitted but whose pod is not in the cache yet. A job blocked
by its user's quota is skipped (it must not hold other users' jobs); a job blocked by the
group's quota holds the rest of that group's queue, so a big job is not starved by small ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..quantities import Quota, Resources
from ..quota import QuotaLedger, Reservation, exceeded


@dataclass(frozen=True)
class QueuedJob:
    """A pending job as the queue sees it (labels are the pods' label values)."""

    id: str
    user: str
    group: str
    user_label: str
    group_label: str
    request: Resources
    quota: Quota
    project_quota: Quota


@dataclass(frozen=True)
class InFlight:
    """A job whose Kubernetes Job exists but whose pod is not in the cache yet."""

    id: str
    user_label: str
    group_label: str
    request: Resources


@dataclass
class Admission:
    """The outcome of one round: job ids to start (in order) and reasons of those that wait."""

    start: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)


def admit(
    pending: Sequence[QueuedJob],
    pods: Mapping[str, Mapping[str, Any]],
    in_flight: Iterable[InFlight] = (),
) -> Admission:
    """Decide which of ``pending`` (oldest first) start now."""
    ledger = QuotaLedger()
    for job in in_flight:
        _reserve(ledger, job.id, job.group_label, job.user_label, job.request)
    result = Admission()
    held: dict[str, str] = {}  # group -> id of the job holding its queue
    for job in pending:
        if job.group in held:
            result.waiting[job.id] = (
                f"Waiting in group {job.group}'s queue behind job {held[job.group]}"
            )
            continue
        usage = ledger.usage(pods, job.group_label, job.user_label, now=0)
        user_problem = exceeded(f"User {job.user}", job.quota, usage.user, job.request)
        if user_problem:
            result.waiting[job.id] = user_problem
            continue
        group_problem = exceeded(f"Group {job.group}", job.project_quota, usage.group, job.request)
        if group_problem:
            result.waiting[job.id] = group_problem
            held[job.group] = job.id
            continue
        _reserve(ledger, job.id, job.group_label, job.user_label, job.request)
        result.start.append(job.id)
    return result


def _reserve(
    ledger: QuotaLedger, job_id: str, group_label: str, user_label: str, request: Resources
) -> None:
    # Keys no pod has, never expiring: they count until the caller stops passing them.
    key = f"primehub-job:{job_id}"
    ledger.reservations[key] = Reservation(key, group_label, user_label, request, math.inf)
