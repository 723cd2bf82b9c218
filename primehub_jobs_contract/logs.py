"""Reading a job's log by offset: both REST APIs answer ``GET .../log?offset=N`` with at most
:data:`MAX_LOG_CHUNK` bytes from ``N``; the caller asks again from ``N + len(bytes)``."""

from __future__ import annotations

from pathlib import Path

MAX_LOG_CHUNK = 1024 * 1024


def read_chunk(path: Path | str, offset: int, limit: int = MAX_LOG_CHUNK) -> bytes:
    """Up to ``limit`` bytes of the file from ``offset``; b"" if it does not exist (yet)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(limit)
    except FileNotFoundError:
        return b""
