"""PURE: reading a live pod's log incrementally (issue 15, medium 9).

The Kubernetes log API has no byte offset, only ``sinceTime`` (whole seconds) and
``timestamps=true`` (each line prefixed by its RFC 3339 time, nanoseconds). A *cursor* says where a
reader is: the time of the last line it got and how many lines it got with exactly that time. The
next read asks for the log since that second and drops what the cursor says was delivered (the
boundary lines), so each poll downloads only the new lines, not the whole log.

A cursor travels as text ``<RFC 3339 time>,<count>`` (the ``X-Log-Cursor`` header and the ``cursor``
query parameter of ``GET api/jobs/{id}/log``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def stamp_ns(stamp: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 time as Kubernetes writes it, else None."""
    m = _STAMP.match(stamp)
    if not m:
        return None
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    try:
        seconds = datetime.fromisoformat(m.group(1) + zone).timestamp()
    except ValueError:
        return None
    return int(seconds) * 10**9 + int((m.group(2) or "").ljust(9, "0"))


def since_second(stamp: str) -> str:
    """The whole second of ``stamp`` in UTC, as ``sinceTime`` takes it."""
    ns = stamp_ns(stamp) or 0
    return datetime.fromtimestamp(ns // 10**9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Cursor:
    """Where a reader is: the last delivered line's time and how many lines had that time."""

    stamp: str
    count: int

    def to_text(self) -> str:
        return f"{self.stamp},{self.count}"

    @classmethod
    def parse(cls, raw: str | None) -> Cursor | None:
        """A cursor from its text; None when absent or not one (the reader starts over)."""
        if not raw:
            return None
        stamp, _, count = raw.rpartition(",")
        if stamp_ns(stamp) is None or not count.isdigit() or len(count) > 9:
            return None
        return cls(stamp, int(count))


def split_lines(raw: str) -> list[tuple[str, str]]:
    """``(timestamp, text with its newline)`` of each line of a ``timestamps=true`` log.

    A line without a valid timestamp (cannot happen with a real kubelet) keeps the previous time.
    """
    out: list[tuple[str, str]] = []
    last = ""
    for line in raw.splitlines(keepends=True):
        stamp, sep, text = line.partition(" ")
        if sep and stamp_ns(stamp) is not None:
            last = stamp
            out.append((stamp, text))
        elif line.rstrip("\n") and stamp_ns(line.rstrip("\n")) is not None:
            last = line.rstrip("\n")  # an empty line: "<time>\n"
            out.append((last, "\n" if line.endswith("\n") else ""))
        else:
            out.append((last, line))
    return out


def new_lines(
    raw: str, cursor: Cursor | None, limit: int, truncated: bool = False
) -> tuple[bytes, Cursor | None]:
    """The bytes after ``cursor`` in ``raw`` (a ``timestamps=true`` log since the cursor's
    second), at most ``limit`` of them in whole lines (one longer line is cut), and the cursor
    after them. ``truncated``: ``raw`` was cut by ``limitBytes``, so its last line may be
    incomplete and is left for the next read."""
    lines = split_lines(raw)
    if truncated and lines and not lines[-1][1].endswith("\n"):
        lines.pop()
    after = stamp_ns(cursor.stamp) if cursor else None
    skip = cursor.count if cursor else 0
    out: list[bytes] = []
    size = 0
    position = cursor
    for stamp, text in lines:
        ns = stamp_ns(stamp)
        if after is not None and ns is not None:
            if ns < after:
                continue
            if ns == after and skip > 0:
                skip -= 1
                continue
        data = text.encode("utf-8", "replace")
        if size + len(data) > limit:
            if out:
                break
            data = data[:limit]  # a single line longer than a whole answer
        out.append(data)
        size += len(data)
        if position is not None and stamp_ns(position.stamp) == ns:
            position = Cursor(position.stamp, position.count + 1)
        else:
            position = Cursor(stamp, 1) if stamp else position
    return b"".join(out), position
