"""``primehub job`` (a server's jobs or the hub's ``primehub-jobs`` service) and
``primehub schedule`` (the service's recurring jobs)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from primehub_jobs_contract.states import State

from . import mapping, output
from .context import FINAL, POLL, Context, json_option, pass_ctx
from .http import Api
from .session import CliError

RECURRENCES = ("daily", "weekly", "monthly", "custom")


class Jobs:
    """Where ``primehub job`` goes: a Jupyter server's jobs API or the hub's jobs service."""

    def __init__(self, api: Api, hub: bool, server: Any = None) -> None:
        self.api = api
        self.hub = hub
        self.server = server  # jupyterlab_primehub.cli.Server when on a server


@click.group()
@click.option("--server-url", help="A Jupyter server (its jobs), e.g. http://127.0.0.1:8888/.")
@click.option("--hub", "force_hub", is_flag=True, help="The hub's jobs service, also in a server.")
@click.pass_context
def job(click_ctx: click.Context, server_url: str | None, force_hub: bool) -> None:
    """Notebook jobs: run in your server when inside one, else on the hub's Kubernetes."""
    ctx: Context = click_ctx.obj
    inside = bool(
        os.environ.get("JUPYTERHUB_SERVICE_URL") and os.environ.get("JUPYTERHUB_API_TOKEN")
    )
    target = mapping.job_target(
        server_url=bool(server_url),
        force_hub=force_hub,
        inside_server=inside,
        hub_known=inside or ctx.hub_known(),
    )

    def resolve() -> Jobs:
        if target == "hub":
            return Jobs(ctx.jobs_api(), hub=True)
        server_cli = _server_cli()
        try:
            near = click_ctx.invoked_subcommand == "submit" and _notebook_arg() or None
            server = server_cli.find_server(
                server_url, None if server_url is None else ctx.token, near
            )
        except server_cli.CliError as e:
            raise CliError(f"{e}; or log in to a hub: primehub login HUB_URL") from None
        return Jobs(
            Api(server.url + "primehub/api/", server.token, "the Jupyter server"), False, server
        )

    click_ctx.obj = _Lazy(ctx, resolve)


def _notebook_arg() -> str | None:
    """The notebook named on the command line (to find the server whose root holds it)."""
    args = [a for a in sys.argv[1:] if a.endswith(".ipynb")]
    return args[0] if args else None


class _Lazy:
    """The job commands' Jobs, found once a command runs (``--help`` needs none)."""

    def __init__(self, ctx: Context, resolve: Any) -> None:
        self.ctx = ctx
        self._resolve = resolve
        self._jobs: Jobs | None = None

    def jobs(self) -> Jobs:
        if self._jobs is None:
            self._jobs = self._resolve()
        return self._jobs


pass_jobs = click.make_pass_decorator(_Lazy)


def _job_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--group", "-g", help="Group (hub jobs; default: your only group)."),
            click.option("--instance-type", "-t", help="Instance type."),
            click.option("--image", "-i", help="Image."),
            click.option("-p", "--param", multiple=True, metavar="NAME=VALUE", help="Parameter."),
            click.option("-y", "--yaml", "yaml_text", help="Parameters as a YAML mapping."),
            click.option("-j", "--json-params", "json_text", help="Parameters as a JSON object."),
            click.option("--name", help="Job name (default: the notebook's)."),
            click.option("--kernel", help="Kernel (default: the notebook's)."),
            click.option("--timeout", type=float, help="Per-cell timeout, seconds."),
            click.option("--deadline", type=float, help="Whole-job deadline, seconds."),
        ]
    ):
        f = option(f)
    return f


def _server_cli() -> Any:
    """The in-server client of ``primehub-job`` (finding the server, notebook paths), imported
    only for jobs of a Jupyter server: a laptop's commands start faster without it."""
    import jupyterlab_primehub.cli

    return jupyterlab_primehub.cli


def _submit_body(jobs: Jobs, notebook_path: str, **o: Any) -> dict[str, Any]:
    path = _server_cli().api_path(jobs.server, notebook_path) if jobs.server else notebook_path
    return mapping.job_body(
        path=path,
        parameters=mapping.parameters(o["param"], o["yaml_text"], o["json_text"]),
        hub=jobs.hub,
        group=o["group"],
        name=o["name"],
        kernel=o["kernel"],
        timeout=o["timeout"],
        deadline=o["deadline"],
        instance_type=o["instance_type"],
        image=o["image"],
        backend=o.get("backend"),
    )


