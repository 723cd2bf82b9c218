"""The executor's status file and termination message, read by the backends.

``status.json`` is a JSON object the executor replaces atomically as the job runs: ``state``,
``pid``/``pidStart`` (see :mod:`.processes`), ``progress`` ``{done, total}``, ``startedAt``,
``finishedAt``, ``error`` ``{cellIndex, ename, evalue}``, ``endedEarly`` (the same shape),
``reason``. In a job pod the final ``{"state", "endedEarly"}`` also goes into the container's
termination message, which the hub service reads from the pod's status.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MAX_TERMINATION_EVALUE = 200  # the kubelet keeps 4096 bytes of a termination message


def write_status(path: Path | str, status: dict[str, Any]) -> None:
    """Replace the status file atomically so readers never see half a document."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(status, indent=1))
    os.replace(tmp, path)


def read_status(path: Path | str) -> dict[str, Any] | None:
    """The last status written, or None if there is none (yet) or it is unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def termination_message(status: dict[str, Any]) -> str:
    """PURE: the container termination message: ``{"state", "endedEarly"}`` as JSON, well under
    the kubelet's limit (an evalue is "" or "0"; anything longer is cut)."""
    ended = status.get("endedEarly")
    if ended:
        ended = {**ended, "evalue": str(ended.get("evalue") or "")[:MAX_TERMINATION_EVALUE]}
    return json.dumps({"state": status.get("state"), "endedEarly": ended or None})
