"""PURE validation of submit and schedule bodies (types, paths in the group volume, limits).

Catalog rules (group membership, instance type, image) are checked by ``user_options``
afterwards, with the same messages as a spawn.
"""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass, field
from typing import Any

from primehub_jobs_contract import validation
from primehub_jobs_contract.errors import InvalidRequest
from primehub_jobs_contract.layout import JOBS_FOLDER, in_jobs_folder, output_file_name
from primehub_jobs_contract.wire import HUB_SCHEDULE_FIELDS, HUB_SUBMIT_FIELDS

# "id" is known only to be refused with its own message (ids are the service's)
SUBMIT_FIELDS = HUB_SUBMIT_FIELDS | {"id"}
SCHEDULE_FIELDS = HUB_SCHEDULE_FIELDS


@dataclass
class SubmitRequest:
    """A type-checked submit (or schedule) body; paths are relative to the group volume."""

    path: str
    group: str | None = None
    id: str | None = None
    output: str | None = None
    snapshot: str | None = None
    snapshot_sha256: str | None = None
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


def volume_path(raw: str, key: str, group: str, project_root: str, *, jobs_folder: bool) -> str:
    """``raw`` as a normalised path relative to the group volume, or InvalidRequest.

    Absolute paths are accepted when they lie in ``<project_root>/<group>``. ``jobs_folder``
    says whether the path must (snapshots) or must not (notebooks, outputs) lie in the jobs
    folder.
    """
    volume = posixpath.join(project_root, group)
    if "\x00" in raw or "\\" in raw:
        raise InvalidRequest(f"'{key}' must be a valid path, got {raw!r}.")
    if raw.startswith("/"):
        if not (raw + "/").startswith(volume.rstrip("/") + "/"):
            raise InvalidRequest(
                f"'{key}' must be inside the group volume of {group!r} ({volume}), got {raw!r}."
            )
        raw = raw[len(volume) :]
    norm = posixpath.normpath(raw.lstrip("/"))
    if norm in (".", "") or norm == ".." or norm.startswith("../"):
        raise InvalidRequest(
            f"'{key}' must be inside the group volume of {group!r} ({volume}), got {raw!r}."
        )
    if not norm.endswith(".ipynb"):
        raise InvalidRequest(f"'{key}' must be a notebook (.ipynb file), got {raw!r}.")
    if in_jobs_folder(norm) != jobs_folder:
        where = "inside" if jobs_folder else "outside"
        raise InvalidRequest(f"'{key}' must be {where} the {JOBS_FOLDER} folder, got {raw!r}.")
    return norm


def parse_submit(body: Any, *, max_deadline: float, schedule: bool = False) -> SubmitRequest:
    """Check the JSON body of ``POST /api/jobs`` (or ``/api/schedules``)."""
    validation.reject_unknown(
        validation.require_object(body), SCHEDULE_FIELDS if schedule else SUBMIT_FIELDS
    )
    path = validation.text(body, "path")
    if not path:
        raise InvalidRequest("'path' is required: the notebook, relative to the group volume.")
    deadline = validation.seconds(body, "deadline", max_deadline)
    if body.get("snapshot") and not body.get("snapshotSha256"):
        raise InvalidRequest(
            "'snapshotSha256' is required with 'snapshot': the SHA-256 of the notebook you "
            "submit (the job runs it only if the snapshot still has that digest)."
        )
    return SubmitRequest(
        path=path,
        group=validation.text(body, "group"),
        id=validation.job_id(body),
        output=validation.text(body, "output"),
        snapshot=validation.text(body, "snapshot"),
        snapshot_sha256=validation.sha256(body, "snapshotSha256"),
        name=validation.name(body),
        instance_type=validation.text(body, "instanceType"),
        image=validation.text(body, "image"),
        parameters=validation.parameters(body.get("parameters")),
        kernel=validation.text(body, "kernel", 200),
        timeout=validation.seconds(body, "timeout", max_deadline),
        deadline=int(math.ceil(deadline)) if deadline else None,
        recurrence=validation.text(body, "recurrence"),
        cron=validation.text(body, "cron", 200),
        timezone=validation.text(body, "timezone", 100),
    )


def output_name(path: str, stamp: str, job_id: str) -> str:
    """Default output notebook: next to the source, named by the contract's
    :data:`~primehub_jobs_contract.layout.OUTPUT_TEMPLATE` (as the servers name theirs)."""
    folder, base = posixpath.split(path)
    stem = base[: -len(".ipynb")]
    return posixpath.join(folder, output_file_name(stem, stamp, job_id))
