"""Job records, states and validation of submit requests (pure: no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from primehub_jobs_contract import validation
from primehub_jobs_contract.errors import InvalidRequest
from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import utcnow
from primehub_jobs_contract.wire import job_json


@dataclass
class JobError:
    """Where and why a job failed: the failing cell (index in the submitted notebook) or None."""

    cell_index: int | None
    ename: str
    evalue: str

    def to_json(self) -> dict[str, Any]:
        return {"cellIndex": self.cell_index, "ename": self.ename, "evalue": self.evalue}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> JobError | None:
        if not data:
            return None
        return cls(
            cell_index=data.get("cellIndex"),
            ename=str(data.get("ename", "")),
            evalue=str(data.get("evalue", "")),
        )


@dataclass
class EndedEarly(JobError):
    """A job that *succeeded* before its last cell: the cell (index in the submitted notebook)
    that ran ``sys.exit()``/``sys.exit(0)`` (papermill's rule) and the SystemExit it raised
    (``ename`` "SystemExit", ``evalue`` "" or "0"). The cells after it were not run."""


@dataclass
class Job:
    """One notebook job as stored and as returned by the REST API (``to_json``)."""

    id: str
    name: str
    path: str  # API path of the source notebook, relative to the server root
    output_path: str  # API path of the output notebook
    backend: str
    kernel: str
    status: State = State.PENDING
    parameters: dict[str, Any] = field(default_factory=dict)
    cell_timeout: float | None = None
    deadline: float | None = None
    instance_type: str | None = None
    image: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress_done: int = 0
    progress_total: int = 0
    error: JobError | None = None
    reason: str | None = None  # human-readable why a job failed or was cancelled
    ended_early: EndedEarly | None = None  # succeeded, but a cell ended the notebook early
    pid: int | None = None
    pid_start: int | None = None  # process start time (clock ticks) to tell PID reuse apart
    cancel_requested: bool = False

    def to_json(self) -> dict[str, Any]:
        """The REST representation (the contract's job fields plus progress and error)."""
        return {
            **job_json(
                id=self.id,
                name=self.name,
                path=self.path,
                output_path=self.output_path,
                status=self.status,
                parameters=self.parameters,
                kernel=self.kernel,
                timeout=self.cell_timeout,
                deadline=self.deadline,
                reason=self.reason,
                ended_early=self.ended_early.to_json() if self.ended_early else None,
                created_at=self.created_at,
                started_at=self.started_at,
                finished_at=self.finished_at,
                backend=self.backend,
                instance_type=self.instance_type,
                image=self.image,
            ),
            "progress": {"done": self.progress_done, "total": self.progress_total},
            "error": self.error.to_json() if self.error else None,
        }


@dataclass
class JobRequest:
    """A validated submit request (types checked; existence checks happen in the service)."""

    path: str
    name: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    kernel: str | None = None
    timeout: float | None = None
    deadline: float | None = None
    backend: str | None = None
    instance_type: str | None = None
    image: str | None = None


_KNOWN_FIELDS = {
    "path",
    "name",
    "parameters",
    "kernel",
    "timeout",
    "deadline",
    "backend",
    "instanceType",
    "image",
}


MAX_PATH_LENGTH = 4096


def parse_job_request(body: Any, max_seconds: float = validation.MAX_SECONDS) -> JobRequest:
    """Check the JSON body of ``POST /primehub/api/jobs`` and return a JobRequest."""
    validation.reject_unknown(validation.require_object(body), _KNOWN_FIELDS)
    path = body.get("path")
    if not isinstance(path, str) or not path.strip():
        raise InvalidRequest(
            "'path' is required: the notebook to run, relative to the server root."
        )
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidRequest(f"'path' must be at most {MAX_PATH_LENGTH} characters.")
    return JobRequest(
        path=path,
        name=validation.name(body),
        parameters=validation.parameters(body.get("parameters")),
        kernel=validation.text(body, "kernel", 200),
        timeout=validation.seconds(body, "timeout", max_seconds),
        deadline=validation.seconds(body, "deadline", max_seconds),
        backend=validation.text(body, "backend", 100),
        instance_type=validation.text(body, "instanceType"),
        image=validation.text(body, "image"),
    )


def parse_status_filter(value: str | None) -> State | None:
    """``?status=`` of the listing: empty means all."""
    if not value:
        return None
    try:
        return State(value)
    except ValueError:
        allowed = ", ".join(s.value for s in State)
        raise InvalidRequest(f"Unknown status '{value}'; use one of: {allowed}.") from None


def parse_page(limit: str | None, offset: str | None, max_limit: int = 500) -> tuple[int, int]:
    """``?limit=&offset=`` of the listing, with defaults 50 and 0."""

    def as_int(raw: str | None, key: str, default: int) -> int:
        if raw is None or raw == "":
            return default
        try:
            number = int(raw)
        except ValueError:
            raise InvalidRequest(f"'{key}' must be a whole number, got {raw!r}.") from None
        if number < 0:
            raise InvalidRequest(f"'{key}' must not be negative.")
        return number

    lim = as_int(limit, "limit", 50)
    if lim == 0 or lim > max_limit:
        raise InvalidRequest(f"'limit' must be between 1 and {max_limit}.")
    return lim, as_int(offset, "offset", 0)
