"""PURE kernel-gateway split: one notebook pod -> notebook UI + Jupyter Kernel Gateway.

With the split, the user's image runs only the kernels (``jupyter kernelgateway``) and an
admin-chosen notebook image runs the Jupyter server, configured as a gateway client. Two
shapes:

- **sidecar** (:func:`sidecar_pod`): one pod, containers ``notebook`` and ``kernel``; the
  gateway listens on the pod-private ``127.0.0.1``.
- **pod** (:func:`kernel_pod` + :func:`notebook_pod`): the gateway runs in a pod of its own
  (which may land on a GPU node while the notebook pod stays on a CPU node), listening on
  ``0.0.0.0`` behind an auth token, owned by the notebook pod (:func:`owner_reference`).

Every CPU / memory / GPU request and limit of the instance type, the GPU visibility env and the
node selector belong to the kernel; the notebook container gets small fixed requests and limits
of its own (:func:`notebook_usage`), which quota (the sum of container limits) counts on top of
the instance type. Both sides mount the same volumes at the same paths, so kernels see the
user's files.

Kernels start in the notebook's folder (Kernel Gateway 3 ignores the folder the notebook server
sends): the kernel container gets :mod:`.kernel_gateway_workdir` as its gateway config file,
through a pod annotation shown by a downward-API volume, with the mount paths it may start
kernels in. In pod mode the gateway's auth token is in a per-server Secret
(:func:`token_secret`) both pods reference, never a plain env value in a pod spec.

The hub watches a running split server (:func:`gateway_ended`: pod mode's gateway pod, found by
the notebook pod's :data:`KERNEL_POD_ANNOTATION`) and, once per hub process, adopts or deletes
gateway pods a crash left without an owner (:func:`orphan_gateways`).

The functions take the notebook pod as :func:`.pods.render_pod` rendered it (the admin's
security contexts, service account, token mount and pull settings included), as a plain API
dict, and return new dicts that keep that hardening; nothing here does I/O (the
gateway config file is read once, with the code, at import).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import importlib.resources
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from .git_datasets import syncs_of
from .launch import USAGE_ANNOTATION, PodPlan, label_value
from .pods import CONTAINER_NAME
from .quantities import Resources, format_cpu, format_memory

# The gateway's config file (kernels start in the notebook's folder), read once with the code.
WORKDIR_SCRIPT = (
    importlib.resources.files(__package__).joinpath("kernel_gateway_workdir.py").read_text()
)

KERNEL_CONTAINER = "kernel"
GATEWAY_PORT_NAME = "kernel-gateway"
SWITCH_VALUES = ("off", "optional", "always")
MODES = ("sidecar", "pod")
KERNEL_POD_COMPONENT = "singleuser-kernel-gateway"
KERNEL_OF_LABEL = "primehub.io/kernel-gateway-for"
# on the notebook pod of pod mode: the name of its gateway pod (what poll() watches)
KERNEL_POD_ANNOTATION = "primehub.io/kernel-gateway-pod"
KERNEL_POD_SUFFIX = "-kernel"
# the gateway config file: the annotation's text, shown as a file by a downward-API volume
CONFIG_ANNOTATION = "primehub.io/kernel-gateway-config"
CONFIG_VOLUME = "primehub-kernel-gateway"
CONFIG_DIR = "/etc/primehub-kernel-gateway"
CONFIG_FILE = "jupyter_kernel_gateway_config.py"  # the name Kernel Gateway looks for
ROOTS_ENV = "PRIMEHUB_KERNEL_ROOTS"  # the mount paths kernels may start in (JSON list)
# pod mode: the per-server Secret holding the gateway token (key TOKEN_KEY)
TOKEN_SECRET_SUFFIX = "-kernel-token"
TOKEN_SECRET_COMPONENT = "singleuser-kernel-gateway-token"
TOKEN_KEY = "token"
# GPU / CUDA setup: kernels get the kernel container's own values, never the notebook's
# (whose NVIDIA_VISIBLE_DEVICES is "none"); forwarding them hid the GPU in PrimeHub.
GPU_ENV = (
    "NVIDIA_VISIBLE_DEVICES",
    "NVIDIA_DRIVER_CAPABILITIES",
    "NVIDIA_REQUIRE_CUDA",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_HOME",
    "CUDA_PATH",
    "CUDA_VERSION",
    "LD_LIBRARY_PATH",
)
# The Jupyter server's own settings and the hub token: the kernel side needs none of them.
_SERVER_ONLY_PREFIXES = ("JUPYTERHUB_", "JPY_", "JUPYTER_")
_CULL_ARG_PREFIX = "--MappingKernelManager.cull_"


class KernelGatewayError(ValueError):
    """An invalid kernel-gateway setting (admin configuration)."""


@dataclass(frozen=True)
class KernelGatewaySettings:
    """Admin settings of the split (from the spawner's traits)."""

    notebook_image: str = ""  # empty: the notebook container runs the user's image too
    mode: str = "sidecar"
    port: int = 8889
    notebook_cpu_request: float = 0.1
    notebook_memory_request: int = 256 * 2**20
    notebook_cpu_limit: float = 0.5
    notebook_memory_limit: int = 2**30
    connect_timeout: float = 60.0
    request_timeout: float = 60.0
    command: tuple[str, ...] = ("jupyter", "kernelgateway")
    probe_python: str = "python3"  # runs the sidecar's readiness probe in the user's image
    working_dir: str = ""  # kernels start here (the gateway's root); empty: image default

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise KernelGatewayError(
                f"kernel_gateway_mode: must be one of {', '.join(MODES)}, got {self.mode!r}"
            )
        if not 0 < self.port < 65536:
            raise KernelGatewayError(f"kernel_gateway_port: not a TCP port: {self.port}")
        if not self.command:
            raise KernelGatewayError("kernel_gateway_command: must not be empty")
        if min(self.connect_timeout, self.request_timeout) <= 0:
            raise KernelGatewayError("kernel gateway timeouts must be positive")
        if self.notebook_cpu_limit < self.notebook_cpu_request or self.notebook_cpu_limit <= 0:
            raise KernelGatewayError(
                "kernel_gateway_notebook_cpu_limit: must be positive and at least the request "
                f"({_seconds(self.notebook_cpu_request)}), got {_seconds(self.notebook_cpu_limit)}"
            )
        if (
            self.notebook_memory_limit < self.notebook_memory_request
            or self.notebook_memory_limit <= 0
        ):
            raise KernelGatewayError(
                "kernel_gateway_notebook_memory_limit: must be positive and at least the request "
                f"({format_memory(self.notebook_memory_request)}), "
                f"got {format_memory(self.notebook_memory_limit)}"
            )


def use_split(switch: str, requested: bool) -> bool:
    """Whether a spawn runs split, given the admin switch and the user's ``kernel_gateway``
    option. Raises :class:`KernelGatewayError` for an unknown switch value."""
    if switch not in SWITCH_VALUES:
        raise KernelGatewayError(
            f"kernel_gateway: must be one of {', '.join(SWITCH_VALUES)}, got {switch!r}"
        )
    return switch == "always" or (switch == "optional" and requested)


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(n for n in names if n))


