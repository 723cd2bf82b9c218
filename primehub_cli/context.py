"""What the ``primehub`` commands share: the global options, the hub and user once needed,
the follow interval (``PRIMEHUB_CLI_POLL``, seconds) and the ``--json`` option."""

from __future__ import annotations

import os

import click

from primehub_jobs_contract.states import State

from . import session
from .http import Api
from .session import CliError, Hub

FINAL = tuple(s.value for s in State if s.is_final)
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
        hint = ""
        if self.hub().source == "server environment":
            hint = (
                "this server's own token may not do that: run `primehub login` with a token of "
                "yours (the hub's /hub/token page)"
            )
        return Api(self.hub().api, self.hub().token, "the hub", hint)

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
