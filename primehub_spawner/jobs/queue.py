"""PURE queue admission: which pending jobs may start now, and why the others wait.

Each group's queue is FIFO. Usage is what the group-labelled pods hold (notebooks and jobs,
from the watch cache) plus jobs admitted but whose pod is not in the cache yet. A job blocked
by its user's quota is skipped (it must not hold other users' jobs); a job blocked by the
group's quota holds the rest of that group's queue, so a big job is not starved by small ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..quantities import Quota, Resources
from ..quota import GROUP_LABEL, USER_LABEL, exceeded, is_active, pod_limits

NOTHING = Resources()


@dataclass(frozen=True)
class Ask:
    """What the queued jobs of one user, group and choice ask for (labels are the pods' label
    values); the jobs of a queue share one per choice."""

    user: str
    group: str
    user_label: str
    group_label: str
    request: Resources
    quota: Quota
    project_quota: Quota


class QueuedJob(NamedTuple):
    """A pending job as the queue sees it."""

    id: str
    ask: Ask


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
    """Decide which of ``pending`` (oldest first) start now.

    What each group and each user in a group holds is summed once per round (every pod's
    limits read once), then grows with each job admitted, so a round costs pods + jobs rather
    than pods x jobs."""
    group_use: dict[str, Resources] = {}
    user_use: dict[tuple[str, str | None], Resources] = {}

    def hold(group_label: str, user_label: str | None, resources: Resources) -> None:
        group_use[group_label] = group_use.get(group_label, NOTHING) + resources
        key = (group_label, user_label)
        user_use[key] = user_use.get(key, NOTHING) + resources

    for pod in pods.values():
        labels = (pod.get("metadata") or {}).get("labels") or {}
        group_label = labels.get(GROUP_LABEL)
        if group_label is not None and is_active(pod):
            hold(group_label, labels.get(USER_LABEL), pod_limits(pod))
    for flying in in_flight:
        hold(flying.group_label, flying.user_label, flying.request)
    result = Admission()
    held: dict[str, str] = {}  # group -> id of the job holding its queue
    for job_id, ask in pending:
        if ask.group in held:
            result.waiting[job_id] = (
                f"Waiting in group {ask.group}'s queue behind job {held[ask.group]}"
            )
            continue
        used_by_user = user_use.get((ask.group_label, ask.user_label), NOTHING)
        user_problem = exceeded(f"User {ask.user}", ask.quota, used_by_user, ask.request)
        if user_problem:
            result.waiting[job_id] = user_problem
            continue
        used_by_group = group_use.get(ask.group_label, NOTHING)
        group_problem = exceeded(
            f"Group {ask.group}", ask.project_quota, used_by_group, ask.request
        )
        if group_problem:
            result.waiting[job_id] = group_problem
            held[ask.group] = job_id
            continue
        hold(ask.group_label, ask.user_label, ask.request)
        result.start.append(job_id)
    return result