def _wait(jobs: Jobs, job_id: str) -> int:
    tty = sys.stderr.isatty()
    last = None
    while True:
        job = jobs.api.poll(f"jobs/{mapping.seg(job_id)}")
        line = output.progress_line(job) if job.get("progress") else job["status"]
        if line != last:
            click.echo(("\r\033[K" + line) if tty else line, err=True, nl=not tty)
            last = line
        if job["status"] in FINAL:
            if tty:
                click.echo("", err=True)
            click.echo(output.job_text(job))
            return 0 if job["status"] == "succeeded" else 1
        time.sleep(POLL)


@job.command("submit")
@click.argument("notebook_path", metavar="NOTEBOOK")
@_job_options
@click.option("--backend", help="Backend of your server's jobs (local, kubernetes).")
@click.option("--wait", "-w", is_flag=True, help="Follow the job to its end (exit 1 if failed).")
@pass_jobs
def job_submit(lazy: _Lazy, notebook_path: str, wait: bool, **o: Any) -> int:
    """Run NOTEBOOK as a job (hub jobs: a path in the group's volume)."""
    jobs = lazy.jobs()
    job = jobs.api.call("POST", "jobs", _submit_body(jobs, notebook_path, **o))
    click.echo(f"Submitted job {job['id']} ({job['name']}); output: {job.get('outputPath')}")
    return _wait(jobs, job["id"]) if wait else 0


@job.command("list")
@click.option("--status", type=click.Choice([s.value for s in State]))
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@pass_jobs
def job_list(lazy: _Lazy, status: str | None, limit: int, as_json: bool) -> int:
    """List your jobs, newest first."""
    page = lazy.jobs().api.call("GET", mapping.jobs_query(status, limit))
    click.echo(output.as_json(page) if as_json else output.jobs_text(page))
    return 0


@job.command("status")
@click.argument("job_id", metavar="ID")
@json_option
@pass_jobs
def job_status(lazy: _Lazy, job_id: str, as_json: bool) -> int:
    """Show one job."""
    job = lazy.jobs().api.call("GET", f"jobs/{mapping.seg(job_id)}")
    click.echo(output.as_json(job) if as_json else output.job_text(job))
    return 0


@job.command("logs")
@click.argument("job_id", metavar="ID")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the job ends.")
@pass_jobs
def job_logs(lazy: _Lazy, job_id: str, follow: bool) -> int:
    """Print a job's log."""
    api = lazy.jobs().api
    base = f"jobs/{mapping.seg(job_id)}"
    offset = 0
    while True:
        data, headers = api.raw(f"{base}/log?offset={offset}")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        offset = int(headers.get("X-Log-Offset", offset + len(data)))
        if not follow:
            return 0
        if not data:
            job = api.poll(base)
            if job["status"] in FINAL:
                data, _ = api.raw(f"{base}/log?offset={offset}")
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
                return 0 if job["status"] == "succeeded" else 1
            time.sleep(POLL)


@job.command("cancel")
@click.argument("job_id", metavar="ID")
@pass_jobs
def job_cancel(lazy: _Lazy, job_id: str) -> int:
    """Cancel a pending or running job."""
    job = lazy.jobs().api.call("POST", f"jobs/{mapping.seg(job_id)}/cancel", {})
    click.echo(f"Cancelling job {job['id']} ({job['status']})")
    return 0


@job.command("rerun")
@click.argument("job_id", metavar="ID")
@click.option("--wait", "-w", is_flag=True, help="Follow the new job to its end.")
@pass_jobs
def job_rerun(lazy: _Lazy, job_id: str, wait: bool) -> int:
    """Run a job's notebook again with the same parameters and resources."""
    jobs = lazy.jobs()
    old = jobs.api.call("GET", f"jobs/{mapping.seg(job_id)}")
    job = jobs.api.call("POST", "jobs", mapping.rerun_body(old, jobs.hub))
    click.echo(f"Submitted job {job['id']} ({job['name']}), a rerun of {old['id']}")
    return _wait(jobs, job["id"]) if wait else 0


