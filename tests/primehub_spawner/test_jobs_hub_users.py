"""The jobs service's lookup of users' groups (``hub_users.HubUsers``) against an HTTP server
that answers like the hub's ``GET /users/{name}`` (the real hub: tests/e2e/test_hub_jobs.py)."""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import unquote

import pytest
from tornado import web

from primehub_jobs_contract.errors import Unavailable
from primehub_spawner.jobs.hub_users import Caller, HubUsers

USERS = {
    "alice": {"name": "alice", "groups": ["team"], "admin": False},
    "admin": {"name": "admin", "groups": ["ops"], "admin": True},
    "alice?x": {"name": "alice?x", "groups": [], "admin": False},
    "liar": {"name": "admin", "groups": ["ops"], "admin": True},  # answers for someone else
}


class UserHandler(web.RequestHandler):
    def get(self, name: str) -> None:  # tornado hands over the segment decoded once
        raw = self.request.path.rsplit("/", 1)[-1]
        self.application.settings["seen"].append((raw, self.request.headers["Authorization"]))
        if name == "broken":
            raise web.HTTPError(500)
        model = USERS.get(name)
        if model is None:
            raise web.HTTPError(404)
        self.finish(json.dumps(model))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_hub(test):
    """Run ``test(users, seen)`` with a HubUsers over a live stand-in hub (and, for a max age
    of 0, the same over a cache that is always stale)."""

    async def main(max_age: float) -> None:
        seen: list = []
        port = _port()
        server = web.Application([(r"/hub/api/users/([^/]+)", UserHandler)], seen=seen).listen(
            port, "127.0.0.1"
        )
        try:
            await test(HubUsers(f"http://127.0.0.1:{port}/hub/api/", "svc-token", max_age), seen)
        finally:
            server.stop()

    return main


def test_groups_and_admin_flag_come_from_the_hub_with_the_service_token():
    async def test(users, seen):
        assert await users.caller("alice") == Caller("alice", ("team",), False)
        assert await users.caller("admin") == Caller("admin", ("ops",), True)
        assert seen == [("alice", "token svc-token"), ("admin", "token svc-token")]

    asyncio.run(with_hub(test)(60))


@pytest.mark.parametrize("name", ["alice?x", "alice#x", "%61lice", "alice/../admin"])
def test_a_name_is_one_escaped_path_segment(name):
    async def test(users, seen):
        found = await users.caller(name)
        # never alice's or admin's groups: the hub is asked about exactly this name
        assert found is None or found == Caller(name)
        assert unquote(seen[0][0]) == name

    asyncio.run(with_hub(test)(60))


def test_answers_are_reused_only_while_young_enough():
    async def reused(users, seen):
        await users.caller("alice")
        await asyncio.gather(users.caller("alice"), users.caller("alice"))
        assert len(seen) == 1

    async def asked_again(users, seen):
        await users.caller("alice")
        await users.caller("alice")
        assert len(seen) == 2

    asyncio.run(with_hub(reused)(60))
    asyncio.run(with_hub(asked_again)(0))


def test_a_deleted_user_is_none_and_a_hub_that_cannot_answer_is_unavailable():
    async def test(users, seen):
        assert await users.caller("nobody") is None  # 404
        with pytest.raises(Unavailable, match="Cannot read the groups of 'broken'"):
            await users.caller("broken")
        with pytest.raises(Unavailable, match="answered for another user than 'liar'"):
            await users.caller("liar")

    asyncio.run(with_hub(test)(60))

    async def nothing_listens() -> None:
        users = HubUsers(f"http://127.0.0.1:{_port()}/hub/api", "t", 60, timeout=5)
        with pytest.raises(Unavailable, match="Cannot read the groups of 'alice' from the hub"):
            await users.caller("alice")

    asyncio.run(nothing_listens())
