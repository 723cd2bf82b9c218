"""The executor's status file and termination message, read by the backends.

``status.json`` is a JSON object the executor replaces atomically as the job runs: ``state``,
``pid``/``pidStart`` (see :mod:`.processes`), ``progress`` ``{done, total}``, ``startedAt``,
``finishedAt``, ``error`` ``{cellIndex, ename, evalue}``, ``endedEarly`` (the same shape),
``reason``. In a job pod the final ``{"state", "endedEarly"}`` also goes into the container's
termination message, which the hub service reads from the pod's status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .safefiles import read_capped, replace_file
from .times import from_iso

MAX_TERMINATION_EVALUE = 200  # the kubelet keeps 4096 bytes of a termination message


MAX_STATUS_BYTES = 256 * 1024
MAX_TEXT = 4096  # reason, ename, evalue: what a panel shows
_STATES = {"pending", "running", "succeeded", "failed", "cancelled"}


def write_status(
    path: Path | str, status: dict[str, Any], confine: Path | str | None = None
) -> None:
    """Replace the status file atomically (readers never see half a document), never
    writing through a link planted at its name or on the way below ``confine``."""
    replace_file(path, json.dumps(status, indent=1).encode(), confine)


def read_status(path: Path | str) -> dict[str, Any] | None:
    """The last status written, checked as untrusted input (it may lie in a shared group
    volume): only the known fields, of the right types and sizes; None if there is none (yet),
    or it is unreadable, a link, too large or not a JSON object."""
    try:
        data = json.loads(read_capped(path, MAX_STATUS_BYTES))
    except (OSError, ValueError):
        return None
    return clean_status(data) if isinstance(data, dict) else None


def _text(value: Any) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
        return None
    return value


def _cell_error(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {
        "cellIndex": _count(value.get("cellIndex")),
        "ename": _text(value.get("ename")) or "",
        "evalue": _text(value.get("evalue")) or "",
    }


def clean_status(data: dict[str, Any]) -> dict[str, Any]:
    """PURE: the fields of a status document a backend may use, each checked; anything
    missing or malformed is left out (so a forged file cannot break a backend's round)."""
    clean: dict[str, Any] = {}
    if data.get("state") in _STATES:
        clean["state"] = data["state"]
    for key in ("pid", "pidStart", "kernelPid", "kernelPidStart", "currentCell"):
        if _count(data.get(key)) is not None:
            clean[key] = data[key]
    progress = data.get("progress")
    if isinstance(progress, dict):
        done, total = _count(progress.get("done")), _count(progress.get("total"))
        if done is not None and total is not None:
            clean["progress"] = {"done": min(done, total), "total": total}
    for key in ("startedAt", "finishedAt"):
        text = _text(data.get(key))
        if text is not None:
            try:
                from_iso(text)
            except ValueError:
                continue
            clean[key] = text
    for key in ("reason", "jobId", "outputPath"):
        if _text(data.get(key)) is not None:
            clean[key] = _text(data[key])
    for key in ("error", "endedEarly"):
        if data.get(key) is not None and _cell_error(data.get(key)) is not None:
            clean[key] = _cell_error(data[key])
    return clean


def termination_message(status: dict[str, Any]) -> str:
    """PURE: the container termination message: ``{"state", "endedEarly"}`` as JSON, well under
    the kubelet's limit (an evalue is "" or "0"; anything longer is cut)."""
    ended = status.get("endedEarly")
    if ended:
        ended = {**ended, "evalue": str(ended.get("evalue") or "")[:MAX_TERMINATION_EVALUE]}
    return json.dumps({"state": status.get("state"), "endedEarly": ended or None})