def process_env_names(plan_env: Mapping[str, str]) -> list[str]:
    """Variables of the kernel container that kernels inherit
    (``KernelGatewayApp.env_process_whitelist``): HOME, the PrimeHub env (group, instance type,
    image, datasets, the user's own variables) and the GPU / CUDA setup."""
    return _unique(["HOME", *plan_env, *GPU_ENV])


def forwarded_env_names(plan_env: Mapping[str, str]) -> list[str]:
    """Variables the notebook server sends with each kernel start and the gateway accepts
    (``GatewayClient.allowed_envs`` / ``JupyterWebsocketPersonality.env_whitelist``): HOME
    and the PrimeHub env, never the GPU setup (see :data:`GPU_ENV`)."""
    return [n for n in _unique(["HOME", *plan_env]) if n not in GPU_ENV]


def gateway_command(plan: PodPlan, settings: KernelGatewaySettings, listen_ip: str) -> list[str]:
    """The kernel container's command: Jupyter Kernel Gateway on ``listen_ip:port``."""
    cmd = [
        *settings.command,
        f"--KernelGatewayApp.ip={listen_ip}",
        f"--KernelGatewayApp.port={settings.port}",
        # otherwise GET /api/kernels through the notebook server is an error
        "--JupyterWebsocketPersonality.list_kernels=True",
    ]
    # repeated options append to these list traits (one name per option: no quoting issues)
    cmd += [f"--KernelGatewayApp.env_process_whitelist={n}" for n in process_env_names(plan.env)]
    cmd += [
        f"--JupyterWebsocketPersonality.env_whitelist={n}" for n in forwarded_env_names(plan.env)
    ]
    return cmd


