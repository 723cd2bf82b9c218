"""PURE pod planning: a launch request -> the pod it means.

``plan_launch`` turns a user's validated choice (group, instance type, image, env) plus the
user's other groups into a :class:`PodPlan`: image, resources, GPU, env, labels,
annotations, volumes and mounts, node selector, tolerations, pull secrets, the PVCs that
must exist, and the home symlinks. Pods are rendered from a plan by :func:`.pods.render_pod`
(and ``pods.pod_manifest``, its shorthand for a server pod). No I/O here.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .catalog import (
    Dataset,
    GroupView,
    Image,
    InstanceType,
    dataset_volume_name,
    group_volume_name,
)
from .git_datasets import GitSync
from .quantities import Resources, format_cpu, format_memory

USER_LABEL = "primehub.io/user"
GROUP_LABEL = "primehub.io/group"
JOB_LABEL = "primehub.io/job"  # on the pods of notebook jobs: the job id
USAGE_ANNOTATION = "primehub.io/usage"
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def label_value(value: str) -> str:
    """A Kubernetes-label-safe form of a user or group name.

    Names that are already valid label values are kept (so selectors stay readable);
    others become ``escaped-`` + the lower-cased name with unsafe characters written as
    ``-xx`` hex, shortened with a hash when longer than 63 characters. The mapping is
    one-to-one for the names that matter here, and deterministic.
    """
    if len(value) <= 63 and _LABEL_VALUE.match(value) and not value.startswith("escaped-"):
        return value
    out = []
    for ch in value:
        if ch.isascii() and (ch.islower() or ch.isdigit()):
            out.append(ch)
        else:
            out.append("".join(f"-{b:02x}" for b in ch.encode("utf-8")))
    escaped = "escaped-" + "".join(out)
    if len(escaped) > 63:
        digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]
        escaped = escaped[:54].rstrip("-") + "-" + digest
    return escaped


def env_dataset_variable(dataset: str, key: str) -> str:
    """Env datasets become ``<NAME>_<KEY>`` variables (upper case, unsafe chars -> ``_``)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{dataset}_{key}").upper()


@dataclass(frozen=True)
class LaunchSettings:
    """Admin-level settings that shape every pod (from the spawner's traits)."""

    home_pvc_name: str = ""
    home_capacity: str = "5Gi"
    home_storage_class: str = ""
    home_mount_path: str = "/home/jovyan"
    project_root: str = "/project"
    git_sync_root: str = "/home/dataset"  # unused: git datasets are cloned into the pod
    component: str = "singleuser-server"
    usage_component: str = "jupyter"
    # group volumes and datasets are shared by the pods of many users, maybe on many nodes
    shared_access_modes: tuple[str, ...] = ("ReadWriteMany",)


@dataclass(frozen=True)
class LaunchRequest:
    """What to launch: the user's validated choice and the user's other groups (whose
    shared volumes and datasets are mounted too unless they are launch-group-only)."""

    user: str
    name: str  # pod name, recorded as the usage annotation's component_name
    group: GroupView
    instance_type: InstanceType
    image: Image
    env: Mapping[str, str] = field(default_factory=dict)
    other_groups: tuple[GroupView, ...] = ()


