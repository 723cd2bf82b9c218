"""The spawn form: the user's view of the catalog plus current usage -> HTML.

Pure: everything the page shows is passed in. The template is
``templates/spawn_form.html`` (Bootstrap 5 classes, like JupyterHub's own pages).

Only the selected group's choices are rendered as full markup. The other groups travel as
compact data: one JSON blob (instance types and images listed once, each group referring to
them by name) from which the page's script builds a group's choices when the user switches to
it, and, for browsers without JavaScript, a ``<noscript>`` list of each other group's instance
types and images as two plain ``<select>`` fields named like the radios
(``instance_type__<group>``, ``image__<group>``), so the posted group's fields are the ones read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from .catalog import GroupView, InstanceType, UserView
from .quantities import Quota, Resources, format_memory, format_number
from .quota import QuotaLedger, Usage
from .user_options import NO_GROUP_MESSAGE

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # packaged template: no stat per render on the event loop
    )
    # |tojson escapes <, >, & and ' for a <script> element; compact, in the view's order
    env.policies["json.dumps_kwargs"] = {"separators": (",", ":")}
    return env


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


@dataclass(frozen=True)
class _Choices:
    """One group's choices as the form shows them."""

    view: GroupView
    user_usage: list[str]
    group_usage: list[str]
    instance_types: list[tuple[InstanceType, str, str | None]]  # (type, spec, unavailable why)
    selected_instance_type: str | None
    selected_image: str | None

    @property
    def name(self) -> str:
        return self.view.name

    def datasets(self) -> list[str]:
        out = []
        for grant in self.view.datasets:
            ds = grant.dataset
            if ds.type == "env":
                out.append(f"{ds.display_name} (environment variables)")
            else:
                mode = "read-write" if grant.writable and ds.type != "git" else "read-only"
                out.append(f"{ds.display_name} at {ds.mount_path} ({mode})")
        return out


def _choices(
    view: GroupView, usage: Usage, previous: Mapping[str, Any], specs: dict[str, str]
) -> _Choices:
    """``view``'s instance types with their quota verdict and the preselected choice
    (``previous`` when it is still valid, else the first usable). ``specs`` memoizes the
    instance types' spec text across the groups of one render."""
    group = view.group
    its = []
    enabled = []
    for it in view.instance_types:
        reason = QuotaLedger.fits(
            usage, Resources(it.cpu, it.memory, it.gpu), group.quota, group.project_quota
        )
        spec = specs.get(it.name)
        if spec is None:
            spec = specs[it.name] = instance_type_spec(it.cpu, it.memory, it.gpu)
        its.append((it, spec, reason))
        if reason is None:
            enabled.append(it)
    same_group = previous.get("group") == view.name
    chosen = next((it for it in enabled if it.name == previous.get("instance_type")), None)
    if not same_group or chosen is None:
        chosen = enabled[0] if enabled else None
    usable = [im.name for im in view.images if chosen is None or im.usable_with(chosen)]
    selected_image = previous.get("image") if same_group else None
    if selected_image not in usable:
        selected_image = usable[0] if usable else None
    return _Choices(
        view=view,
        user_usage=_usage_cells(usage.user, group.quota),
        group_usage=_usage_cells(usage.group, group.project_quota),
        instance_types=its,
        selected_instance_type=chosen.name if chosen else None,
        selected_image=selected_image,
    )


def _section(c: _Choices) -> dict[str, Any]:
    """The selected group's full markup context."""
    view = c.view
    return {
        "name": view.name,
        "display_name": view.group.display_name,
        "user_usage": c.user_usage,
        "group_usage": c.group_usage,
        "instance_types": [
            {
                "name": it.name,
                "display_name": it.display_name,
                "description": it.description,
                "spec": spec,
                "gpu": it.gpu,
                "disabled_reason": reason,
            }
            for it, spec, reason in c.instance_types
        ],
        "images": [
            {
                "name": im.name,
                "display_name": im.display_name,
                "description": im.description,
                "type_label": im.type_label,
                "scope": view.image_scope(im),
                "gpu_only": im.type == "gpu",
            }
            for im in view.images
        ],
        "datasets": c.datasets(),
        "selected_instance_type": c.selected_instance_type,
        "selected_image": c.selected_image,
    }