def gateway_client_env(plan: PodPlan, settings: KernelGatewaySettings, url: str) -> dict[str, str]:
    """Environment that makes the notebook container's Jupyter server a gateway client."""
    names = ",".join(forwarded_env_names(plan.env))
    env = {
        "JUPYTER_GATEWAY_URL": url,
        # kernel starts in a busy or large image take a while: generous timeouts
        "JUPYTER_GATEWAY_CONNECT_TIMEOUT": _seconds(settings.connect_timeout),
        "JUPYTER_GATEWAY_REQUEST_TIMEOUT": _seconds(settings.request_timeout),
        "JUPYTER_GATEWAY_ALLOWED_ENVS": names,
        "JUPYTER_GATEWAY_ENV_WHITELIST": names,  # the name older jupyter-server images read
        "NVIDIA_VISIBLE_DEVICES": "none",  # the UI container gets no GPU
    }
    return env


def token_secret_name(notebook_pod_name: str) -> str:
    """Name of the Secret holding the gateway token of a pod-mode server."""
    return f"{notebook_pod_name}{TOKEN_SECRET_SUFFIX}"


def token_secret(pod: Mapping[str, Any], auth_token: str) -> dict[str, Any]:
    """The per-server Secret with the gateway token of notebook pod ``pod`` (its labels say whose
    it is). It gets the notebook pod as owner once that exists (:func:`owner_reference`)."""
    meta = pod["metadata"]
    labels = dict(meta.get("labels") or {})
    labels["component"] = TOKEN_SECRET_COMPONENT
    labels[KERNEL_OF_LABEL] = label_value(meta["name"])
    metadata: dict[str, Any] = {"name": token_secret_name(meta["name"]), "labels": labels}
    if meta.get("namespace"):
        metadata["namespace"] = meta["namespace"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": {TOKEN_KEY: auth_token},
    }


