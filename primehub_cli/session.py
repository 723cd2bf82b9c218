"""Where the hub is and which token to send: ``--url``/``--token`` (or ``PRIMEHUB_URL``/
``PRIMEHUB_TOKEN``), else the server's own environment inside a server
(``JUPYTERHUB_API_URL`` + ``JUPYTERHUB_API_TOKEN``), else what ``primehub login`` stored.

The stored credentials are one JSON file, ``$XDG_CONFIG_HOME/primehub/credentials.json``
(default ``~/.config/primehub/``), written with mode 0600 in a 0700 folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class CliError(Exception):
    """A problem to print as ``error: ...``; exit code 1."""


class Unreachable(CliError):
    """The server did not answer (refused, timed out): a loop that follows something retries."""


@dataclass(frozen=True)
class Hub:
    """The hub's root URL (``https://hub.example.org``, no ``/hub/``) and the token to send."""

    url: str
    token: str
    source: str  # "options", "server environment" or the credentials file's path

    @property
    def api(self) -> str:
        return self.url + "/hub/api/"


def credentials_path(env: Mapping[str, str]) -> Path:
    """PURE: the credentials file of this user."""
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or "~", ".config")
    return Path(os.path.expanduser(base)) / "primehub" / "credentials.json"


def root_url(url: str) -> str:
    """PURE: a hub URL as typed (``hub.example.org``, ``https://h/hub/``, ``.../hub/api``) as
    its root, without a trailing slash."""
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    url = url.rstrip("/")
    for suffix in ("/hub/api", "/hub"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    return url


def resolve(
    env: Mapping[str, str], url: str | None, token: str | None, stored: dict | None
) -> Hub | None:
    """PURE: pick the hub and token (see the module docstring); None if nothing is known."""
    if url and token:
        return Hub(root_url(url), token, "options")
    if env.get("JUPYTERHUB_API_TOKEN") and env.get("JUPYTERHUB_API_URL") and not url:
        return Hub(
            root_url(env["JUPYTERHUB_API_URL"]),
            token or env["JUPYTERHUB_API_TOKEN"],
            "server environment",
        )
    if stored and stored.get("url") and stored.get("token"):
        if url and root_url(url) != stored["url"]:
            return None  # another hub than the stored one, without a token for it
        return Hub(stored["url"], token or stored["token"], "credentials")
    return None


def load(path: Path) -> dict | None:
    """The stored credentials, or None (missing or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def save(path: Path, url: str, token: str, user: str) -> None:
    """Store the hub URL and token readable by this user only (0600 in a 0700 folder)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)  # also when the file existed with other bits
        json.dump({"url": url, "token": token, "user": user}, f)
    os.replace(tmp, path)
