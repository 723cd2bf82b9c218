"""``primehub notebook``: start (with the spawn's progress), list, open, logs, stop."""

from __future__ import annotations

import sys
import time
import webbrowser
from typing import Any

import click

from . import mapping, output
from .context import POLL, Context, json_option, pass_ctx
from .session import CliError


@click.group()
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
