"""PURE: the one pod renderer of notebook, kernel-gateway and job pods.

Every pod the project creates is :func:`render_pod` over three inputs:

- a :class:`~.launch.PodPlan` (what the user's choice means: image, resources, GPU, env,
  volumes, the instance type's node selector and tolerations, labels, usage annotation);
- the admin's :class:`PodSettings` (hardening and placement: uid/gid/fsGroup, security
  contexts, ``allowPrivilegeEscalation``, node selector, tolerations, service account,
  ``automountServiceAccountToken``, pull policy and secrets, ``extra_pod_config``, ...), named
  and interpreted as KubeSpawner's traits of the same names;
- a :class:`ContainerSpec` (the process: command, args, ports, env ahead of the plan's).

Notebook pods: KubeSpawner keeps what only it knows (the hub's env with the API token, the
command and args, port ``notebook-port`` on container ``notebook`` that ``poll()`` relies on,
lifecycle hooks, its own volumes, labels, init and extra containers). The spawner passes that
pod as ``base`` and everything the plan and the settings decide (image, resources, security
contexts, node placement, service account, token mount, pull secrets) is written here, over
whatever KubeSpawner wrote, so each is decided once. Rendering the notebook pod without
KubeSpawner would drop its features admins configure (e.g. ``extra_containers``), so the
spawner does not. Gateway pods are derived from the rendered notebook pod
(:mod:`.kernel_gateway`) and keep its hardening; job pods (:mod:`.jobs.manifest`) are rendered
here with the same settings, taken from the jobs service's ``JobsApp`` options of the same
names. No I/O here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .git_datasets import clone_container, sync_container

if TYPE_CHECKING:
    from .launch import PodPlan

CONTAINER_NAME = "notebook"  # KubeSpawner's poll() and resource settings depend on it
PORT_NAME = "notebook-port"

# KubeSpawner trait names that PodSettings reads (the spawner's and JobsApp's traits alike).
POD_SETTING_NAMES = (
    "uid",
    "gid",
    "fs_gid",
    "supplemental_gids",
    "privileged",
    "allow_privilege_escalation",
    "container_security_context",
    "pod_security_context",
    "node_selector",
    "tolerations",
    "service_account",
    "automount_service_account_token",
    "image_pull_policy",
    "image_pull_secrets",
    "extra_resource_limits",
    "extra_resource_guarantees",
    "priority_class_name",
    "scheduler_name",
    "extra_pod_config",
    "extra_container_config",
)
_PLAIN = (type(None), bool, int, float, str, list, tuple, dict)


class PodSettingsError(ValueError):
    """An invalid pod setting (admin configuration)."""


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _camel_keys(config: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level keys in Kubernetes' camelCase (KubeSpawner accepts snake_case there too)."""
    return {_camel(k): copy.deepcopy(v) for k, v in config.items()}


def _secret_names(secrets: Iterable[Any]) -> tuple[str, ...]:
    # KubeSpawner allows "name" and {"name": "name"} entries
    return tuple(s["name"] if isinstance(s, Mapping) else str(s) for s in secrets)