@dataclass(frozen=True)
class PodPlan:
    """Everything the pod needs, as plain data."""

    image: str
    pull_secrets: tuple[str, ...]
    cpu_limit: float
    cpu_request: float
    memory_limit: int
    memory_request: int
    extended_limits: Mapping[str, int]
    env: Mapping[str, str]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    volumes: tuple[Mapping[str, Any], ...]
    volume_mounts: tuple[Mapping[str, Any], ...]
    node_selector: Mapping[str, str]
    tolerations: tuple[Mapping[str, Any], ...]
    pvcs: tuple[Mapping[str, Any], ...]
    home_symlinks: tuple[tuple[str, str], ...]  # (target, link name in home)
    usage: Resources
    # git datasets: cloned by init containers, pulled by sidecars (pods.render_pod)
    git_syncs: tuple[GitSync, ...] = ()

    def resources_manifest(self) -> dict[str, dict[str, str]]:
        """The container's ``resources`` field."""
        limits = {"cpu": format_cpu(self.cpu_limit), "memory": format_memory(self.memory_limit)}
        requests = {
            "cpu": format_cpu(self.cpu_request),
            "memory": format_memory(self.memory_request),
        }
        for name, count in self.extended_limits.items():
            limits[name] = str(count)
            requests[name] = str(count)  # extended resources: request must equal limit
        return {"limits": limits, "requests": requests}

    def _symlink_script(self) -> str:
        return "; ".join(
            f'[ -e "$HOME"/{shlex.quote(link)} ] || ln -s {shlex.quote(target)} '
            f'"$HOME"/{shlex.quote(link)}'
            for target, link in self.home_symlinks
        )

    def post_start_command(self) -> list[str] | None:
        """A postStart hook that creates the home symlinks (None when there are none)."""
        if not self.home_symlinks:
            return None
        return ["sh", "-c", self._symlink_script() + "; true"]

    def wrap_command(self, argv: list[str]) -> list[str]:
        """``argv`` preceded by creating the home symlinks (unchanged when there are none).

        Preferred over the postStart hook when the command is known: the links exist before
        the server starts, and it needs no lifecycle-hook support from the node."""
        if not self.home_symlinks:
            return list(argv)
        script = self._symlink_script() + '; exec "$@"'
        return ["sh", "-c", script, "primehub-start", *argv]