def _secret_env(name: str, secret: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": TOKEN_KEY}}}


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _notebook_container(pod: Mapping[str, Any]) -> dict[str, Any]:
    for container in pod["spec"]["containers"]:
        if container["name"] == CONTAINER_NAME:
            return container
    raise KernelGatewayError(f"the pod has no container named {CONTAINER_NAME!r}")


def _set_env(container: dict[str, Any], values: Mapping[str, str]) -> None:
    """Set ``values`` in the container's env list (replacing entries of the same name)."""
    kept = [e for e in container.get("env") or [] if e["name"] not in values]
    container["env"] = kept + [{"name": k, "value": v} for k, v in values.items()]


def _kernel_env(notebook: Mapping[str, Any], plan: PodPlan) -> list[dict[str, Any]]:
    """The notebook container's env without the server's own variables (hub token, gateway
    client settings), with the plan's values (GPU visibility) on top."""
    env = [
        dict(e)
        for e in notebook.get("env") or []
        if not e["name"].startswith(_SERVER_ONLY_PREFIXES) and e["name"] not in plan.env
    ]
    return env + [{"name": k, "value": v} for k, v in plan.env.items()]


def _small_resources(settings: KernelGatewaySettings) -> dict[str, Any]:
    # limits too: quota sums container limits, so the notebook container counts (and is capped)
    return {
        "limits": {
            "cpu": format_cpu(settings.notebook_cpu_limit),
            "memory": format_memory(settings.notebook_memory_limit),
        },
        "requests": {
            "cpu": format_cpu(settings.notebook_cpu_request),
            "memory": format_memory(settings.notebook_memory_request),
        },
    }


def notebook_usage(settings: KernelGatewaySettings) -> Resources:
    """What the notebook (UI) side adds to a split server's quota usage: its container's
    limits, on top of the instance type the kernel side holds."""
    return Resources(cpu=settings.notebook_cpu_limit, memory=settings.notebook_memory_limit)


def _kernel_container(
    notebook: Mapping[str, Any],
    plan: PodPlan,
    settings: KernelGatewaySettings,
    *,
    listen_ip: str,
    token_secret: str = "",
) -> dict[str, Any]:
    """The gateway container: the notebook container's image, mounts, resources and security
    settings, with the gateway command and its own env and readiness probe, and the gateway
    config that starts kernels in the notebook's folder within those mounts."""
    kernel = copy.deepcopy(dict(notebook))
    for field in ("args", "ports", "lifecycle", "readinessProbe", "livenessProbe", "startupProbe"):
        kernel.pop(field, None)
    kernel["name"] = KERNEL_CONTAINER
    kernel["image"] = plan.image
    # In-server kernel culling (the spawner's --MappingKernelManager.cull_* args) belongs
    # where the kernels are: the gateway's kernel manager is a MappingKernelManager too.
    culling = [a for a in notebook.get("args") or [] if a.startswith(_CULL_ARG_PREFIX)]
    kernel["command"] = gateway_command(plan, settings, listen_ip) + culling
    kernel["env"] = _kernel_env(notebook, plan)
    mounts = [m for m in kernel.get("volumeMounts") or [] if m.get("name") != CONFIG_VOLUME]
    roots = [m["mountPath"] for m in mounts]
    kernel["volumeMounts"] = mounts + [
        {"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True}
    ]
    # not in env_process_whitelist: kernels see neither
    _set_env(kernel, {"JUPYTER_CONFIG_PATH": CONFIG_DIR, ROOTS_ENV: json.dumps(roots)})
    if token_secret:
        kernel["env"] = [e for e in kernel["env"] if e["name"] != "KG_AUTH_TOKEN"]
        kernel["env"].append(_secret_env("KG_AUTH_TOKEN", token_secret))
    if settings.working_dir:
        kernel["workingDir"] = settings.working_dir
    if listen_ip == "127.0.0.1":
        # a pod-private address: the kubelet cannot reach it, so probe from inside
        probe_code = f"import socket; socket.create_connection(('127.0.0.1', {settings.port}), 5)"
        kernel["readinessProbe"] = {
            "exec": {"command": [settings.probe_python, "-c", probe_code]},
            "periodSeconds": 2,
            "timeoutSeconds": 10,
        }
    else:
        kernel["ports"] = [{"name": GATEWAY_PORT_NAME, "containerPort": settings.port}]
        kernel["readinessProbe"] = {
            "tcpSocket": {"port": GATEWAY_PORT_NAME},
            "periodSeconds": 2,
            "timeoutSeconds": 5,
        }
    return kernel


def _as_notebook_ui(
    notebook: dict[str, Any],
    plan: PodPlan,
    settings: KernelGatewaySettings,
    url: str,
    token_secret: str = "",
) -> None:
    """Turn the notebook container into the gateway client (in place)."""
    if settings.notebook_image:
        notebook["image"] = settings.notebook_image
    notebook["resources"] = _small_resources(settings)
    _set_env(notebook, gateway_client_env(plan, settings, url))
    if token_secret:
        name = "JUPYTER_GATEWAY_AUTH_TOKEN"
        notebook["env"] = [e for e in notebook["env"] if e["name"] != name]
        notebook["env"].append(_secret_env(name, token_secret))


def _with_gateway_config(pod: dict[str, Any]) -> None:
    """Give ``pod`` (in place) the gateway config file: the annotation and the volume showing it."""
    meta = pod["metadata"]
    meta["annotations"] = {**(meta.get("annotations") or {}), CONFIG_ANNOTATION: WORKDIR_SCRIPT}
    spec = pod["spec"]
    volumes = [v for v in spec.get("volumes") or [] if v.get("name") != CONFIG_VOLUME]
    field_path = f"metadata.annotations['{CONFIG_ANNOTATION}']"
    item = {"path": CONFIG_FILE, "fieldRef": {"fieldPath": field_path}}
    spec["volumes"] = volumes + [{"name": CONFIG_VOLUME, "downwardAPI": {"items": [item]}}]


def sidecar_pod(
    pod: Mapping[str, Any], plan: PodPlan, settings: KernelGatewaySettings
) -> dict[str, Any]:
    """The notebook pod with the gateway as a second container ``kernel`` on 127.0.0.1.

    Node selector and tolerations stay on the pod (both containers share it); the GPU and all
    resource limits move to ``kernel``; ``notebook`` keeps its port and a small request."""
    out = copy.deepcopy(dict(pod))
    notebook = _notebook_container(out)
    kernel = _kernel_container(notebook, plan, settings, listen_ip="127.0.0.1")
    _as_notebook_ui(notebook, plan, settings, f"http://127.0.0.1:{settings.port}")
    containers = out["spec"]["containers"]
    containers.insert(containers.index(notebook) + 1, kernel)
    _with_gateway_config(out)
    return out


def kernel_pod_name(notebook_pod_name: str) -> str:
    """Name of the separate gateway pod of a notebook pod."""
    return f"{notebook_pod_name}{KERNEL_POD_SUFFIX}"


def kernel_pod(
    pod: Mapping[str, Any],
    plan: PodPlan,
    settings: KernelGatewaySettings,
    token_secret: str,
) -> dict[str, Any]:
    """The separate gateway pod for notebook pod ``pod``: the notebook pod's volumes, node
    selector, tolerations, pull secrets, group/user labels and usage annotation, one
    container ``kernel`` listening on 0.0.0.0 behind the token in Secret ``token_secret``
    (:func:`token_secret`).

    It is created before the notebook pod (which needs its address) and gets its owner
    reference once the notebook pod exists."""
    if not token_secret:
        raise KernelGatewayError("a gateway reachable from other pods needs an auth token")
    notebook = _notebook_container(pod)
    meta = pod["metadata"]
    name = kernel_pod_name(meta["name"])
    labels = dict(meta.get("labels") or {})
    labels["component"] = KERNEL_POD_COMPONENT  # not a server: KubeSpawner must not see it
    labels[KERNEL_OF_LABEL] = label_value(meta["name"])
    annotations = dict(meta.get("annotations") or {})
    if USAGE_ANNOTATION in annotations:
        usage = json.loads(annotations[USAGE_ANNOTATION])
        usage.update(component="jupyter-kernel-gateway", component_name=name)
        annotations[USAGE_ANNOTATION] = json.dumps(usage, sort_keys=True)
    metadata: dict[str, Any] = {"name": name, "labels": labels, "annotations": annotations}
    if meta.get("namespace"):
        metadata["namespace"] = meta["namespace"]
    spec = copy.deepcopy(dict(pod["spec"]))
    for field in ("initContainers", "hostname", "subdomain"):
        spec.pop(field, None)  # the notebook pod's own: KubeSpawner's, by its name
    git_clones, git_syncs = syncs_of(pod["spec"])  # git datasets: the kernels' own copy
    if git_clones:
        spec["initContainers"] = copy.deepcopy(git_clones)
    spec["automountServiceAccountToken"] = False
    spec["restartPolicy"] = "Always"  # the gateway is a service: restart it whatever its exit
    spec["containers"] = [
        _kernel_container(notebook, plan, settings, listen_ip="0.0.0.0", token_secret=token_secret),
        *copy.deepcopy(git_syncs),
    ]
    out = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    _with_gateway_config(out)
    return out


def gateway_url(pod_ip: str, settings: KernelGatewaySettings) -> str:
    """URL of a gateway pod at ``pod_ip``."""
    host = f"[{pod_ip}]" if ":" in pod_ip else pod_ip
    return f"http://{host}:{settings.port}"


def kernel_pod_start_message(plan: PodPlan) -> str:
    """The spawn page's first words about the gateway pod (pod mode)."""
    return f"Starting the kernel pod on a {'GPU' if plan.usage.gpu else 'CPU'} node..."


@dataclass
class KernelPodProgress:
    """What the spawn page shows while the hub starts a pod-mode server's gateway pod: the hub
    adds messages as it waits (:meth:`add`), the progress stream replays them until
    :attr:`done`. Progress values stay below the notebook pod's (KubeSpawner starts at 30)."""

    events: list[dict[str, Any]] = dataclass_field(default_factory=list)
    done: bool = False
    seen: set[str] = dataclass_field(
        default_factory=set
    )  # keys (Kubernetes event uids) already added
    changed: asyncio.Event = dataclass_field(default_factory=asyncio.Event)

    def add(self, message: str, key: str | None = None) -> None:
        """Add ``message`` (once per ``key``) and wake the stream."""
        if key is not None:
            if key in self.seen:
                return
            self.seen.add(key)
        progress = int(25 - 20 * 0.6 ** len(self.events))
        self.events.append({"progress": progress, "message": message})
        self.changed.set()

    def finish(self) -> None:
        """The gateway pod serves, or the spawn failed: the stream goes on to the notebook pod."""
        self.done = True
        self.changed.set()


def notebook_pod(
    pod: Mapping[str, Any],
    plan: PodPlan,
    settings: KernelGatewaySettings,
    url: str,
    token_secret: str,
) -> dict[str, Any]:
    """The notebook pod of the separate-pod mode: a gateway client of ``url`` with the token of
    Secret ``token_secret``, small request, without the instance type's node selector and
    tolerations (its GPU node is the kernel's)."""
    out = copy.deepcopy(dict(pod))
    _as_notebook_ui(_notebook_container(out), plan, settings, url, token_secret)
    meta = out["metadata"]
    meta["annotations"] = dict(meta.get("annotations") or {})
    meta["annotations"][KERNEL_POD_ANNOTATION] = kernel_pod_name(meta["name"])
    spec = out["spec"]
    selector = {
        k: v for k, v in (spec.get("nodeSelector") or {}).items() if plan.node_selector.get(k) != v
    }
    tolerations = [t for t in spec.get("tolerations") or [] if t not in plan.tolerations]
    for key, value in (("nodeSelector", selector), ("tolerations", tolerations)):
        if value:
            spec[key] = value
        else:
            spec.pop(key, None)
    return out


def owner_reference(pod_name: str, uid: str) -> dict[str, Any]:
    """Owner reference to the notebook pod: Kubernetes deletes the gateway pod with it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": pod_name,
        "uid": uid,
        "blockOwnerDeletion": True,
        "controller": False,
    }


def _started_at(state: Mapping[str, Any]) -> dt.datetime | None:
    raw = (state.get("running") or {}).get("startedAt")
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def gateway_problem(
    pod: Mapping[str, Any] | None,
    now: dt.datetime,
    ready_timeout: float,
    crash_restarts: int = 2,
) -> str | None:
    """Why the gateway container of ``pod`` will not serve kernels (None: ready or still
    starting). ``now`` is timezone-aware; ``ready_timeout`` counts from the container's start.
    """
    if not pod:
        return None
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != KERNEL_CONTAINER or status.get("ready"):
            continue
        restarts = int(status.get("restartCount") or 0)
        last = (status.get("lastState") or {}).get("terminated") or {}
        current = (status.get("state") or {}).get("terminated") or {}
        ended = current or last
        if ended and restarts >= crash_restarts:
            code = ended.get("exitCode")
            return (
                f"The kernel gateway (container {KERNEL_CONTAINER}) keeps exiting "
                f"(exit code {code}, {restarts} restarts): the image must provide "
                "`jupyter kernelgateway` (package jupyter_kernel_gateway)."
            )
        started = _started_at(status.get("state") or {})
        if started is not None and (now - started).total_seconds() > ready_timeout:
            return (
                f"The kernel gateway (container {KERNEL_CONTAINER}) did not become ready "
                f"within {_seconds(ready_timeout)} s."
            )
    return None


def _kernel_status(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == KERNEL_CONTAINER:
            return status
    return {}


def _termination(state: Mapping[str, Any]) -> str:
    """``OOMKilled (exit code 137)`` from a container state's ``terminated``, or ``""``."""
    ended = state.get("terminated") or {}
    if not ended:
        return ""
    reason = ended.get("reason") or "Error"
    code = ended.get("exitCode")
    return f"{reason} (exit code {code})" if code is not None else reason


def gateway_ended(pod: Mapping[str, Any] | None, name: str) -> str | None:
    """Why the running server's gateway pod ``name`` no longer serves its kernels (None: it
    does, or it is restarting once). ``pod`` is the pod from the watch cache, None if absent.

    Dead: the pod is gone or being deleted (by someone, or by the node controller when its node
    went away), it ended (``Failed``: evicted, OOM-killed with restarts off, ...), or its gateway
    container keeps exiting (``CrashLoopBackOff``). A single restart (an OOM kill, say) is not
    death: the gateway comes back at the same address; the kernels it had are lost, as in any
    kernel crash."""
    if pod is None:
        return f"The kernel pod {name} was deleted."
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return f"The kernel pod {name} was deleted."
    status = pod.get("status") or {}
    kernel = _kernel_status(pod)
    if status.get("phase") in ("Failed", "Succeeded"):
        why = (
            status.get("reason")
            or _termination(kernel.get("state") or {})
            or _termination(kernel.get("lastState") or {})
            or status["phase"]
        )
        message = f" ({status['message']})" if status.get("message") else ""
        return f"The kernel pod {name} ended: {why}{message}."
    waiting = (kernel.get("state") or {}).get("waiting") or {}
    if not kernel.get("ready") and waiting.get("reason") == "CrashLoopBackOff":
        why = _termination(kernel.get("lastState") or {}) or "Error"
        restarts = int(kernel.get("restartCount") or 0)
        return f"The kernel pod {name} ended: {why}, and keeps exiting ({restarts} restarts)."
    return None


def gateway_pod_of(notebook: Mapping[str, Any] | None) -> str | None:
    """Name of the gateway pod a pod-mode notebook pod uses (None: not pod mode)."""
    annotations = ((notebook or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(KERNEL_POD_ANNOTATION) or None


@dataclass(frozen=True)
class Orphan:
    """An ownerless gateway pod: adopt it (``owner`` set: the owner reference to its notebook
    pod, which exists) or delete it (``owner`` None: no notebook pod to serve); the same for
    its token's Secret ``secret`` (None: a pod not named as the spawner names them)."""

    namespace: str
    name: str
    owner: Mapping[str, Any] | None
    secret: str | None = None


def orphan_gateways(pods: Mapping[str, Mapping[str, Any]]) -> list[Orphan]:
    """Gateway pods without an owner reference in the watch cache ``pods`` (``namespace/name``
    -> pod), each with what to do: a hub that crashed between creating a gateway pod and
    setting its owner left it there, holding (maybe GPU) quota for good.

    A gateway pod is one with the spawner's labels (``component`` =
    :data:`KERNEL_POD_COMPONENT` and :data:`KERNEL_OF_LABEL`); its notebook pod is named by
    :func:`kernel_pod_name`. Pods already being deleted are left alone."""
    out = []
    for key, pod in sorted(pods.items()):
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get("component") != KERNEL_POD_COMPONENT or KERNEL_OF_LABEL not in labels:
            continue
        if meta.get("ownerReferences") or meta.get("deletionTimestamp"):
            continue
        name = meta.get("name") or key.split("/", 1)[-1]
        namespace = meta.get("namespace") or key.split("/", 1)[0]
        owner, secret = None, None
        if name.endswith(KERNEL_POD_SUFFIX):
            notebook_name = name[: -len(KERNEL_POD_SUFFIX)]
            secret = token_secret_name(notebook_name)
            notebook = pods.get(f"{namespace}/{notebook_name}") or {}
            nmeta = notebook.get("metadata") or {}
            if nmeta.get("uid") and not nmeta.get("deletionTimestamp"):
                owner = owner_reference(notebook_name, nmeta["uid"])
        out.append(Orphan(namespace, name, owner, secret))
    return out
