"""What this server is: its PrimeHub group, instance type and image (from the spawner's env)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerContext:
    """The launch context the spawner put into this server's environment."""

    group_name: str | None
    group_id: str | None
    instance_type: str | None
    image: str | None
    user: str | None
    in_hub: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerContext:
        """Read ``GROUP_NAME``, ``GROUP_ID``, ``INSTANCE_TYPE``, ``IMAGE_NAME`` (PrimeHub names)."""
        env = os.environ if env is None else env

        def get(key: str) -> str | None:
            return env.get(key) or None

        return cls(
            group_name=get("GROUP_NAME"),
            group_id=get("GROUP_ID"),
            instance_type=get("INSTANCE_TYPE"),
            image=get("IMAGE_NAME"),
            user=get("JUPYTERHUB_USER"),
            in_hub=bool(env.get("JUPYTERHUB_API_TOKEN")),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``group``/``instanceType``/``image`` part of ``GET /primehub/api/context``."""
        group = None
        if self.group_name or self.group_id:
            group = {"name": self.group_name, "id": self.group_id}
        return {
            "user": self.user,
            "group": group,
            "instanceType": self.instance_type,
            "image": self.image,
            "inHub": self.in_hub,
        }


class ContextLogger(logging.LoggerAdapter):
    """Prefixes log lines with the server's user and group (one line per event, who and where)."""

    def process(self, msg: str, kwargs: Any) -> tuple[str, Any]:
        context: ServerContext = self.extra["context"]  # type: ignore[index]
        who = f"user={context.user or '-'} group={context.group_name or '-'}"
        return f"[{who}] {msg}", kwargs
