"""PURE validation of submit and schedule bodies (types, paths in the group volume, limits).

Catalog rules (group membership, instance type, image) are checked by ``user_options``
afterwards, with the same messages as a spawn.
"""

from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from jupyterlab_primehub.errors import InvalidRequest
from jupyterlab_primehub.jobs.model import validate_parameters

from .errors import JobsError
from .manifest import JOBS_FOLDER

_ID = re.compile(r"^[0-9a-f]{12}$")
MAX_NAME = 200
SUBMIT_FIELDS = {
    "id",
    "group",
    "path",
    "output",
    "snapshot",
    "name",
    "instanceType",
    "image",
    "parameters",
    "kernel",
    "timeout",
    "deadline",
}
SCHEDULE_FIELDS = (SUBMIT_FIELDS - {"id", "output", "snapshot"}) | {
    "recurrence",
    "cron",
    "timezone",
}


@dataclass
class SubmitRequest:
    """A type-checked submit (or schedule) body; paths are relative to the group volume."""

    path: str
    group: str | None = None
    id: str | None = None
    output: str | None = None
    snapshot: str | None = None
    name: str | None = None
    instance_type: str | None = None
    image: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    kernel: str | None = None
    timeout: float | None = None
    deadline: int | None = None
    recurrence: str | None = None
    cron: str | None = None
    timezone: str | None = None


def _text(body: dict[str, Any], key: str, limit: int = 1024) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise JobsError(f"{key}: must be a string, got {type(value).__name__}")
    value = value.strip()
    if len(value) > limit or any(ord(ch) < 32 for ch in value):
        raise JobsError(f"{key}: must be at most {limit} printable characters")
    return value or None


def _seconds(body: dict[str, Any], key: str, maximum: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JobsError(f"{key}: must be a number of seconds, got {value!r}")
    if value <= 0 or value > maximum:
        raise JobsError(f"{key}: must be between 1 and {maximum:g} seconds, got {value!r}")
    return float(value)


def volume_path(raw: str, key: str, group: str, project_root: str, *, jobs_folder: bool) -> str:
    """``raw`` as a normalised path relative to the group volume, or JobsError.

    Absolute paths are accepted when they lie in ``<project_root>/<group>``. ``jobs_folder``
    says whether the path must (snapshots) or must not (notebooks, outputs) lie in the jobs
    folder.
    """
    volume = posixpath.join(project_root, group)
    if "\x00" in raw or "\\" in raw:
        raise JobsError(f"{key}: {raw!r} is not a valid path")
    if raw.startswith("/"):
        if not (raw + "/").startswith(volume.rstrip("/") + "/"):
            raise JobsError(
                f"{key}: {raw!r} is outside the group volume of {group!r}; "
                f"give a path inside {volume}"
            )
        raw = raw[len(volume) :]
    norm = posixpath.normpath(raw.lstrip("/"))
    if norm in (".", "") or norm == ".." or norm.startswith("../"):
        raise JobsError(
            f"{key}: {raw!r} is outside the group volume of {group!r}; give a path inside {volume}"
        )
    if not norm.endswith(".ipynb"):
        raise JobsError(f"{key}: {raw!r} is not a notebook (.ipynb file)")
    in_jobs = norm.split("/", 1)[0] == JOBS_FOLDER
    if in_jobs != jobs_folder:
        where = "inside" if jobs_folder else "outside"
        raise JobsError(f"{key}: {raw!r} must be {where} the {JOBS_FOLDER} folder")
    return norm


def parse_submit(body: Any, *, max_deadline: float, schedule: bool = False) -> SubmitRequest:
    """Check the JSON body of ``POST /api/jobs`` (or ``/api/schedules``)."""
    if not isinstance(body, dict):
        raise JobsError("The request body must be a JSON object.")
    allowed = SCHEDULE_FIELDS if schedule else SUBMIT_FIELDS
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise JobsError(f"{unknown[0]}: unknown field (allowed: {', '.join(sorted(allowed))})")
    path = _text(body, "path")
    if not path:
        raise JobsError("path: required: the notebook, relative to the group volume")
    job_id = _text(body, "id")
    if job_id is not None and not _ID.match(job_id):
        raise JobsError("id: must be 12 lower-case hexadecimal characters")
    try:
        parameters = validate_parameters(body.get("parameters"))
    except InvalidRequest as e:
        raise JobsError(f"parameters: {e}") from None
    deadline = _seconds(body, "deadline", max_deadline)
    return SubmitRequest(
        path=path,
        group=_text(body, "group"),
        id=job_id,
        output=_text(body, "output"),
        snapshot=_text(body, "snapshot"),
        name=_text(body, "name", MAX_NAME),
        instance_type=_text(body, "instanceType"),
        image=_text(body, "image"),
        parameters=parameters,
        kernel=_text(body, "kernel", 200),
        timeout=_seconds(body, "timeout", max_deadline),
        deadline=int(math.ceil(deadline)) if deadline else None,
        recurrence=_text(body, "recurrence"),
        cron=_text(body, "cron", 200),
        timezone=_text(body, "timezone", 100),
    )


def output_name(path: str, stamp: str, job_id: str) -> str:
    """Default output notebook: next to the source, ``<stem>-<stamp>-<id6>-output.ipynb``."""
    folder, base = posixpath.split(path)
    stem = base[: -len(".ipynb")]
    return posixpath.join(folder, f"{stem}-{stamp}-{job_id[:6]}-output.ipynb")
