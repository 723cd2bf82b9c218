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
    """PURE: the known fields of a status document, each checked: a field that is missing stays
    missing, one that is malformed becomes None (so a forged file cannot break a backend)."""
    checks = {
        "state": lambda v: v if v in _STATES else None,
        "progress": _progress,
        "reason": _text,
        "jobId": _text,
        "outputPath": _text,
        "startedAt": _time,
        "finishedAt": _time,
        "error": _cell_error,
        "endedEarly": _cell_error,
        **dict.fromkeys(("pid", "pidStart", "kernelPid", "kernelPidStart", "currentCell"), _count),
    }
    return {key: check(data[key]) for key, check in checks.items() if key in data}


def _progress(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    done, total = _count(value.get("done")), _count(value.get("total"))
    if done is None or total is None:
        return None
    return {"done": min(done, total), "total": total}


def _time(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        from_iso(text)
    except ValueError:
        return None
    return text


def termination_message(status: dict[str, Any]) -> str:
    """PURE: the container termination message: ``{"state", "endedEarly"}`` as JSON, well under
    the kubelet's limit (an evalue is "" or "0"; anything longer is cut)."""
    ended = status.get("endedEarly")
    if ended:
        ended = {**ended, "evalue": str(ended.get("evalue") or "")[:MAX_TERMINATION_EVALUE]}
    return json.dumps({"state": status.get("state"), "endedEarly": ended or None})
