"""The ``primehub`` commands (click): thin glue between the options, :mod:`.mapping`,
:mod:`.http` and :mod:`.output`.

Exit codes: 0 done, 1 refused or failed (the server's message is printed, never a traceback; a
job that ended failed or cancelled under ``--wait``/``-f``), 2 usage errors, 130 interrupted.
Shell completion: ``eval "$(_PRIMEHUB_COMPLETE=bash_source primehub)"`` (zsh_source, fish_source).
"""

from __future__ import annotations

import getpass
import os
import sys
import time
import webbrowser
from pathlib import Path
from typing import Any

import click

from primehub_jobs_contract.states import State

from . import mapping, output, session
from .http import Api
from .session import CliError, Hub

FINAL = tuple(s.value for s in State if s.is_final)
RECURRENCES = ("daily", "weekly", "monthly", "custom")
POLL = float(os.environ.get("PRIMEHUB_CLI_POLL", "2"))


class Context:
    """What the commands share: the global options and, once needed, the hub and the user."""

    def __init__(self, url: str | None, token: str | None) -> None:
        self.url = url
        self.token = token
        self._hub: Hub | None = None
        self._user: str | None = None

    def hub(self) -> Hub:
        if self._hub is None:
            stored = session.load(session.credentials_path(os.environ))
            found = session.resolve(os.environ, self.url, self.token, stored)
            if found is None:
                raise CliError(
                    "not logged in: run `primehub login HUB_URL` (or pass --url and --token)"
                )
            self._hub = found
        return self._hub

    def hub_api(self) -> Api:
        return Api(self.hub().api, self.hub().token, "the hub")

    def jobs_api(self) -> Api:
        hub = self.hub()
        base = os.environ.get("PRIMEHUB_JOBS_URL") if hub.source == "server environment" else None
        base = (base or hub.url + "/services/primehub-jobs/").rstrip("/") + "/api/"
        return Api(base, hub.token, "the primehub-jobs service")

    def user(self) -> str:
        if self._user is None:
            me = self.hub_api().call("GET", "user")
            self._user = me["name"]
        return self._user

    def hub_known(self) -> bool:
        stored = session.load(session.credentials_path(os.environ))
        return session.resolve(os.environ, self.url, self.token, stored) is not None


pass_ctx = click.make_pass_decorator(Context)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def echo_json(data: Any) -> None:
    click.echo(output.as_json(data))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="PRIMEHUB_URL", help="Hub URL (default: from `primehub login`).")
@click.option("--token", envvar="PRIMEHUB_TOKEN", help="Hub API token (default: stored).")
@click.version_option(package_name="jupyterhub-primehub", prog_name="primehub")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None) -> None:
    """PrimeHub from the shell: your groups, notebook servers, jobs and schedules."""
    ctx.obj = Context(url, token)


# ---- login and groups --------------------------------------------------------------------


@cli.command()
@click.argument("hub_url", required=False)
@click.option("--token", "login_token", help="API token (default: asked for, not echoed).")
@pass_ctx
def login(ctx: Context, hub_url: str | None, login_token: str | None) -> int:
    """Store a hub API token (from HUB_URL/hub/token) for the next commands."""
    path = session.credentials_path(os.environ)
    stored = session.load(path) or {}
    url = hub_url or ctx.url or stored.get("url") or os.environ.get("JUPYTERHUB_API_URL")
    if not url:
        raise click.UsageError("name the hub: primehub login HUB_URL")
    url = session.root_url(url)
    token = login_token or ctx.token
    if not token:
        click.echo(f"Create a token at {url}/hub/token", err=True)
        token = getpass.getpass("API token: ").strip()
    if not token:
        raise CliError("no token given")
    me = Api(url + "/hub/api/", token, "the hub").call("GET", "user")
    if not me or not me.get("name"):
        raise CliError("the hub does not say whose token this is")
    session.save(path, url, token, me["name"])
    click.echo(f"Logged in to {url} as {me['name']} (token stored in {path})")
    return 0


@cli.command()
@json_option
@pass_ctx
def groups(ctx: Context, as_json: bool) -> int:
    """Your groups: instance types, images and usage against quota."""
    overview = ctx.hub_api().call("GET", "primehub/groups")
    click.echo(output.as_json(overview) if as_json else output.groups_text(overview))
    return 0


# ---- notebook servers --------------------------------------------------------------------


@cli.group()
def notebook() -> None:
    """Your notebook servers: start, list, open, logs, stop."""


