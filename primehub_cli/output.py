"""PURE: what the commands print (tables, one-line summaries, the spawn progress line)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .mapping import is_paused


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c.ljust(widths[i]) for i, c in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True)


def _amounts(values: dict[str, Any] | None) -> str:
    if not values:
        return "-"
    shown = [f"{k} {v}" for k, v in values.items() if v not in (None, 0, "0")]
    return ", ".join(shown) or "-"


def groups_text(overview: dict[str, Any]) -> str:
    """``primehub groups``: each group with its usage against quota, instance types, images."""
    blocks = []
    for g in overview.get("groups", []):
        title = g["name"] + (f" ({g['displayName']})" if g.get("displayName") else "")
        usage = g.get("usage") or {}
        lines = [
            title,
            f"  your usage:  {_amounts(usage.get('user'))}   quota: {_amounts(g.get('quota'))}",
            f"  group usage: {_amounts(usage.get('group'))}   "
            f"quota: {_amounts(g.get('projectQuota'))}",
        ]
        rows = [
            [
                it["name"],
                it.get("spec") or "",
                "yes" if it.get("available", True) else "no: " + (it.get("reason") or ""),
            ]
            for it in g.get("instanceTypes", [])
        ]
        if rows:
            lines.append(_indent(table(["INSTANCE TYPE", "SPEC", "AVAILABLE"], rows)))
        images = [im["name"] + (f" ({im['type']})" if im.get("type") else "") for im in g["images"]]
        lines.append("  images: " + (", ".join(images) or "-"))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) or "You are in no group; ask your admin to add you to one."


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def server_state(server: dict[str, Any]) -> str:
    pending = server.get("pending")
    if pending:
        return {"spawn": "starting", "stop": "stopping"}.get(pending, pending)
    return "ready" if server.get("ready") else "not ready"


def servers_rows(user: dict[str, Any]) -> list[dict[str, Any]]:
    """The user's servers (from ``GET /hub/api/users/<name>``) as ``--json`` shows them."""
    rows = []
    for name, server in sorted((user.get("servers") or {}).items()):
        options = server.get("user_options") or {}
        rows.append(
            {
                "name": name,
                "state": server_state(server),
                "url": server.get("url"),
                "group": options.get("group"),
                "instanceType": options.get("instance_type"),
                "image": options.get("image"),
                "started": server.get("started"),
                "lastActivity": server.get("last_activity"),
            }
        )
    return rows


def servers_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No servers. Start one with: primehub notebook start"
    return table(
        ["NAME", "STATE", "GROUP", "INSTANCE TYPE", "IMAGE", "STARTED"],
        [
            [
                r["name"] or "(default)",
                r["state"],
                r["group"],
                r["instanceType"],
                r["image"],
                r["started"],
            ]
            for r in rows
        ],
    )


def spawn_line(event: dict[str, Any]) -> str:
    """One progress event of a spawn: ``[ 50%] Pulling image ...``."""
    progress = event.get("progress")
    percent = f"{int(progress):3d}%" if isinstance(progress, (int, float)) else "  ?%"
    message = " ".join(str(event.get("message") or "").split())
    return f"[{percent}] {message}"


def jobs_text(page: dict[str, Any]) -> str:
    jobs = page.get("jobs", [])
    rows = [
        [
            j["id"],
            j["status"],
            j.get("group") or j.get("backend") or "",
            j.get("instanceType") or "",
            j.get("createdAt") or "",
            j["name"],
        ]
        for j in jobs
    ]
    text = table(["ID", "STATUS", "WHERE", "INSTANCE TYPE", "CREATED", "NAME"], rows)
    return f"{text}\n({len(jobs)} of {page.get('total', len(jobs))})"


def progress_line(job: dict[str, Any]) -> str:
    """A server job's progress: ``[#######.......] 2/6 cells  running``."""
    done, total = job["progress"]["done"], job["progress"]["total"]
    width = 30
    filled = int(width * done / total) if total else 0
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} cells  {job['status']}"


def job_text(job: dict[str, Any]) -> str:
    """One job, field by field (what the server and the hub service both send, and theirs)."""
    fields = [
        ("id", job.get("id")),
        ("name", job.get("name")),
        ("notebook", job.get("path")),
        ("status", job.get("status")),
        ("group", job.get("group")),
        ("backend", job.get("backend")),
        ("instance type", job.get("instanceType")),
        ("image", job.get("image")),
        ("output", job.get("outputPath")),
        ("created", job.get("createdAt")),
        ("started", job.get("startedAt")),
        ("finished", job.get("finishedAt")),
        ("schedule", job.get("scheduleId")),
    ]
    progress = job.get("progress")
    if progress:
        fields.insert(4, ("progress", f"{progress['done']}/{progress['total']} cells"))
    if job.get("parameters"):
        fields.append(("parameters", json.dumps(job["parameters"])))
    error = job.get("error")
    if error:
        fields.append(("error", f"{error['ename']}: {error['evalue']} (cell {error['cellIndex']})"))
    elif job.get("reason"):
        fields.append(("reason", job["reason"]))
    return "\n".join(f"{k + ':':15}{v}" for k, v in fields if v not in (None, ""))


def schedules_text(schedules: list[dict[str, Any]]) -> str:
    if not schedules:
        return "No schedules."
    rows = [
        [
            s["id"],
            ("paused: " if is_paused(s) else "") + str(s.get("cron") or s.get("recurrence")),
            s.get("nextRunAt") or "-",
            s.get("timezone") or "",
            s.get("group") or "",
            s.get("lastJobId") or "-",
            s["name"],
        ]
        for s in schedules
    ]
    return table(["ID", "RUNS", "NEXT RUN", "TIME ZONE", "GROUP", "LAST JOB", "NAME"], rows)
