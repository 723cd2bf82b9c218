"""PURE: command-line options to REST requests (paths, bodies, queries)."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from primehub_jobs_contract.wire import HUB_SCHEDULE_JOB_FIELDS

from .session import CliError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SCHEDULE_JOB_FIELDS = HUB_SCHEDULE_JOB_FIELDS


def seg(part: str) -> str:
    """One URL path segment, escaped (user and server names may hold ``/``, ``?``, ``#``, ``%``)."""
    return urllib.parse.quote(part, safe="")


def server_path(user: str, server: str) -> str:
    """``users/<user>/server`` (the default server) or ``users/<user>/servers/<name>``."""
    if server:
        return f"users/{seg(user)}/servers/{seg(server)}"
    return f"users/{seg(user)}/server"


def logs_path(user: str, server: str, since: str | None = None, tail: int | None = None) -> str:
    """The hub's server-log API (``primehub_spawner/server_logs_api.py``) with its query."""
    query = {}
    if since:
        query["since"] = since
    elif tail:
        query["tail"] = str(tail)
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    return f"primehub/{server_path(user, server)}/logs{suffix}"


def env_pairs(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--env K=V`` options as a mapping (a later K wins); a bad one is a CliError."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _ENV_NAME.match(key):
            raise CliError(f"--env {pair!r}: use --env NAME=VALUE with a variable name")
        env[key] = value
    return env


def user_options(
    group: str | None, instance_type: str | None, image: str | None, env: dict[str, str]
) -> dict[str, Any]:
    """The spawn's ``user_options`` (only what was given; the hub picks defaults)."""
    options: dict[str, Any] = {}
    if group:
        options["group"] = group
    if instance_type:
        options["instance_type"] = instance_type
    if image:
        options["image"] = image
    if env:
        options["env"] = env
    return options


def job_body(
    *,
    path: str,
    parameters: dict[str, Any],
    hub: bool,
    group: str | None = None,
    name: str | None = None,
    kernel: str | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
    instance_type: str | None = None,
    image: str | None = None,
    backend: str | None = None,
) -> dict[str, Any]:
    """``POST jobs`` of the jobs service (``hub``) or of the server's ``/primehub/api``."""
    body: dict[str, Any] = {"path": path, "parameters": parameters}
    extra = {
        "name": name,
        "kernel": kernel,
        "timeout": timeout,
        "deadline": deadline,
        "instanceType": instance_type,
        "image": image,
    }
    if hub:
        if backend:
            raise CliError("--backend is for jobs run by your server; the hub runs on Kubernetes")
        extra["group"] = group
    else:
        if group:
            raise CliError(
                "--group is for jobs sent to the hub; your server runs a job in its own group"
            )
        extra["backend"] = backend
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def rerun_body(job: dict[str, Any], hub: bool) -> dict[str, Any]:
    """The submit that runs ``job`` again: same notebook, parameters and resources."""
    body: dict[str, Any] = {"path": job["path"], "parameters": job.get("parameters") or {}}
    keys = ["name", "kernel", "timeout", "deadline", "instanceType", "image"]
    keys += ["group"] if hub else []
    for key in keys:
        if job.get(key) is not None:
            body[key] = job[key]
    if not hub and job.get("backend"):
        body["backend"] = job["backend"]
    return body


def jobs_query(status: str | None, limit: int) -> str:
    """``jobs?...`` of a listing."""
    query = {"limit": str(limit)}
    if status:
        query["status"] = status
    return "jobs?" + urllib.parse.urlencode(query)


def schedule_body(
    job: dict[str, Any], recurrence: str | None, cron: str | None, timezone: str | None
) -> dict[str, Any]:
    """``POST schedules``: a job body (hub form) plus when it runs."""
    body = {k: v for k, v in job.items() if k in SCHEDULE_JOB_FIELDS}
    body.update(recurrence_fields(recurrence, cron))
    if timezone:
        body["timezone"] = timezone
    return body


def recurrence_fields(recurrence: str | None, cron: str | None) -> dict[str, Any]:
    """``--recurrence daily`` or ``--cron '0 4 * * 1'`` (a custom recurrence)."""
    if cron and recurrence not in (None, "custom"):
        raise CliError(f"--cron is a custom recurrence; leave out --recurrence {recurrence}")
    if cron:
        return {"recurrence": "custom", "cron": cron}
    if recurrence == "custom":
        raise CliError("a custom recurrence needs --cron 'MIN HOUR DAY MONTH WEEKDAY'")
    return {"recurrence": recurrence} if recurrence else {}


def pause_patch() -> dict[str, Any]:
    """PATCH that pauses a schedule: the service keeps its recurrence and clears its next run."""
    return {"paused": True}


def resume_patch(
    schedule: dict[str, Any], recurrence: str | None, cron: str | None
) -> dict[str, Any]:
    """PATCH that resumes a schedule (from the next matching time), optionally with a new
    recurrence; one without any (``inactive``) must be given one."""
    fields = recurrence_fields(recurrence, cron)
    if not fields and schedule.get("recurrence") in (None, "inactive"):
        raise CliError(
            "it has no recurrence: say when it runs, --recurrence daily|weekly|monthly or --cron"
        )
    return {"paused": False, **fields}


def is_paused(schedule: dict[str, Any]) -> bool:
    """A schedule with a recurrence but no next run (paused by its user or by a refused run)."""
    if "paused" in schedule:
        return bool(schedule["paused"])
    return schedule.get("recurrence") not in (None, "inactive") and not schedule.get("nextRunAt")


def job_target(*, server_url: bool, force_hub: bool, inside_server: bool, hub_known: bool) -> str:
    """Where ``primehub job`` goes: ``server`` (a Jupyter server's ``/primehub/api``, the jobs
    of that server) or ``hub`` (the ``primehub-jobs`` service)."""
    if server_url and force_hub:
        raise CliError("--server-url and --hub name two places; give one")
    if server_url:
        return "server"
    if force_hub:
        return "hub"
    return "server" if inside_server or not hub_known else "hub"


def parameters(pairs: tuple[str, ...], yaml_text: str | None, json_text: str | None) -> dict:
    """Merge ``-y`` YAML, ``-j`` JSON and ``-p name=value``, in that order, exactly as
    ``primehub-job`` does (its rules, one place)."""
    import jupyterlab_primehub.cli as job_cli  # only when parameters are given

    try:
        return job_cli.parse_parameters(list(pairs), yaml_text, json_text)
    except job_cli.CliError as e:
        raise CliError(str(e)) from None
