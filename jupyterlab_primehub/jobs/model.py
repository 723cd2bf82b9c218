"""Job records, states and validation of submit requests (pure: no I/O)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from ..errors import InvalidRequest


class JobStatus(str, Enum):
    """Lifecycle of a job: pending -> running -> one of the three final states."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True for states a job never leaves."""
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

MAX_NAME_LENGTH = 200
MAX_PARAMETERS = 200
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def utcnow() -> datetime:
    """Timezone-aware current time in UTC, at the millisecond precision that is stored."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def isoformat(value: datetime | None) -> str | None:
    """ISO 8601 with a trailing ``Z`` (what JavaScript's ``Date`` parses), or None."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    """Inverse of :func:`isoformat`."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


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
    status: JobStatus = JobStatus.PENDING
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
        """The REST representation (camelCase, ISO times)."""
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "status": self.status.value,
            "progress": {"done": self.progress_done, "total": self.progress_total},
            "parameters": self.parameters,
            "kernel": self.kernel,
            "timeout": self.cell_timeout,
            "deadline": self.deadline,
            "createdAt": isoformat(self.created_at),
            "startedAt": isoformat(self.started_at),
            "finishedAt": isoformat(self.finished_at),
            "outputPath": self.output_path,
            "error": self.error.to_json() if self.error else None,
            "reason": self.reason,
            "endedEarly": self.ended_early.to_json() if self.ended_early else None,
            "backend": self.backend,
            "instanceType": self.instance_type,
            "image": self.image,
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


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{key}' must be a string, got {type(value).__name__}.")
    value = value.strip()
    return value or None


def _optional_seconds(body: dict[str, Any], key: str, maximum: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    # bool is an int subclass: reject it explicitly, "timeout": true is a mistake.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"'{key}' must be a number of seconds, got {value!r}.")
    if not math.isfinite(value) or value <= 0:
        raise InvalidRequest(f"'{key}' must be a positive number of seconds, got {value!r}.")
    if value > maximum:
        raise InvalidRequest(f"'{key}' must be at most {maximum:g} seconds, got {value!r}.")
    return float(value)


def check_parameter_value(name: str, value: Any, depth: int = 0) -> None:
    """Raise InvalidRequest unless ``value`` is a JSON literal we can translate."""
    if depth > 20:
        raise InvalidRequest(f"Parameter '{name}' is nested too deeply.")
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequest(f"Parameter '{name}' must be a finite number.")
        return
    if isinstance(value, list):
        for item in value:
            check_parameter_value(name, item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequest(f"Parameter '{name}' has a non-string key.")
            check_parameter_value(name, item, depth + 1)
        return
    raise InvalidRequest(f"Parameter '{name}' has an unsupported type {type(value).__name__}.")


def validate_parameters(parameters: Any) -> dict[str, Any]:
    """Parameters must be a JSON object of identifier names to JSON literals."""
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise InvalidRequest(
            "'parameters' must be a JSON object such as {\"alpha\": 0.1}, "
            f"got {type(parameters).__name__}."
        )
    if len(parameters) > MAX_PARAMETERS:
        raise InvalidRequest(f"At most {MAX_PARAMETERS} parameters are allowed.")
    for name, value in parameters.items():
        if not _PARAM_NAME.match(name):
            raise InvalidRequest(
                f"Parameter name '{name}' is not a valid variable name "
                "(letters, digits and underscores, not starting with a digit)."
            )
        check_parameter_value(name, value)
    return dict(parameters)


def parse_job_request(body: Any, max_seconds: float = 366 * 86400) -> JobRequest:
    """Check the JSON body of ``POST /primehub/api/jobs`` and return a JobRequest."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        raise InvalidRequest(
            f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KNOWN_FIELDS))}."
        )
    path = body.get("path")
    if not isinstance(path, str) or not path.strip():
        raise InvalidRequest(
            "'path' is required: the notebook to run, relative to the server root."
        )
    name = _optional_str(body, "name")
    if name is not None:
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidRequest(f"'name' must be at most {MAX_NAME_LENGTH} characters.")
        if any(ord(ch) < 32 for ch in name):
            raise InvalidRequest("'name' must not contain control characters.")
    return JobRequest(
        path=path,
        name=name,
        parameters=validate_parameters(body.get("parameters")),
        kernel=_optional_str(body, "kernel"),
        timeout=_optional_seconds(body, "timeout", max_seconds),
        deadline=_optional_seconds(body, "deadline", max_seconds),
        backend=_optional_str(body, "backend"),
        instance_type=_optional_str(body, "instanceType"),
        image=_optional_str(body, "image"),
    )


def parse_status_filter(value: str | None) -> JobStatus | None:
    """``?status=`` of the listing: empty means all."""
    if not value:
        return None
    try:
        return JobStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in JobStatus)
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
