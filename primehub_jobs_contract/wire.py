"""A job as both REST APIs show it: the single-user server's ``/primehub/api/jobs`` and the
``primehub-jobs`` service's ``/api/jobs`` answer with the same fields (each may add its own:
the server ``progress`` and ``error``, the service ``user``, ``group``, ``exitCode``,
``scheduleId``), so the lab's panel and the ``primehub-job`` CLI read either."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .states import State
from .times import iso

#: What a submit to the ``primehub-jobs`` service may hold (it checks each value).
HUB_SUBMIT_FIELDS = frozenset(
    {
        "group",
        "path",
        "output",
        "snapshot",
        "snapshotSha256",
        "name",
        "instanceType",
        "image",
        "parameters",
        "kernel",
        "timeout",
        "deadline",
    }
)
#: The recurrence of a schedule: a preset name, or ``cron`` with a ``timezone``.
HUB_RECURRENCE_FIELDS = frozenset({"recurrence", "cron", "timezone"})
#: The job fields a schedule keeps for each run (no output name or snapshot: each run gets its
#: own), and what a schedule may hold with its recurrence.
HUB_SCHEDULE_JOB_FIELDS = HUB_SUBMIT_FIELDS - {"output", "snapshot", "snapshotSha256"}
HUB_SCHEDULE_FIELDS = HUB_SCHEDULE_JOB_FIELDS | HUB_RECURRENCE_FIELDS


def job_json(
    *,
    id: str,
    name: str,
    path: str,
    output_path: str | None,
    status: State,
    parameters: dict[str, Any],
    kernel: str | None,
    timeout: float | None,
    deadline: float | None,
    reason: str | None,
    ended_early: dict[str, Any] | None,
    created_at: datetime | None,
    started_at: datetime | None,
    finished_at: datetime | None,
    backend: str,
    instance_type: str | None,
    image: str | None,
) -> dict[str, Any]:
    """The common fields of a job record, camelCase, times in ISO 8601 with ``Z``."""
    return {
        "id": id,
        "name": name,
        "path": path,
        "outputPath": output_path,
        "status": status.value,
        "parameters": parameters,
        "kernel": kernel,
        "timeout": timeout,
        "deadline": deadline,
        "reason": reason,
        "endedEarly": ended_early,
        "createdAt": iso(created_at),
        "startedAt": iso(started_at),
        "finishedAt": iso(finished_at),
        "backend": backend,
        "instanceType": instance_type,
        "image": image,
    }
