"""Statistics and the result records every section returns (no I/O except writing the JSON)."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def median(values: Iterable[float]) -> float:
    """Median of ``values`` (NaN when empty)."""
    values = list(values)
    return statistics.median(values) if values else math.nan


def percentile(values: Iterable[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 30 samples is the 29th smallest)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(ours: float, peer: float) -> float:
    """``ours / peer``: below 1 means we are faster (or smaller) than the peer."""
    return ours / peer if peer else math.nan


@dataclass
class Row:
    """One line of a section's table: what was measured, our value, the peer's, and units."""

    metric: str
    ours: float | None
    peer: float | None = None
    unit: str = "s"
    peer_name: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """ours / peer when both exist."""
        if self.ours is None or self.peer is None:
            return None
        return ratio(self.ours, self.peer)


@dataclass
class Section:
    """What one benchmark section measured: table rows plus raw samples and settings."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (rows carry their ratio)."""
        data = asdict(self)
        for row, obj in zip(data["rows"], self.rows, strict=True):
            row["ratio"] = obj.ratio
        return data


def _fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "s":
        if value < 0.001:
            return f"{value * 1e6:.0f} µs"
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "bytes":
        return f"{value / 1024:.1f} KiB"
    if unit == "count":
        return f"{value:g}"
    return f"{value:.3g} {unit}"


def format_table(section: Section) -> str:
    """A plain-text table of the section (metric | ours | peer | ratio | note)."""
    lines = [f"== {section.title} =="]
    if not section.ok:
        lines.append(f"   FAILED: {section.error}")
    header = ("metric", "ours", "peer", "ours/peer", "note")
    rows = [header]
    for r in section.rows:
        peer = _fmt(r.peer, r.unit) + (f" ({r.peer_name})" if r.peer_name and r.peer else "")
        rat = "-" if r.ratio is None or math.isnan(r.ratio) else f"{r.ratio:.2f}"
        rows.append((r.metric, _fmt(r.ours, r.unit), peer, rat, r.note))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def write_results(sections: list[Section], path: Path | None = None) -> Path:
    """Merge ``sections`` into ``latest.json`` (sections run alone keep the others' results)."""
    path = path or RESULTS_DIR / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data.setdefault("sections", {})
    for s in sections:
        record = s.to_json()
        record["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data["sections"][s.name] = record
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path
