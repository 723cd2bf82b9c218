"""The executor's status file: JSON written atomically, read by runners (even after a restart)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


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