@dataclass(frozen=True)
class PodSettings:
    """The admin's hardening and placement settings of every pod (KubeSpawner's meanings).

    ``PodSettings()`` sets nothing but ``automountServiceAccountToken: false``; the spawner
    and the jobs service fill it from their traits, whose defaults are KubeSpawner's (e.g.
    ``allow_privilege_escalation=False``)."""

    uid: int | None = None
    gid: int | None = None
    fs_gid: int | None = None
    supplemental_gids: tuple[int, ...] = ()
    privileged: bool = False
    allow_privilege_escalation: bool | None = None
    container_security_context: Mapping[str, Any] = field(default_factory=dict)
    pod_security_context: Mapping[str, Any] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)  # the plan's win
    tolerations: tuple[Mapping[str, Any], ...] = ()  # before the plan's
    service_account: str | None = None
    # None: KubeSpawner's rule (false unless a service account is set)
    automount_service_account_token: bool | None = False
    image_pull_policy: str | None = None
    image_pull_secrets: tuple[str, ...] = ()  # before the plan's
    extra_resource_limits: Mapping[str, str] = field(default_factory=dict)  # the plan's win
    extra_resource_guarantees: Mapping[str, str] = field(default_factory=dict)
    priority_class_name: str = ""
    scheduler_name: str | None = None
    extra_pod_config: Mapping[str, Any] = field(default_factory=dict)  # applied last
    extra_container_config: Mapping[str, Any] = field(default_factory=dict)  # applied last

    def __post_init__(self) -> None:
        for name in ("container_security_context", "pod_security_context"):
            for key in getattr(self, name):
                if "_" in key:
                    raise PodSettingsError(
                        f"{name}: keys must be Kubernetes camelCase names, got {key!r}"
                    )

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> PodSettings:
        """Settings from trait values by KubeSpawner's names (missing or None: the default).

        Callables (KubeSpawner allows them for uid, gid, ...) must be resolved first."""
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known or value is None:
                continue
            if callable(value):
                raise PodSettingsError(f"{name}: a callable must be resolved first")
            if name in ("supplemental_gids",):
                value = tuple(int(g) for g in value)
            elif name == "tolerations":
                value = tuple(dict(t) for t in value)
            elif name == "image_pull_secrets":
                value = _secret_names(value)
            elif name in ("uid", "gid", "fs_gid"):
                value = int(value)
            elif isinstance(value, Mapping):
                value = copy.deepcopy(dict(value))
            kwargs[name] = value
        return cls(**kwargs)

    def container_security_context_manifest(self) -> dict[str, Any] | None:
        """The container's ``securityContext`` (KubeSpawner's rules: the dedicated options,
        then ``container_security_context`` over them)."""
        csc: dict[str, Any] = {}
        if self.uid is not None:
            csc["runAsUser"] = self.uid
        if self.gid is not None:
            csc["runAsGroup"] = self.gid
        if self.privileged:
            csc["privileged"] = True
        if self.allow_privilege_escalation is not None:
            csc["allowPrivilegeEscalation"] = self.allow_privilege_escalation
        csc.update(copy.deepcopy(dict(self.container_security_context)))
        return csc or None

    def pod_security_context_manifest(self) -> dict[str, Any] | None:
        """The pod's ``securityContext`` (fsGroup, supplementalGroups, then
        ``pod_security_context`` over them)."""
        psc: dict[str, Any] = {}
        if self.fs_gid is not None:
            psc["fsGroup"] = self.fs_gid
        if self.supplemental_gids:
            psc["supplementalGroups"] = list(self.supplemental_gids)
        psc.update(copy.deepcopy(dict(self.pod_security_context)))
        return psc or None

    def automount_token(self) -> bool | None:
        """``automountServiceAccountToken`` (None: leave it out)."""
        if self.automount_service_account_token is None:
            return False if self.service_account is None else None
        return self.automount_service_account_token


def pod_setting_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """The pod settings of a hub config: the ``KubeSpawner`` then ``PrimeHubSpawner`` sections
    (the latter wins), at the top level or under ``hub.config`` (zero-to-jupyterhub values).

    Only :data:`POD_SETTING_NAMES` with plain values (numbers, strings, lists, dicts) are kept,
    so the result can be written as JSON or YAML. Changes to an unset option
    (``c.KubeSpawner.tolerations.append(...)``, a traitlets lazy value) are applied to an empty
    list or dict, KubeSpawner's defaults of those options."""
    sections = config
    hub_config = (config.get("hub") or {}).get("config") if isinstance(config, Mapping) else None
    if isinstance(hub_config, Mapping):
        sections = hub_config
    values: dict[str, Any] = {}
    for section in ("KubeSpawner", "PrimeHubSpawner"):
        part = sections.get(section) or {}
        for name in POD_SETTING_NAMES:
            if name not in part:
                continue
            value = _resolve_lazy(part[name])
            if isinstance(value, _PLAIN):
                values[name] = copy.deepcopy(value)
    return values


def _resolve_lazy(value: Any) -> Any:
    get_value = getattr(value, "get_value", None)  # traitlets' LazyConfigValue
    if get_value is None or isinstance(value, _PLAIN):
        return value
    changes = value.to_dict() if hasattr(value, "to_dict") else {}
    return get_value({} if "update" in changes else [])


