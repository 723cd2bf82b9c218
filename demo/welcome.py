"""What ``make demo`` prints once the hub answers: where to go, who to log in as, how to stop.

The users come from ``jupyterhub_config.py`` (read, not run: its ``allowed_users``,
``admin_users`` and ``load_groups`` literals) and what each one shows from the catalog
(``demo/catalog.yaml``): their groups, GPU quota, and instance types no node can hold.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import yaml

#: GPUs of the local cluster's node (localk8s advertises 2 fake nvidia.com/gpu on it).
NODE_GPUS = 2


def config_literals(config_path: Path) -> dict[str, Any]:
    """``c.<Class>.<name> = <literal>`` assignments of a JupyterHub config file, by
    ``<Class>.<name>`` (only those whose value is a Python literal)."""
    found: dict[str, Any] = {}
    for node in ast.walk(ast.parse(Path(config_path).read_text())):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Attribute)
            and isinstance(target.value.value, ast.Name)
            and target.value.value.id == "c"
        ):
            try:
                found[f"{target.value.attr}.{target.attr}"] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return found


def _group_text(name: str, group: dict[str, Any], types: dict[str, Any], via_hub: bool) -> str:
    gpu = (group.get("quota") or {}).get("gpu")
    text = name + (" (through a JupyterHub group)" if via_hub else "")
    if gpu:
        text += f": GPU quota {gpu} (a GPU server past it is refused)"
    for t in group.get("instanceTypes") or ():
        wanted = (types.get(t) or {}).get("gpu", 0)
        if wanted > NODE_GPUS:
            text += f": {t} asks {wanted} GPUs, the node has {NODE_GPUS}, so it fails fast"
    return text


def user_lines(catalog: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """One line per demo user: their groups, GPU quota, and what to try."""
    admins = sorted(config.get("Authenticator.admin_users") or ())
    users = sorted(config.get("Authenticator.allowed_users") or ()) + admins
    hub_groups = config.get("JupyterHub.load_groups") or {}
    groups = catalog.get("groups") or {}
    types = catalog.get("instanceTypes") or {}
    lines = []
    for user in users:
        mine = []
        for name, group in groups.items():
            via_hub = user in (hub_groups.get(name) or {}).get("users", ())
            if user in (group.get("members") or ()) or via_hub:
                mine.append(_group_text(name, group, types, via_hub))
        shown = "; ".join(mine) or "no group: the spawn form says there is nothing to launch"
        if user in admins:
            shown = "hub admin; " + shown
        lines.append(f"  {user:<6} {shown}")
    return lines


def welcome(url: str, password: str, catalog_path: Path, config_path: Path) -> str:
    """The text ``make demo`` prints once the hub answers."""
    catalog = yaml.safe_load(Path(catalog_path).read_text()) or {}
    lines = [
        "",
        "=" * 72,
        f"PrimeHub demo is up: open {url}/",
        f"Log in as one of these users (password: {password}):",
        *user_lines(catalog, config_literals(config_path)),
        "Try: spawn a server (pick a group, instance type and image), open a notebook in the",
        "group's folder, then PrimeHub > Submit Notebook as Job...; PrimeHub > Jobs shows it.",
        f"Catalog: {catalog_path} (edit it while the hub runs; it is re-read).",
        "Stop: press Ctrl-C here (the hub, its services and the cluster stop in seconds).",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)
