"""The ``primehub`` command (click): the top group, ``login``, ``groups`` and the entry point;
``notebook`` is in :mod:`.notebooks`, ``job`` and ``schedule`` in :mod:`.jobs`.

Exit codes: 0 done, 1 refused or failed (the server's message is printed, never a traceback; a
job that ended failed or cancelled under ``--wait``/``-f``), 2 usage errors, 130 interrupted.
Shell completion: ``eval "$(_PRIMEHUB_COMPLETE=bash_source primehub)"`` (zsh_source, fish_source).
"""

from __future__ import annotations

import getpass
import os
import sys

import click

from . import output, session
from .context import Context, json_option, pass_ctx
from .http import Api
from .jobs import job, schedule
from .notebooks import notebook
from .session import CliError


@click.group(name="primehub", context_settings={"help_option_names": ["-h", "--help"]})
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


cli.add_command(notebook)
cli.add_command(job)
cli.add_command(schedule)


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