@dataclass(frozen=True)
class ContainerSpec:
    """What the caller decides about the main container: its process, ports and env."""

    command: tuple[str, ...] | None = None  # None: the image's entrypoint
    args: tuple[str, ...] | None = None
    ports: tuple[Mapping[str, Any], ...] = ()
    env: tuple[Mapping[str, Any], ...] = ()  # before the plan's (the plan's values win)
    working_dir: str = ""
    lifecycle: Mapping[str, Any] | None = None  # None: the plan's postStart (home symlinks)
    volume_mounts: tuple[Mapping[str, Any], ...] = ()  # before the plan's
    other: Mapping[str, Any] = field(default_factory=dict)  # further fields, kept as given

    @classmethod
    def from_manifest(cls, container: Mapping[str, Any]) -> ContainerSpec:
        """The spec of an existing container (e.g. KubeSpawner's ``notebook``): its process,
        ports, env, hooks, mounts and other fields; what plan and settings decide is left out."""
        owned = {"name", "image", "imagePullPolicy", "resources", "securityContext"}
        taken = {"command", "args", "ports", "env", "workingDir", "lifecycle", "volumeMounts"}
        c = copy.deepcopy(dict(container))
        return cls(
            command=tuple(c["command"]) if c.get("command") else None,
            args=tuple(c["args"]) if c.get("args") else None,
            ports=tuple(c.get("ports") or ()),
            env=tuple(c.get("env") or ()),
            working_dir=c.get("workingDir") or "",
            lifecycle=c.get("lifecycle") or {},
            volume_mounts=tuple(c.get("volumeMounts") or ()),
            other={k: v for k, v in c.items() if k not in owned | taken and v is not None},
        )


def notebook_container_spec(
    cmd: list[str], port: int = 8888, env: Mapping[str, str] | None = None
) -> ContainerSpec:
    """A server container: ``cmd``, port ``notebook-port``, ``env`` ahead of the plan's."""
    return ContainerSpec(
        command=tuple(cmd),
        ports=({"name": PORT_NAME, "containerPort": port},),
        env=tuple({"name": k, "value": v} for k, v in (env or {}).items()),
    )


def _merge_env(entries: Iterable[Mapping[str, Any]], values: Mapping[str, str]) -> list[dict]:
    """``entries`` with ``values`` set (replacing same-named entries in place, new ones last)."""
    out = {e["name"]: dict(e) for e in entries}
    for name, value in values.items():
        out[name] = {"name": name, "value": value}
    return list(out.values())


