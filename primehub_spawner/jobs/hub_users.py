"""Who a hub user is right now: their JupyterHub groups and admin flag, asked of the hub.

One :class:`HubUsers` per service, shared by the REST handlers (who is calling) and the
scheduling round and schedules (is the owner of a queued job or a due schedule still a member
of its group). Answers are cached at most ``max_age`` seconds (a few), so a user removed from a
group (or deleted) on the hub loses the group in the service within that time.

The hub is asked with the service's own token (a caller's token may not read groups); the user
name is escaped as one path segment and the answer must be about that user.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from primehub_jobs_contract.errors import Unavailable


@dataclass(frozen=True)
class Caller:
    """Who is asking: a hub user with their JupyterHub groups."""

    name: str
    hub_groups: tuple[str, ...] = ()
    admin: bool = False


class UserDirectory(Protocol):
    """Where the service learns a user's current groups."""

    async def caller(self, name: str) -> Caller | None:
        """The user now; None when the hub has no such user; ``Unavailable`` when it cannot
        tell right now."""
        ...


class NoHub:
    """No hub to ask (a service built without one, e.g. in tests): nobody has hub groups, so
    only a group's own ``members`` list in the catalog makes a member (fails closed)."""

    async def caller(self, name: str) -> Caller | None:
        return Caller(name)


class HubUsers:
    """Users' groups and admin flag from the hub REST API, cached at most ``max_age`` s."""

    def __init__(
        self, api_url: str, api_token: str, max_age: float = 5.0, timeout: float = 10.0
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_token = api_token
        self.max_age = max_age
        self.timeout = timeout
        self._cache: dict[str, tuple[float, Caller | None]] = {}
        self._asking: dict[str, asyncio.Future] = {}  # one request per name at a time

    async def caller(self, name: str) -> Caller | None:
        hit = self._cache.get(name)
        if hit is not None and time.monotonic() - hit[0] < self.max_age:
            return hit[1]
        asking = self._asking.get(name)
        if asking is None:
            asking = asyncio.ensure_future(self._ask(name))
            self._asking[name] = asking
            asking.add_done_callback(lambda _: self._asking.pop(name, None))
        return await asyncio.shield(asking)

    async def _ask(self, name: str) -> Caller | None:
        asked_at = time.monotonic()
        request = HTTPRequest(
            f"{self.api_url}/users/{quote(name, safe='')}",
            headers={"Authorization": f"token {self.api_token}"},
            request_timeout=self.timeout,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
            model = json.loads(response.body)
        except HTTPClientError as e:
            if e.code == 404:  # deleted (or never existed): no groups, no admin flag
                self._remember(name, asked_at, None)
                return None
            raise Unavailable(f"Cannot read the groups of {name!r} from the hub: {e}") from None
        except (OSError, ValueError) as e:
            raise Unavailable(f"Cannot read the groups of {name!r} from the hub: {e}") from None
        if not isinstance(model, dict) or model.get("name") != name:
            # never take another user's groups or admin flag
            raise Unavailable(f"The hub answered for another user than {name!r}.")
        found = Caller(
            name=name,
            hub_groups=tuple(str(g) for g in model.get("groups") or ()),
            admin=bool(model.get("admin")),
        )
        self._remember(name, asked_at, found)
        return found

    def _remember(self, name: str, asked_at: float, found: Caller | None) -> None:
        if len(self._cache) > 1000:  # keep the cache as small as the users active lately
            now = time.monotonic()
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self.max_age}
        self._cache[name] = (asked_at, found)
