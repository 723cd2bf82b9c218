"""The spawn form: the user's view of the catalog plus current usage -> HTML.

Pure: everything the page shows is passed in. The template is
``templates/spawn_form.html`` (Bootstrap 5 classes, like JupyterHub's own pages).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from .catalog import GroupView, UserView
from .quantities import Quota, Resources, format_memory, format_number
from .quota import QuotaLedger, Usage
from .user_options import NO_GROUP_MESSAGE

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # packaged template: no stat per render on the event loop
    )


def _memory(num_bytes: int) -> str:
    if num_bytes == 0:
        return "0"
    return format_memory(num_bytes) if num_bytes % 2**20 == 0 else f"{num_bytes / 2**30:.2f}Gi"


def _usage_cells(used: Resources, quota: Quota) -> list[str]:
    def cell(value: str, limit: str | None) -> str:
        return f"{value} / {limit}" if limit is not None else f"{value} (no limit)"

    return [
        cell(
            format_number(round(used.cpu, 3)),
            None if quota.cpu is None else format_number(quota.cpu),
        ),
        cell(_memory(used.memory), None if quota.memory is None else _memory(quota.memory)),
        cell(str(used.gpu), None if quota.gpu is None else str(quota.gpu)),
    ]


def instance_type_spec(cpu: float, memory: int, gpu: int) -> str:
    """``CPU / Memory / GPU`` as the form shows it, e.g. ``1 CPU / 2Gi / 0 GPU``."""
    return f"{format_number(cpu)} CPU / {_memory(memory)} / {gpu} GPU"


def _group_context(view: GroupView, usage: Usage, previous: Mapping[str, Any]) -> dict[str, Any]:
    group = view.group
    request_of = {it.name: Resources(it.cpu, it.memory, it.gpu) for it in view.instance_types}
    its = []
    for it in view.instance_types:
        reason = QuotaLedger.fits(usage, request_of[it.name], group.quota, group.project_quota)
        its.append(
            {
                "name": it.name,
                "display_name": it.display_name,
                "description": it.description,
                "spec": instance_type_spec(it.cpu, it.memory, it.gpu),
                "gpu": it.gpu,
                "disabled_reason": reason,
            }
        )
    enabled = [it["name"] for it in its if not it["disabled_reason"]]
    same_group = previous.get("group") == view.name
    selected_it = previous.get("instance_type") if same_group else None
    if selected_it not in enabled:
        selected_it = enabled[0] if enabled else None
    chosen = view.instance_type(selected_it) if selected_it else None
    images = [
        {
            "name": im.name,
            "display_name": im.display_name,
            "description": im.description,
            "type_label": im.type_label,
            "scope": view.image_scope(im),
            "gpu_only": im.type == "gpu",
        }
        for im in view.images
    ]
    usable = [im.name for im in view.images if chosen is None or im.usable_with(chosen)]
    selected_image = previous.get("image") if same_group else None
    if selected_image not in usable:
        selected_image = usable[0] if usable else None
    datasets = []
    for grant in view.datasets:
        ds = grant.dataset
        if ds.type == "env":
            datasets.append(f"{ds.display_name} (environment variables)")
        else:
            mode = "read-write" if grant.writable and ds.type != "git" else "read-only"
            datasets.append(f"{ds.display_name} at {ds.mount_path} ({mode})")
    return {
        "name": view.name,
        "display_name": group.display_name,
        "user_usage": _usage_cells(usage.user, group.quota),
        "group_usage": _usage_cells(usage.group, group.project_quota),
        "instance_types": its,
        "images": images,
        "datasets": datasets,
        "selected_instance_type": selected_it,
        "selected_image": selected_image,
    }


def render_form(
    view: UserView,
    usages: Mapping[str, Usage],
    previous: Mapping[str, Any] | None = None,
    kernel_gateway_available: bool = False,
) -> str:
    """The form's HTML. ``usages`` maps group name -> current usage; ``previous`` is the
    user's last user_options (preselected when still valid)."""
    previous = previous or {}
    groups = [
        _group_context(g, usages.get(g.name, Usage(Resources(), Resources())), previous)
        for g in view.groups
    ]
    names = [g["name"] for g in groups]
    selected = previous.get("group") if previous.get("group") in names else None
    env = previous.get("env") if isinstance(previous.get("env"), Mapping) else {}
    return (
        _environment()
        .get_template("spawn_form.html")
        .render(
            groups=groups,
            selected_group=selected or (names[0] if names else None),
            env_text="\n".join(f"{k}={v}" for k, v in env.items()),
            no_group_message=NO_GROUP_MESSAGE,
            kernel_gateway_available=kernel_gateway_available,
            kernel_gateway=bool(previous.get("kernel_gateway")),
        )
    )