def render_pod(
    plan: PodPlan,
    settings: PodSettings,
    container: ContainerSpec,
    *,
    name: str,
    namespace: str | None = None,
    restart_policy: str | None = None,
    base: Mapping[str, Any] | None = None,
    git_sync: bool = True,
) -> dict[str, Any]:
    """The pod of ``plan`` with the admin's ``settings`` and the ``container`` process.

    The plan's git datasets get an init container that clones each (before the main container
    starts) and, with ``git_sync`` (not for job pods, which must end), a sidecar that pulls it
    every ``syncInterval`` (:mod:`.git_datasets`); both run the plan's image with the admin's
    container security context.

    ``base`` (e.g. KubeSpawner's pod, as an API dict) supplies what neither input decides: its
    labels and annotations (the plan's win), volumes (the plan's appended), other containers
    and spec fields. Its container ``notebook`` is replaced. ``restart_policy`` None keeps the
    base's (``OnFailure`` without one). ``extra_container_config`` and ``extra_pod_config`` are
    applied last, as KubeSpawner does."""
    pod: dict[str, Any] = copy.deepcopy(dict(base)) if base else {}
    pod["apiVersion"], pod["kind"] = "v1", "Pod"
    meta = pod.setdefault("metadata", {})
    meta["name"] = name
    meta["labels"] = {**(meta.get("labels") or {}), **plan.labels}
    meta["annotations"] = {**(meta.get("annotations") or {}), **plan.annotations}
    if namespace:
        meta["namespace"] = namespace

    main: dict[str, Any] = {"name": CONTAINER_NAME, "image": plan.image}
    if settings.image_pull_policy:
        main["imagePullPolicy"] = settings.image_pull_policy
    if container.command is not None:
        main["command"] = list(container.command)
    if container.args is not None:
        main["args"] = list(container.args)
    if container.ports:
        main["ports"] = [dict(p) for p in container.ports]
    main["env"] = _merge_env(container.env, plan.env)
    resources = plan.resources_manifest()
    main["resources"] = {
        "limits": {**settings.extra_resource_limits, **resources["limits"]},
        "requests": {**settings.extra_resource_guarantees, **resources["requests"]},
    }
    main["volumeMounts"] = [dict(m) for m in (*container.volume_mounts, *plan.volume_mounts)]
    if container.working_dir:
        main["workingDir"] = container.working_dir
    lifecycle = container.lifecycle
    if lifecycle is None:
        post_start = plan.post_start_command()
        lifecycle = {"postStart": {"exec": {"command": post_start}}} if post_start else {}
    if lifecycle:
        main["lifecycle"] = copy.deepcopy(dict(lifecycle))
    csc = settings.container_security_context_manifest()
    if csc:
        main["securityContext"] = csc
    for key, value in container.other.items():
        main.setdefault(key, copy.deepcopy(value))
    main.update(_camel_keys(settings.extra_container_config))

    spec = pod.setdefault("spec", {})
    containers = list(spec.get("containers") or [])
    at = next((i for i, c in enumerate(containers) if c.get("name") == CONTAINER_NAME), None)
    if at is None:
        containers.insert(0, main)
    else:
        containers[at] = main
    spec["containers"] = containers
    _add_git_containers(spec, plan, settings, csc, git_sync)
    spec["restartPolicy"] = restart_policy or spec.get("restartPolicy") or "OnFailure"
    spec["volumes"] = [dict(v) for v in (*(spec.get("volumes") or ()), *plan.volumes)]
    fields_of_settings = {
        "securityContext": settings.pod_security_context_manifest(),
        "nodeSelector": {**settings.node_selector, **plan.node_selector} or None,
        "tolerations": [dict(t) for t in (*settings.tolerations, *plan.tolerations)] or None,
        "serviceAccountName": settings.service_account,
        "automountServiceAccountToken": settings.automount_token(),
        "imagePullSecrets": [
            {"name": s} for s in dict.fromkeys((*settings.image_pull_secrets, *plan.pull_secrets))
        ]
        or None,
        "priorityClassName": settings.priority_class_name or None,
        "schedulerName": settings.scheduler_name,
    }
    for key, value in fields_of_settings.items():
        if value is None:
            spec.pop(key, None)  # decided here: nothing a base wrote survives
        else:
            spec[key] = value
    spec.update(_camel_keys(settings.extra_pod_config))
    return pod


def _add_git_containers(
    spec: dict[str, Any],
    plan: PodPlan,
    settings: PodSettings,
    security_context: Mapping[str, Any] | None,
    sidecars: bool,
) -> None:
    if not plan.git_syncs:
        return
    args = (plan.image, security_context, settings.image_pull_policy)
    clones = [clone_container(s, *args) for s in plan.git_syncs]
    syncs = [sync_container(s, *args) for s in plan.git_syncs if sidecars and s.interval > 0]
    ours = {c["name"] for c in (*clones, *syncs)}
    inits = [c for c in spec.get("initContainers") or [] if c.get("name") not in ours]
    spec["initContainers"] = [*inits, *clones]
    spec["containers"] = [c for c in spec["containers"] if c.get("name") not in ours] + syncs


def pod_manifest(
    plan: PodPlan,
    name: str,
    cmd: list[str],
    port: int = 8888,
    namespace: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    restart_policy: str = "OnFailure",
    settings: PodSettings | None = None,
) -> dict[str, Any]:
    """A complete server pod for ``plan`` running ``cmd`` (``extra_env`` first, so the plan
    wins), with the admin's pod ``settings`` (default: none but no service account token)."""
    return render_pod(
        plan,
        settings or PodSettings(),
        notebook_container_spec(cmd, port, extra_env),
        name=name,
        namespace=namespace,
        restart_policy=restart_policy,
    )
