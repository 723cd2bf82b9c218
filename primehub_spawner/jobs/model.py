"""Records of the hub jobs service: jobs and schedules (plain data, JSON in and out)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from functools import cache
from typing import Any

from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import from_iso, iso, utcnow
from primehub_jobs_contract.wire import job_json

_TIMES = {
    "created_at",
    "started_at",
    "finished_at",
    "preparing_since",
    "next_run",
    "last_run_at",
}


def _dump(record: Any) -> dict[str, Any]:
    data = asdict(record)
    for key in _TIMES & data.keys():
        data[key] = iso(data[key])
    if "state" in data:
        data["state"] = data["state"].value
    return data


@cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def _load(cls: type, data: dict[str, Any]) -> Any:
    known = _field_names(cls)  # once per class: the scheduling round loads every queued job
    values = {k: v for k, v in data.items() if k in known}
    for key in _TIMES & values.keys():
        values[key] = from_iso(values[key])
    if "state" in values:
        values["state"] = State(values["state"])
    return cls(**values)


@dataclass
class HubJob:
    """One notebook job run as a Kubernetes Job. Paths are relative to the group volume."""

    id: str
    user: str
    group: str
    name: str
    path: str
    output: str
    instance_type: str
    image: str
    deadline: int
    parameters: dict[str, Any] = field(default_factory=dict)
    kernel: str | None = None
    cell_timeout: float | None = None
    snapshot: str | None = None
    snapshot_sha256: str | None = None  # the digest the executor checks the snapshot against
    state: State = State.PENDING
    reason: str | None = None
    exit_code: int | None = None
    # succeeded, but a cell ended the notebook early (sys.exit(0)): {cellIndex, ename, evalue}
    ended_early: dict[str, Any] | None = None
    schedule_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # when its Kubernetes Job was created: the preparing timeout counts from here
    preparing_since: datetime | None = None
    cancel_requested: bool = False
    log_saved: bool = False
    hub_groups: list[str] = field(default_factory=list)  # the user's hub groups at submit

    def to_record(self) -> dict[str, Any]:
        """Stored form."""
        return _dump(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> HubJob:
        """Inverse of :meth:`to_record`."""
        return _load(cls, data)

    def to_json(self) -> dict[str, Any]:
        """REST form: the contract's job fields plus who, where and why."""
        return {
            **job_json(
                id=self.id,
                name=self.name,
                path=self.path,
                output_path=self.output,
                status=self.state,
                parameters=self.parameters,
                kernel=self.kernel,
                timeout=self.cell_timeout,
                deadline=self.deadline,
                reason=self.reason,
                ended_early=self.ended_early,
                created_at=self.created_at,
                started_at=self.started_at,
                finished_at=self.finished_at,
                backend="kubernetes",
                instance_type=self.instance_type,
                image=self.image,
            ),
            "user": self.user,
            "group": self.group,
            "exitCode": self.exit_code,
            "scheduleId": self.schedule_id,
        }


@dataclass
class Schedule:
    """A recurring job: the submit fields plus recurrence, time zone and the next run."""

    id: str
    user: str
    group: str
    name: str
    path: str
    instance_type: str
    image: str
    deadline: int
    recurrence: str  # inactive | daily | weekly | monthly | custom
    cron: str | None
    timezone: str
    parameters: dict[str, Any] = field(default_factory=dict)
    kernel: str | None = None
    cell_timeout: float | None = None
    next_run: datetime | None = None
    last_job_id: str | None = None
    last_run_at: datetime | None = None
    last_message: str | None = None  # why the last run was skipped or refused
    runs: int = 0
    skipped: int = 0
    created_at: datetime = field(default_factory=utcnow)
    hub_groups: list[str] = field(default_factory=list)  # the owner's hub groups

    def to_record(self) -> dict[str, Any]:
        """Stored form."""
        return _dump(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Schedule:
        """Inverse of :meth:`to_record`."""
        return _load(cls, data)

    def to_json(self) -> dict[str, Any]:
        """REST form (camelCase)."""
        return {
            "id": self.id,
            "user": self.user,
            "group": self.group,
            "name": self.name,
            "path": self.path,
            "instanceType": self.instance_type,
            "image": self.image,
            "parameters": self.parameters,
            "kernel": self.kernel,
            "timeout": self.cell_timeout,
            "deadline": self.deadline,
            "recurrence": self.recurrence,
            "cron": self.cron,
            "timezone": self.timezone,
            "nextRunAt": iso(self.next_run),
            "lastJobId": self.last_job_id,
            "lastRunAt": iso(self.last_run_at),
            "lastMessage": self.last_message,
            "runs": self.runs,
            "skipped": self.skipped,
            "createdAt": iso(self.created_at),
        }
