"""The JSON view of a user's groups served by ``GET /hub/api/primehub/groups`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalog import UserView
from .form import instance_type_spec
from .quantities import Resources
from .quota import QuotaLedger, Usage


def groups_overview(view: UserView, usages: Mapping[str, Usage]) -> dict[str, Any]:
    """The user's groups with instance types (and whether each fits the remaining quota),
    images, datasets, and usage against quota."""
    groups = []
    for g in view.groups:
        usage = usages.get(g.name, Usage(Resources(), Resources()))
        group = g.group
        its = []
        for it in g.instance_types:
            reason = QuotaLedger.fits(
                usage, Resources(it.cpu, it.memory, it.gpu), group.quota, group.project_quota
            )
            its.append(
                {
                    "name": it.name,
                    "displayName": it.display_name,
                    "description": it.description,
                    "spec": instance_type_spec(it.cpu, it.memory, it.gpu),
                    "cpu": it.cpu,
                    "memory": Resources(memory=it.memory).to_json()["memory"],
                    "gpu": it.gpu,
                    "available": reason is None,
                    "reason": reason,
                }
            )
        groups.append(
            {
                "name": g.name,
                "displayName": group.display_name,
                "quota": group.quota.to_json(),
                "projectQuota": group.project_quota.to_json(),
                "usage": {"user": usage.user.to_json(), "group": usage.group.to_json()},
                "instanceTypes": its,
                "images": [
                    {
                        "name": im.name,
                        "displayName": im.display_name,
                        "description": im.description,
                        "type": im.type,
                        "scope": g.image_scope(im),
                    }
                    for im in g.images
                ],
                "datasets": [
                    {
                        "name": d.dataset.name,
                        "displayName": d.dataset.display_name,
                        "type": d.dataset.type,
                        "writable": d.writable and d.dataset.type != "git",
                        "mountPath": None if d.dataset.type == "env" else d.dataset.mount_path,
                    }
                    for d in g.datasets
                ],
            }
        )
    return {"user": view.user, "groups": groups}