@job.command("artifacts")
@click.argument("job_id", metavar="ID")
@click.option("--output", "-o", "out", help="Zip file to write ('-': stdout).")
@pass_jobs
def job_artifacts(lazy: _Lazy, job_id: str, out: str | None) -> int:
    """Download a job's artifacts as a zip file."""
    jobs = lazy.jobs()
    query = "?format=zip" if jobs.hub else ""  # the service lists them as JSON by default
    data, _ = jobs.api.raw(f"jobs/{mapping.seg(job_id)}/artifacts{query}")
    if out == "-":
        sys.stdout.buffer.write(data)
        return 0
    target = Path(out or f"job-{job_id}-artifacts.zip")
    target.write_bytes(data)
    click.echo(f"Wrote {len(data)} bytes to {target}")
    return 0


# ---- schedules -----------------------------------------------------------------------------


@click.group()
@pass_ctx
def schedule(ctx: Context) -> None:
    """Recurring hub jobs (the primehub-jobs service)."""


@schedule.command("create")
@click.argument("notebook_path", metavar="NOTEBOOK")
@_job_options
@click.option("--recurrence", "-r", type=click.Choice(RECURRENCES), help="Preset or custom.")
@click.option("--cron", help="Cron expression 'MIN HOUR DAY MONTH WEEKDAY' (custom).")
@click.option("--timezone", "--tz", "timezone", help="Time zone of the cron, e.g. Asia/Taipei.")
@pass_ctx
def schedule_create(
    ctx: Context,
    notebook_path: str,
    recurrence: str | None,
    cron: str | None,
    timezone: str | None,
    **o: Any,
) -> int:
    """Run NOTEBOOK (a path in the group's volume) on a schedule."""
    jobs = Jobs(ctx.jobs_api(), hub=True)
    body = mapping.schedule_body(_submit_body(jobs, notebook_path, **o), recurrence, cron, timezone)
    created = jobs.api.call("POST", "schedules", body)
    next_run = created.get("nextRunAt") or "-"
    click.echo(f"Created schedule {created['id']} ({created['name']}); next run: {next_run}")
    return 0


@schedule.command("list")
@json_option
@pass_ctx
def schedule_list(ctx: Context, as_json: bool) -> int:
    """List your schedules."""
    found = ctx.jobs_api().call("GET", "schedules")
    click.echo(output.as_json(found) if as_json else output.schedules_text(found["schedules"]))
    return 0


@schedule.command("pause")
@click.argument("schedule_id", metavar="ID")
@pass_ctx
def schedule_pause(ctx: Context, schedule_id: str) -> int:
    """Stop a schedule's runs (it stays, and can be run by hand)."""
    api, path = ctx.jobs_api(), f"schedules/{mapping.seg(schedule_id)}"
    api.call("PATCH", path, mapping.pause_patch())
    click.echo(f"Paused schedule {schedule_id}")
    return 0


@schedule.command("resume")
@click.argument("schedule_id", metavar="ID")
@click.option("--recurrence", "-r", type=click.Choice(RECURRENCES))
@click.option("--cron", help="Cron expression (custom).")
@pass_ctx
def schedule_resume(
    ctx: Context, schedule_id: str, recurrence: str | None, cron: str | None
) -> int:
    """Let a paused schedule run again."""
    api, path = ctx.jobs_api(), f"schedules/{mapping.seg(schedule_id)}"
    patch = mapping.resume_patch(api.call("GET", path), recurrence, cron)
    updated = api.call("PATCH", path, patch)
    click.echo(f"Resumed schedule {schedule_id}; next run: {updated.get('nextRunAt') or '-'}")
    return 0


@schedule.command("run")
@click.argument("schedule_id", metavar="ID")
@pass_ctx
def schedule_run(ctx: Context, schedule_id: str) -> int:
    """Run a schedule now (a job; refused while its previous run is active)."""
    job = ctx.jobs_api().call("POST", f"schedules/{mapping.seg(schedule_id)}/run", {})
    click.echo(f"Submitted job {job['id']} ({job['name']})")
    return 0


@schedule.command("delete")
@click.argument("schedule_id", metavar="ID")
@pass_ctx
def schedule_delete(ctx: Context, schedule_id: str) -> int:
    """Delete a schedule (its jobs stay)."""
    ctx.jobs_api().call("DELETE", f"schedules/{mapping.seg(schedule_id)}")
    click.echo(f"Deleted schedule {schedule_id}")
    return 0