@notebook.command("start")
@click.argument("name", default="")
@click.option("--group", "-g", help="Group to launch in (default: the hub's choice).")
@click.option("--instance-type", "-t", help="Instance type (see `primehub groups`).")
@click.option("--image", "-i", help="Image (see `primehub groups`).")
@click.option("--env", "-e", "env", multiple=True, metavar="NAME=VALUE", help="Environment.")
@click.option("--wait", "-w", is_flag=True, help="Follow the spawn; print the URL when ready.")
@pass_ctx
def notebook_start(
    ctx: Context,
    name: str,
    group: str | None,
    instance_type: str | None,
    image: str | None,
    env: tuple[str, ...],
    wait: bool,
) -> int:
    """Start the server NAME (default: your default server)."""
    options = mapping.user_options(group, instance_type, image, mapping.env_pairs(env))
    path = mapping.server_path(ctx.user(), name)
    api = ctx.hub_api()
    api.call("POST", path, options)
    label = f"Server {name!r}" if name else "Your server"
    if not wait:
        click.echo(f"{label} is starting; `primehub notebook list` shows when it is ready.")
        return 0
    last: dict[str, Any] = {}
    tty = sys.stderr.isatty()
    for event in api.events(path + "/progress"):
        last = event
        line = output.spawn_line(event)
        click.echo(("\r\033[K" + line) if tty else line, err=True, nl=not tty)
        if event.get("ready") or event.get("failed"):
            break
    if tty:
        click.echo("", err=True)
    if last.get("failed"):
        raise CliError(f"the server did not start: {last.get('message')}")
    server = ctx.hub_api().call("GET", f"users/{mapping.seg(ctx.user())}").get("servers") or {}
    model = server.get(name)
    if not model or not model.get("ready"):
        raise CliError(f"the server did not start: {last.get('message') or 'it is gone'}")
    click.echo(ctx.hub().url + model["url"])
    return 0


def _servers(ctx: Context) -> list[dict[str, Any]]:
    return output.servers_rows(ctx.hub_api().call("GET", f"users/{mapping.seg(ctx.user())}"))


@notebook.command("list")
@json_option
@pass_ctx
def notebook_list(ctx: Context, as_json: bool) -> int:
    """List your servers."""
    rows = _servers(ctx)
    for row in rows:
        row["url"] = ctx.hub().url + row["url"] if row["url"] else None
    click.echo(output.as_json(rows) if as_json else output.servers_text(rows))
    return 0


@notebook.command("stop")
@click.argument("name", default="")
@pass_ctx
def notebook_stop(ctx: Context, name: str) -> int:
    """Stop the server NAME (default: your default server)."""
    ctx.hub_api().call("DELETE", mapping.server_path(ctx.user(), name))
    click.echo(f"Stopping server {name!r}." if name else "Stopping your server.")
    return 0


@notebook.command("open")
@click.argument("name", default="")
@click.option("--browser", "-b", is_flag=True, help="Open it in the web browser.")
@pass_ctx
def notebook_open(ctx: Context, name: str, browser: bool) -> int:
    """Print (or open) the URL of the server NAME."""
    row = next((r for r in _servers(ctx) if r["name"] == name), None)
    if row is None or not row["url"]:
        raise CliError(f"no server {name!r}; start it with `primehub notebook start {name}`")
    url = ctx.hub().url + row["url"]
    click.echo(url)
    if browser:
        webbrowser.open(url)
    return 0


@notebook.command("logs")
@click.argument("name", default="")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until it stops.")
@click.option("--tail", "-n", type=click.IntRange(1, 10_000), default=500, show_default=True)
@pass_ctx
def notebook_logs(ctx: Context, name: str, follow: bool, tail: int) -> int:
    """Print the pod log of the server NAME."""
    api, user = ctx.hub_api(), ctx.user()
    data, headers = api.raw(mapping.logs_path(user, name, tail=tail))
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    last = headers.get("X-Log-Last") or None
    while follow:
        time.sleep(POLL)
        try:
            data, headers = api.raw(mapping.logs_path(user, name, since=last, tail=tail))
        except CliError as e:
            if "(HTTP 404)" in str(e):  # stopped
                click.echo(f"-- {e}", err=True)
                return 0
            raise
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        last = headers.get("X-Log-Last") or last
    return 0


# ---- jobs ----------------------------------------------------------------------------------


class Jobs:
    """Where ``primehub job`` goes: a Jupyter server's jobs API or the hub's jobs service."""

    def __init__(self, api: Api, hub: bool, server: Any = None) -> None:
        self.api = api
        self.hub = hub
        self.server = server  # jupyterlab_primehub.cli.Server when on a server


@cli.group()
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


@cli.group()
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``primehub``."""
    try:
        code = cli.main(args=argv, prog_name="primehub", standalone_mode=False)
    except click.UsageError as e:
        e.show()
        return 2
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except CliError as e:
        click.echo(f"error: {e}", err=True)
        return 1
    except (click.Abort, KeyboardInterrupt):
        click.echo("", err=True)
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
