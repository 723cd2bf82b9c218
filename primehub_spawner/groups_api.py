"""Hub API ``GET /hub/api/primehub/groups``: the caller's groups, what they may launch in
each, and live usage against quota.

Register it in ``jupyterhub_config.py``::

    c.JupyterHub.extra_handlers = [(r"/api/primehub/groups", GroupsAPIHandler)]

A user sees only their own groups. The request needs the ``read:servers`` scope on the
calling user (every user has it on themselves; a narrowed token may not).
"""

from __future__ import annotations

import json

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.user import User
from tornado import web


class GroupsAPIHandler(APIHandler):
    """JSON view of the calling user's groups (see module docstring)."""

    async def get(self) -> None:
        """Respond with ``{user, groups: [...]}``."""
        user = self.current_user
        if user is None:
            raise web.HTTPError(403, "Authentication required")
        if not isinstance(user, User):
            raise web.HTTPError(403, "Only users have PrimeHub groups")
        if not self.has_scope(f"read:servers!user={user.name}"):
            raise web.HTTPError(403, f"Missing scope read:servers for user {user.name}")
        spawner = user.spawner
        overview = getattr(spawner, "groups_overview", None)
        if overview is None:
            raise web.HTTPError(404, "The hub's spawner is not PrimeHubSpawner")
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(await overview()))