def _pvc(
    name: str,
    capacity: str,
    storage_class: str,
    labels: Mapping[str, str],
    access_modes: tuple[str, ...] = ("ReadWriteOnce",),
) -> dict:
    spec: dict[str, Any] = {
        "accessModes": list(access_modes),
        "resources": {"requests": {"storage": capacity}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": spec,
    }


def _dataset_volume(ds: Dataset, settings: LaunchSettings) -> dict[str, Any]:
    vol_name = dataset_volume_name(ds.name)
    if ds.type == "pv":
        return {"name": vol_name, "persistentVolumeClaim": {"claimName": ds.pvc_name}}
    if ds.type == "nfs":
        return {"name": vol_name, "nfs": {"server": ds.server, "path": ds.path}}
    if ds.type == "hostPath":
        return {"name": vol_name, "hostPath": {"path": ds.path, "type": "Directory"}}
    # git: the pod's own copy, cloned and pulled by its git containers (git_datasets.py)
    return {"name": vol_name, "emptyDir": {}}


def plan_launch(request: LaunchRequest, settings: LaunchSettings) -> PodPlan:
    """Compute the pod for ``request``."""
    it, image, group = request.instance_type, request.image, request.group
    gpu = it.gpu
    labels = {
        USER_LABEL: label_value(request.user),
        GROUP_LABEL: label_value(group.name),
        "component": settings.component,
    }
    usage = {
        "component": settings.usage_component,
        "component_name": request.name,
        "group": group.name,
        "user": request.user,
        "instance_type": it.name,
    }
    env: dict[str, str] = {
        "GROUP_ID": group.group.group_id,
        "GROUP_NAME": group.name,
        "INSTANCE_TYPE": it.name,
        "IMAGE_NAME": image.name,
    }
    if gpu == 0:
        # Without this the NVIDIA runtime exposes every GPU of the node to the container.
        env["NVIDIA_VISIBLE_DEVICES"] = "none"

    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    pvcs: list[dict[str, Any]] = []
    symlinks: list[tuple[str, str]] = []

    if settings.home_pvc_name:
        volumes.append(
            {"name": "home", "persistentVolumeClaim": {"claimName": settings.home_pvc_name}}
        )
        mounts.append({"name": "home", "mountPath": settings.home_mount_path})
        pvcs.append(
            _pvc(
                settings.home_pvc_name,
                settings.home_capacity,
                settings.home_storage_class,
                {USER_LABEL: label_value(request.user), "component": "singleuser-storage"},
            )
        )

    # Group volumes: the launch group's, and every other group's unless launchGroupOnly.
    for view in (group, *request.other_groups):
        shared = view.group.shared_volume
        if shared is None or (view is not group and shared.launch_group_only):
            continue
        claim = group_volume_name(view.name)
        vol = claim  # PVC names are valid volume names
        volumes.append({"name": vol, "persistentVolumeClaim": {"claimName": claim}})
        mount_path = f"{settings.project_root.rstrip('/')}/{view.name}"
        mounts.append({"name": vol, "mountPath": mount_path})
        pvcs.append(
            _pvc(
                claim,
                format_memory(shared.capacity),
                shared.storage_class,
                {GROUP_LABEL: label_value(view.name), "component": "group-volume"},
                settings.shared_access_modes,
            )
        )
        if shared.home_symlink:
            symlinks.append((mount_path, view.name))

    # Datasets: all of the launch group's; other groups' unless launchGroupOnly.
    grants: dict[str, tuple[Dataset, bool]] = {}
    for view in (group, *request.other_groups):
        for grant in view.datasets:
            ds = grant.dataset
            if view is not group and ds.launch_group_only:
                continue
            prev = grants.get(ds.name)
            grants[ds.name] = (ds, grant.writable or bool(prev and prev[1]))
    dataset_roots: list[str] = []
    git_syncs: list[GitSync] = []
    for name in sorted(grants):
        ds, writable = grants[name]
        if ds.type == "env":
            for key, value in ds.variables.items():
                env[env_dataset_variable(ds.name, key)] = value
            continue
        vol = _dataset_volume(ds, settings)
        volumes.append(vol)
        if ds.type == "git":
            git_syncs.append(
                GitSync(
                    dataset=ds.name,
                    index=len(git_syncs),
                    volume=vol["name"],
                    mount_path=ds.mount_path,
                    url=ds.url,
                    ref=ds.ref,
                    interval=ds.sync_interval,
                    secret=ds.secret_name,
                )
            )
        mounts.append(
            {
                "name": vol["name"],
                "mountPath": ds.mount_path,
                "readOnly": not (writable and ds.type != "git"),
            }
        )
        if ds.type == "pv" and ds.capacity is not None:
            pvcs.append(
                _pvc(
                    ds.pvc_name,
                    format_memory(ds.capacity),
                    ds.storage_class,
                    {"primehub.io/dataset": label_value(ds.name), "component": "dataset"},
                    settings.shared_access_modes,
                )
            )
        if ds.home_symlink and ds.mount_root not in dataset_roots:
            dataset_roots.append(ds.mount_root)
            symlinks.append((ds.mount_root, ds.mount_root.rstrip("/").rsplit("/", 1)[-1]))

    env.update(request.env)  # validated: cannot override the platform's names

    return PodPlan(
        image=image.url_for(gpu),
        pull_secrets=(image.pull_secret,) if image.pull_secret else (),
        cpu_limit=it.cpu,
        cpu_request=it.cpu_request,
        memory_limit=it.memory,
        memory_request=it.memory_request,
        extended_limits={it.gpu_resource_name: gpu} if gpu else {},
        env=env,
        labels=labels,
        annotations={USAGE_ANNOTATION: json.dumps(usage, sort_keys=True)},
        volumes=tuple(volumes),
        volume_mounts=tuple(mounts),
        node_selector=dict(it.node_selector),
        tolerations=tuple(dict(t) for t in it.tolerations),
        pvcs=tuple(pvcs),
        home_symlinks=tuple(symlinks),
        usage=Resources(cpu=it.cpu, memory=it.memory, gpu=gpu),
        git_syncs=tuple(git_syncs),
    )