def _form_data(others: list[_Choices]) -> dict[str, Any]:
    """The script's data for the other groups: instance types and images once (they recur
    across groups), each group referring to them by name."""
    its: dict[str, list[Any]] = {}
    images: dict[str, list[Any]] = {}
    groups = {}
    for c in others:
        view = c.view
        for it, spec, _ in c.instance_types:
            if it.name not in its:
                its[it.name] = [it.display_name, it.description, spec, it.gpu]
        for im in view.images:
            if im.name not in images:
                images[im.name] = [
                    im.display_name,
                    im.description,
                    im.type_label,
                    int(im.type == "gpu"),
                ]
        own = view.group_images
        groups[view.name] = {
            "displayName": view.group.display_name,
            "usage": [c.user_usage, c.group_usage],
            # [name, why it is unavailable or null]
            "instanceTypes": [[it.name, reason] for it, _, reason in c.instance_types],
            # [name, 1 if the group grants it itself (scope "group"), 0 if it is "global"]
            "images": [[im.name, int(im.name in own)] for im in view.images],
            "datasets": c.datasets(),
            "selected": [c.selected_instance_type, c.selected_image],
        }
    return {"instanceTypes": its, "images": images, "groups": groups}


def _attr(name: str, value: str) -> str:
    return f' {name}="{escape(value)}"' if value else ""


def _nojs_fields(others: list[_Choices]) -> list[dict[str, Any]]:
    """The ``<noscript>`` fields of the other groups: each group's instance types and images
    as ``<option>`` markup (built here, not in the template: a user in 50 groups of 38
    choices has nearly 2,000 of them, and this is several times faster). The escaped text of
    an instance type or image is built once per render and reused by every group."""
    it_text: dict[str, tuple[str, str]] = {}
    image_text: dict[str, tuple[str, str, str]] = {}
    out = []
    for c in others:
        view = c.view
        own = view.group_images
        its = []
        for it, spec, reason in c.instance_types:
            parts = it_text.get(it.name)
            if parts is None:
                parts = it_text[it.name] = (
                    f'<option value="{escape(it.name)}"',
                    f"{_attr('title', it.description)}>{escape(it.display_name)}: {escape(spec)}",
                )
            its.append(
                parts[0]
                + (" selected" if it.name == c.selected_instance_type else "")
                + (" disabled" if reason else "")
                + parts[1]
                + (f" (unavailable: {escape(reason)})" if reason else "")
                + "</option>"
            )
        images = []
        for im in view.images:
            parts = image_text.get(im.name)
            if parts is None:
                needs = ", needs a GPU instance type" if im.type == "gpu" else ""
                parts = image_text[im.name] = (
                    f'<option value="{escape(im.name)}"',
                    f"{_attr('title', im.description)}>{escape(im.display_name)} "
                    f"({im.type_label}, ",
                    f"{needs})</option>",
                )
            images.append(
                parts[0]
                + (" selected" if im.name == c.selected_image else "")
                + parts[1]
                + ("group" if im.name in own else "global")
                + parts[2]
            )
        out.append(
            {
                "name": view.name,
                "display_name": view.group.display_name,
                "user_usage": c.user_usage,
                "group_usage": c.group_usage,
                "datasets": c.datasets(),
                "instance_type_options": Markup("".join(its)),
                "image_options": Markup("".join(images)),
            }
        )
    return out


def render_form(
    view: UserView,
    usages: Mapping[str, Usage],
    previous: Mapping[str, Any] | None = None,
    kernel_gateway_available: bool = False,
) -> str:
    """The form's HTML. ``usages`` maps group name -> current usage; ``previous`` is the
    user's last user_options (preselected when still valid)."""
    previous = previous or {}
    no_usage = Usage(Resources(), Resources())
    names = [g.name for g in view.groups]
    selected = previous.get("group") if previous.get("group") in names else None
    selected = selected or (names[0] if names else None)
    specs: dict[str, str] = {}
    choices = [_choices(g, usages.get(g.name, no_usage), previous, specs) for g in view.groups]
    others = [c for c in choices if c.name != selected]
    env = previous.get("env") if isinstance(previous.get("env"), Mapping) else {}
    return (
        _environment()
        .get_template("spawn_form.html")
        .render(
            groups=[(g.name, g.group.display_name) for g in view.groups],
            group=next((_section(c) for c in choices if c.name == selected), None),
            others=_nojs_fields(others),
            form_data=_form_data(others),
            env_text="\n".join(f"{k}={v}" for k, v in env.items()),
            no_group_message=NO_GROUP_MESSAGE,
            kernel_gateway_available=kernel_gateway_available,
            kernel_gateway=bool(previous.get("kernel_gateway")),
        )
    )
