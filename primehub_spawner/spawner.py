"""PrimeHubSpawner: KubeSpawner + the catalog, quotas and the pod plan. Thin glue.

Per spawn: ``apply_user_options`` (JupyterHub runs it for form and REST spawns alike)
loads the catalog, validates the options (:mod:`.user_options`), admits the launch
against the quotas (:mod:`.quota`, reserving it; usage from the shared watch cache of group
pods, :mod:`.podcache`) and computes the pod
(:mod:`.launch`). KubeSpawner makes its pod (hub env and token, command, port, hooks); the
pure :func:`.pods.render_pod` then writes what the plan and the admin's pod settings decide
(image, resources, security contexts, placement, service account), the same renderer as job
pods'.
``_start`` creates the PVCs the plan needs and fails fast on unschedulable pods and image
pull errors (:mod:`.progress`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import secrets
import time
from contextlib import suppress
from typing import Any, ClassVar

import aiohttp
from jupyterhub.utils import maybe_future
from kubernetes_asyncio.client.rest import ApiException
from kubespawner import KubeSpawner
from traitlets import Bool, Enum, Float, Int, List, Unicode, default

from .catalog import UserView
from .catalog_spawner import CatalogSpawnerMixin, user_error
from .form import render_form
from .git_datasets import clone_failure
from .homes import affinity_blocked, conflict_hint, home_holders, with_home_affinity
from .job_admission_api import MEMBERSHIP, AdmissionRequest, JobAdmissionRefused
from .kernel_gateway import (
    MODES,
    SWITCH_VALUES,
    KernelGatewayError,
    KernelGatewaySettings,
    KernelPodProgress,
    gateway_ended,
    gateway_pod_of,
    gateway_problem,
    gateway_url,
    kernel_pod,
    kernel_pod_name,
    kernel_pod_start_message,
    notebook_pod,
    notebook_usage,
    orphan_gateways,
    owner_reference,
    sidecar_pod,
    token_secret,
    token_secret_name,
    use_split,
)
from .launch import (
    JOB_LABEL,
    USER_LABEL,
    LaunchRequest,
    LaunchSettings,
    PodPlan,
    label_value,
    plan_launch,
)
from .overview import groups_overview
from .podcache import GroupPodReflector, StaleCache, fresh_pods
from .pods import CONTAINER_NAME, POD_SETTING_NAMES, ContainerSpec, PodSettings, render_pod
from .progress import describe_event, events_about, fatal_reason
from .quantities import QuantityError, Resources, parse_memory
from .quota import QuotaExceeded, QuotaLedger, Usage
from .user_options import Choice, OptionsError, resolve_options

# What a call to an API server that is down, restarting or overloaded raises: connection refused
# or reset (OSError, aiohttp's client errors) or no answer in time (asyncio.wait_for).
UNREACHABLE = (OSError, asyncio.TimeoutError, aiohttp.ClientError)
KUBERNETES_UNREACHABLE = "Kubernetes is not reachable right now; try again in a minute."


class _JSONResponse:
    """What ``ApiClient.deserialize`` reads: a response whose ``data`` is JSON text."""

    def __init__(self, obj: Any) -> None:
        self.data = json.dumps(obj)


class PrimeHubSpawner(CatalogSpawnerMixin, KubeSpawner):
    """KubeSpawner with PrimeHub's group-scoped catalog, quotas and pod contract."""

    home_pvc_name_template = Unicode(
        "claim-{username}",
        config=True,
        help="""Name of the user's home PVC; `{username}` is the escaped user name.
        Empty disables the home volume.""",
    )
    home_capacity = Unicode(
        "5Gi", config=True, help="Size of a newly created home PVC (Kubernetes quantity)."
    )
    home_storage_class = Unicode(
        "", config=True, help="Storage class of new home PVCs (empty: the cluster default)."
    )
    colocate_home_servers = Bool(
        True,
        config=True,
        help="""The home PVC is ReadWriteOnce (one node at a time), and every server of a user
        (default and named) mounts it: a server started while others of the user run gets a
        required pod affinity to them (same node). When it does not fit on that node the spawn
        fails fast saying so. Turn off only when the home storage lets several nodes mount one
        volume (e.g. NFS).""",
    )
    home_mount_path = Unicode(
        "/home/jovyan", config=True, help="Where the home PVC is mounted in the server."
    )
    project_root = Unicode(
        "/project", config=True, help="Group volumes are mounted at `<project_root>/<group>`."
    )
    shared_volume_access_modes = List(
        Unicode(),
        ["ReadWriteMany"],
        config=True,
        help="""Access modes of the group volume and dataset PVCs created by the spawner (they
        are mounted by many users' pods, possibly on several nodes). The storage class must
        support them, or the PVCs stay Pending.""",
    )
    git_sync_root = Unicode(
        "/home/dataset",
        config=True,
        help="""Unused (kept so old configs load): git datasets are cloned into each pod by
        an init container and pulled by a sidecar (see the admin guide).""",
    )
    create_volumes = Bool(
        True,
        config=True,
        help="""Create missing PVCs (home, group volumes `project-<group>`, pv datasets with a
        capacity) before starting the pod. Needs create/get on persistentvolumeclaims.""",
    )
    server_idle_timeout = Int(
        0,
        config=True,
        help="""Seconds without activity after which the server shuts itself down
        (`ServerApp.shutdown_no_activity_timeout`); 0 = never. A group's
        `culling.serverIdleTimeout` in the catalog overrides it.""",
    )
    kernel_idle_timeout = Int(
        0,
        config=True,
        help="""Seconds after which an idle kernel is culled inside the server
        (`MappingKernelManager.cull_idle_timeout`); 0 = never. A group's
        `culling.kernelIdleTimeout` overrides it.""",
    )
    fail_fast_unschedulable = Bool(
        True,
        config=True,
        help="""Fail a spawn as soon as the scheduler reports a reason waiting cannot fix
        (e.g. `Insufficient nvidia.com/gpu`, no node matching the selector) or the image
        cannot be pulled, instead of waiting out `start_timeout`. Turn off on clusters with
        a node autoscaler.""",
    )
    quota_reservation_seconds = Float(
        0,
        config=True,
        help="""How long an admitted spawn holds its quota before its pod is seen
        (0: `start_timeout` + 60 s).""",
    )
    kernel_gateway_enabled = Bool(
        False,
        config=True,
        help="Deprecated: use `kernel_gateway = 'optional'` (True means that).",
    )
    kernel_gateway = Enum(
        SWITCH_VALUES,
        "off",
        config=True,
        help="""Kernel-gateway split (experimental): the user's image runs only the kernels
        (Jupyter Kernel Gateway) and `kernel_gateway_notebook_image` runs the notebook UI.
        `off`; `optional`: users tick "kernel_gateway" in the form (user option
        `kernel_gateway: true`); `always`: every server is split.""",
    )
    kernel_gateway_mode = Enum(
        MODES,
        "sidecar",
        config=True,
        help="""Where the kernel gateway runs: `sidecar` = container `kernel` in the
        notebook pod (on 127.0.0.1); `pod` = a pod of its own (`<pod>-kernel`, may land on a
        GPU node while the notebook pod stays on a CPU node), token-protected, owned by the
        notebook pod. Needs create/delete/patch on pods either way.""",
    )
    kernel_gateway_notebook_image = Unicode(
        "",
        config=True,
        help="""Image of the notebook (UI) container of split servers: a standard notebook
        image with the extensions. Empty: the user's image.""",
    )
    kernel_gateway_command = List(
        Unicode(),
        ["jupyter", "kernelgateway"],
        config=True,
        help="Command that starts Jupyter Kernel Gateway in the user's image.",
    )
    kernel_gateway_timeout = Float(
        60,
        config=True,
        help="""Connect and request timeout (s) of the notebook server towards the kernel
        gateway (`JUPYTER_GATEWAY_CONNECT_TIMEOUT` / `_REQUEST_TIMEOUT`); kernel starts in big
        images are slow.""",
    )
    kernel_gateway_notebook_cpu_limit = Float(
        0.5,
        config=True,
        help="""CPU limit (cores) of the notebook (UI) container of split servers. It counts
        against the group's and user's CPU quota on top of the instance type (quota sums
        container limits); its request is 0.1.""",
    )
    kernel_gateway_notebook_memory_limit = Unicode(
        "1Gi",
        config=True,
        help="""Memory limit (Kubernetes quantity) of the notebook (UI) container of split
        servers. It counts against the memory quota on top of the instance type; its request is
        256Mi. The Jupyter server alone needs a few hundred MiB.""",
    )
    kernel_gateway_ready_timeout = Float(
        120,
        config=True,
        help="""Seconds the kernel gateway may take to accept connections after its container
        started; past that (or when it keeps exiting) the spawn fails saying so.""",
    )

    job_reservation_seconds = Float(
        300,
        config=True,
        help="""How long a notebook job admitted through the hub's quota ledger (the
        ``primehub-jobs`` service asks before it creates a Kubernetes Job) holds its quota
        before its pod is seen in the watch cache; the Job controller creates the pod within
        seconds normally.""",
    )

    # Shared by every spawner of the hub: check-and-reserve must see all spawns in flight.
    ledger: ClassVar[QuotaLedger] = QuotaLedger()
    # ``namespace/name`` of PVCs this hub created or found: no request for them per spawn
    _known_pvcs: ClassVar[set[str]] = set()

    _plan: PodPlan | None = None
    _home_holders: tuple = ()  # the user's servers holding the home volume (this spawn)
    _kg: KernelGatewaySettings | None = None  # this spawn's split (None: not split)
    _kg_url = ""  # pod mode: the gateway pod's URL once it serves
    # per reflector key: True once ownerless gateway pods were swept, else when to retry
    _gateway_sweeps: ClassVar[dict[str, bool | float]] = {}
    _gateway_sweep_locks: ClassVar[dict[str, asyncio.Lock]] = {}
    _kg_token = ""
    _kg_progress: KernelPodProgress | None = None  # pod mode: the gateway pod phase (spawn page)

    @default("automount_service_account_token")
    def _automount_default(self):
        # the notebook needs no Kubernetes credentials
        return False

    @default("cmd")
    def _cmd_default(self):
        # KubeSpawner drops `args` (culling timeouts) when cmd is unset; every Jupyter image
        # that can run under JupyterHub has this command.
        return ["jupyterhub-singleuser"]

    @default("storage_pvc_ensure")
    def _storage_pvc_ensure_default(self):
        return False  # the plan creates the home PVC itself

    # ---- catalog and the user's view -------------------------------------------------

    # ---- quota ---------------------------------------------------------------------

    async def _start_reflector(self, kind: str, reflector_class: Any, replace: bool = False, **kw):
        """KubeSpawner's shared watch caches, restarted when their watch gave up: after a
        minute of API-server errors a reflector stops for good, and KubeSpawner would reuse the
        frozen cache (and wait for pods it never sees) until a spawn times out."""
        key = self._get_reflector_key(kind)
        current = self.__class__.reflectors.get(key)
        if replace or current is None or not current.first_load_future.done():
            return await super()._start_reflector(kind, reflector_class, replace=replace, **kw)
        if current.watch_task is not None and not current.watch_task.done():
            return current
        self.log.warning("The %s watch had stopped; starting it again", kind)
        try:
            return await super()._start_reflector(kind, reflector_class, replace=True, **kw)
        except Exception as e:
            # still unreachable: KubeSpawner's callers (poll, start) go on with the old cache,
            # as before; quota decisions refuse on it (admission_pods)
            self.log.warning("Could not start the %s watch again: %s", kind, e)
            self.__class__.reflectors[key] = current
            return current

    async def _start_watching_pods(self, replace: bool = False):
        """One pod watch for KubeSpawner's needs and quota: KubeSpawner's pod reflector is the
        watch of every group-labelled pod (each PrimeHub notebook pod carries the label), so
        the hub does not watch its pods twice."""
        return await self._start_reflector(
            kind="pods",
            reflector_class=GroupPodReflector,
            omit_namespace=self.enable_user_namespaces,
            replace=replace,
        )

    async def group_pods(self) -> dict[str, dict]:
        """The shared watch cache of group-labelled pods (started on first use)."""
        return (await self._start_watching_pods()).pods

    async def admission_pods(self) -> dict[str, dict]:
        """The group pods for a quota decision: a fresh cache or a 503 (never stale data; a
        watch that gave up is restarted first, see :mod:`.podcache`)."""
        key = self._get_reflector_key("pods")
        try:
            return await fresh_pods(
                self.__class__.reflectors.get(key),
                lambda: self._start_watching_pods(replace=True),
            )
        except StaleCache as e:
            self.log.warning("Refusing a quota decision for %s: %s", self.user.name, e)
            raise user_error(503, str(e)) from None

    async def _reserve(
        self,
        key: str,
        group: Any,
        request: Resources,
        ttl: float,
        release_label: tuple[str, str] | None = None,
    ) -> None:
        """Check ``request`` of this user in ``group`` against both quotas and reserve it in the
        hub's one ledger (:class:`QuotaExceeded` says why not), on a fresh pod cache."""
        pods = await self.admission_pods()
        # synchronous check-and-reserve: no await in between (see quota.py)
        self.ledger.admit(
            key,
            user=self.user.name,
            group=group.name,
            user_label=label_value(self.user.name),
            group_label=label_value(group.name),
            request=request,
            quota=group.quota,
            project_quota=group.project_quota,
            pods=pods,
            now=time.monotonic(),
            ttl=ttl,
            release_label=release_label,
        )

    async def usages(self, view: UserView) -> dict[str, Usage]:
        """Current usage of this user and of each of the user's groups."""
        await self._sweep_orphan_gateways()  # an orphan must not show as usage
        pods = await self.group_pods()
        user_label = label_value(self.user.name)
        now = time.monotonic()
        return {
            g.name: self.ledger.usage(pods, label_value(g.name), user_label, now)
            for g in view.groups
        }

    @property
    def _reservation_key(self) -> str:
        return f"{self.namespace}/{self.pod_name}"

    # ---- form ------------------------------------------------------------------------

    async def render_options_form(self) -> str:
        """The spawn form (groups, instance types with quota, images, env)."""
        view = await self.user_view()
        usages = await self.usages(view) if view.groups else {}
        previous = self.orm_spawner.user_options if self.orm_spawner else {}
        return render_form(view, usages, previous or {}, self._kernel_gateway_switch == "optional")

    # ---- apply options: validate, admit, plan ------------------------------------------

    async def apply_primehub_options(self, options: dict | None) -> None:
        """Validate ``options``, admit them against the quotas and prepare the pod.

        Raises HTTP 400/403 with a message naming the field and allowed values.
        """
        view = await self.user_view()
        try:
            choice = resolve_options(view, options)
        except OptionsError as e:
            self.log.info("Refused options of %s: %s", self.user.name, e.message)
            raise user_error(e.status_code, e.message) from None
        if choice.kernel_gateway and self._kernel_gateway_switch == "off":
            raise user_error(400, "kernel_gateway: not enabled on this hub (use false)")
        self._kg = self._kernel_gateway_settings(choice.kernel_gateway)
        plan = plan_launch(
            LaunchRequest(
                user=self.user.name,
                name=self.pod_name,
                group=choice.group,
                instance_type=choice.instance_type,
                image=choice.image,
                env=choice.env,
                other_groups=tuple(g for g in view.groups if g.name != choice.group.name),
            ),
            self._launch_settings(),
        )
        await self._sweep_orphan_gateways()  # an orphan must not count against the quota
        group = choice.group.group
        ttl = self.quota_reservation_seconds or self.start_timeout + 60
        try:
            await self._reserve(self._reservation_key, group, self._launch_usage(plan), ttl)
        except QuotaExceeded as e:
            self.log.info("Quota refused %s in %s: %s", self.user.name, group.name, e)
            raise user_error(403, str(e)) from None
        pod_mode = self._kg is not None and self._kg.mode == "pod"
        self._kg_progress = KernelPodProgress() if pod_mode else None  # before _plan: progress()
        self._plan = plan
        self._apply_plan_traits(choice, plan)
        self.log_launch(choice)

    def _launch_settings(self) -> LaunchSettings:
        home = ""
        if self.home_pvc_name_template:
            home = self._expand_user_properties(self.home_pvc_name_template)
        return LaunchSettings(
            home_pvc_name=home,
            home_capacity=self.home_capacity,
            home_storage_class=self.home_storage_class,
            home_mount_path=self.home_mount_path,
            project_root=self.project_root,
            git_sync_root=self.git_sync_root,
            component=self.component_label,
            shared_access_modes=tuple(self.shared_volume_access_modes),
        )

    def _config_value(self, name: str) -> Any:
        """The admin's configured value of a trait we also set per spawn."""
        if not hasattr(self, "_configured"):
            self._configured: dict[str, Any] = {}
        if name not in self._configured:
            value = getattr(self, name)
            self._configured[name] = value.copy() if hasattr(value, "copy") else value
        return self._configured[name]

    def _apply_plan_traits(self, choice: Choice, plan: PodPlan) -> None:
        """The traits KubeSpawner itself needs for this spawn (image, hooks, args). Resources,
        placement and security are not traits: :func:`.pods.render_pod` writes them once."""
        for name in ("lifecycle_hooks", "args"):
            self._config_value(name)  # snapshot the admin's values before the first change
        self.image = plan.image
        post_start = plan.post_start_command()
        hooks = dict(self._config_value("lifecycle_hooks"))
        # with a known command the links are made by wrapping it (get_pod_manifest)
        if post_start and not self.cmd and "postStart" not in hooks:
            hooks["postStart"] = {"exec": {"command": post_start}}
        self.lifecycle_hooks = hooks
        self.args = list(self._config_value("args")) + self._culling_args(choice)
        if self.args and not self.cmd:
            self.log.warning(
                "PrimeHubSpawner.cmd is empty: culling arguments %s are ignored", self.args
            )
        if self.home_mount_path and not self.notebook_dir:
            self.notebook_dir = self.home_mount_path

    def _culling_args(self, choice: Choice) -> list[str]:
        culling = choice.group.group.culling
        server = culling.server_idle_timeout
        kernel = culling.kernel_idle_timeout
        server = self.server_idle_timeout if server is None else server
        kernel = self.kernel_idle_timeout if kernel is None else kernel
        args = []
        if server:
            args.append(f"--ServerApp.shutdown_no_activity_timeout={server}")
        if kernel:
            args += [
                f"--MappingKernelManager.cull_idle_timeout={kernel}",
                f"--MappingKernelManager.cull_interval={min(300, max(10, kernel // 4))}",
            ]
        return args

    def get_env(self) -> dict[str, str]:
        """KubeSpawner's env plus the plan's (group, instance type, image, datasets, user)."""
        env = super().get_env()
        plan = self._plan
        if plan is not None:
            # what JupyterHub sets from the resource traits (read by e.g. jupyter-resource-usage)
            env["MEM_LIMIT"] = str(plan.memory_limit)
            env["MEM_GUARANTEE"] = str(plan.memory_request)
            env["CPU_LIMIT"] = str(float(plan.cpu_limit))
            env["CPU_GUARANTEE"] = str(float(plan.cpu_request))
            env.update(plan.env)  # plain values: not template-expanded
        return env

    async def pod_settings(self) -> PodSettings:
        """The admin's pod settings (KubeSpawner's traits of :data:`.pods.POD_SETTING_NAMES`,
        callables resolved and templates expanded as KubeSpawner does)."""
        values = {}
        for name in POD_SETTING_NAMES:
            value = getattr(self, name)
            if callable(value):
                value = await maybe_future(value(self))
            values[name] = value
        for name in ("service_account", "extra_pod_config"):
            values[name] = self._expand_all(values[name])
        return PodSettings.from_values(values)

    async def get_pod_manifest(self):
        """KubeSpawner's pod (hub env, command, port, hooks, its own volumes and containers)
        rendered with the plan and the admin's pod settings by :func:`.pods.render_pod`."""
        pod = await super().get_pod_manifest()
        plan = self._plan
        if plan is None:
            return pod
        client = self.api.api_client
        data = client.sanitize_for_serialization(pod)
        container = next(c for c in data["spec"]["containers"] if c["name"] == CONTAINER_NAME)
        process = ContainerSpec.from_manifest(container)
        if plan.home_symlinks and self.cmd and process.args:
            process = dataclasses.replace(process, args=tuple(plan.wrap_command(process.args)))
        # labels, annotation and env are plain data, not traits: values with braces stay as is
        data = render_pod(
            plan, await self.pod_settings(), process, name=data["metadata"]["name"], base=data
        )
        self._add_home_affinity(data)
        if self._kg is not None and (self._kg.mode == "sidecar" or self._kg_url):
            data = self._split_pod(data)
        return client.deserialize(_JSONResponse(data), "V1Pod")

    def _add_home_affinity(self, data: dict[str, Any]) -> None:
        """Co-schedule this server with the user's servers holding the home volume
        (:mod:`.homes`)."""
        self._home_holders = ()
        if not (self.colocate_home_servers and self.home_pvc_name_template):
            return
        reflector = self.pod_reflector
        selector = {
            USER_LABEL: label_value(self.user.name),
            "component": self.component_label,
        }
        holders = home_holders(
            reflector.pods.values() if reflector is not None else (),
            namespace=self.namespace,
            selector=selector,
            claim=self._expand_user_properties(self.home_pvc_name_template),
            this_pod=data["metadata"]["name"],
        )
        if holders:
            with_home_affinity(data["spec"], selector)
            self._home_holders = tuple(holders)

    # ---- start / stop ---------------------------------------------------------------------

    def _pvc_key(self, pvc: dict) -> str:
        return f"{self.namespace}/{pvc['metadata']['name']}"

    async def _retrying(self, call: Any) -> Any:
        """``call()`` with KubeSpawner's per-request timeout, retried on timeouts and dropped
        connections (as KubeSpawner retries its own requests) for up to
        ``k8s_api_request_retry_timeout`` seconds; a busy API server is not an outage."""
        deadline = time.monotonic() + self.k8s_api_request_retry_timeout
        delay = 0.5
        while True:
            try:
                return await asyncio.wait_for(call(), self.k8s_api_request_timeout)
            except UNREACHABLE:
                if time.monotonic() + delay >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)

    def _forget_pvcs(self) -> None:
        """Forget the PVCs of this spawn's plan (the next spawn creates or finds them again)."""
        if self._plan is not None:
            self._known_pvcs.difference_update(self._pvc_key(p) for p in self._plan.pvcs)

    async def _ensure_pvcs(self, plan: PodPlan) -> None:
        """Create the plan's missing PVCs (before any pod). Fails the spawn with a 503 that says
        what happened when Kubernetes refuses or does not answer (never a 500).

        A PVC this hub created or found is remembered (no request on the next spawns); a spawn
        that fails forgets its plan's PVCs, so one deleted outside is made again next time."""
        for pvc in plan.pvcs:
            name = pvc["metadata"]["name"]
            if self._pvc_key(pvc) in self._known_pvcs:
                continue
            try:
                await self._retrying(
                    lambda pvc=pvc: self.api.create_namespaced_persistent_volume_claim(
                        self.namespace, pvc
                    )
                )
                self.log.info("Created PVC %s for %s", name, self.user.name)
                self._known_pvcs.add(self._pvc_key(pvc))
            except ApiException as e:
                if e.status == 409:
                    self._known_pvcs.add(self._pvc_key(pvc))
                    continue  # already there
                if e.status == 403:
                    # maybe a quota/RBAC on create: fine if it already exists
                    with suppress(ApiException, *UNREACHABLE):
                        await asyncio.wait_for(
                            self.api.read_namespaced_persistent_volume_claim(name, self.namespace),
                            self.k8s_api_request_timeout,
                        )
                        self._known_pvcs.add(self._pvc_key(pvc))
                        continue
                self.log.error("Could not create PVC %s for %s: %s", name, self._log_name, e)
                raise user_error(
                    503, f"Could not create volume {name}: {e.reason}. Please contact admin."
                ) from None
            except UNREACHABLE as e:
                self.log.warning(
                    "Kubernetes unreachable creating PVC %s for %s: %r", name, self._log_name, e
                )
                raise user_error(503, KUBERNETES_UNREACHABLE) from None

    async def _start(self):
        key = self._reservation_key
        try:
            if self._plan is None:
                # started without apply_user_options (e.g. an admin overrode the hook)
                await self.apply_primehub_options(self.user_options)
            if self.create_volumes and self._plan is not None:
                await self._ensure_pvcs(self._plan)
            if self._kg is not None and self._kg.mode == "pod":
                try:
                    await self._start_kernel_pod()
                except UNREACHABLE as e:
                    self.log.warning("Kubernetes unreachable for %s: %r", self._log_name, e)
                    raise user_error(503, KUBERNETES_UNREACHABLE) from None
            start = asyncio.ensure_future(super()._start())
            while True:
                done, _ = await asyncio.wait([start], timeout=1)
                if done:
                    if self._kg is not None and self._kg.mode == "pod":
                        await self._adopt_kernel_pod()
                    return start.result()
                reason = (
                    self._fatal_reason() or self._sidecar_problem() or await self._git_problem()
                )
                if reason:
                    start.cancel()
                    with suppress(asyncio.CancelledError, Exception):
                        await start
                    self.log.warning("Spawn of %s failed fast: %s", self._log_name, reason)
                    with suppress(Exception):
                        await self.stop(now=True)
                    raise user_error(503, reason)
        except BaseException:
            self.ledger.release(key)
            self._forget_pvcs()  # maybe a volume was deleted outside: ask again next time
            raise

    def _fatal_reason(self) -> str | None:
        if not self.fail_fast_unschedulable or self.pod_reflector is None:
            return None
        pod = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}")
        if pod is None:
            return None
        # only events about this very pod (an earlier pod of the same name may have failed)
        uid = pod["metadata"].get("uid")
        events = [e for e in self.events if (e.get("involvedObject") or {}).get("uid") == uid]
        reason = fatal_reason(events, pod)
        if self._home_holders and not reason and affinity_blocked(pod):
            reason = f"The server cannot be scheduled: {affinity_blocked(pod)}"
        if reason and self._home_holders and reason.startswith("The server cannot be scheduled"):
            claim = self._expand_user_properties(self.home_pvc_name_template)
            reason = f"{reason} {conflict_hint(claim, self._home_holders)}"
        return reason

    async def _git_problem(self) -> str | None:
        """Why a git dataset of this spawn cannot be cloned (a clone that exited with an error,
        a missing credentials Secret), with git's last words from the clone's log."""
        if self._plan is None or not self._plan.git_syncs or self.pod_reflector is None:
            return None
        pod = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}")
        failure = clone_failure(pod, self._plan.git_syncs)
        if failure is None:
            return None
        tail = ""
        if failure.needs_log:
            try:
                tail = await asyncio.wait_for(
                    self.api.read_namespaced_pod_log(
                        self.pod_name, self.namespace, container=failure.container, tail_lines=5
                    ),
                    self.k8s_api_request_timeout,
                )
            except (ApiException, *UNREACHABLE) as e:
                self.log.warning("No log of %s for %s: %r", failure.container, self._log_name, e)
        return failure.message(tail if isinstance(tail, str) else "")

    async def load_user_options(self) -> None:
        """Options are applied by ``apply_primehub_options``; KubeSpawner's profile_list
        is not used."""

    async def stop(self, now: bool = False) -> None:
        """Delete the pod and release any quota reservation of this server."""
        self.ledger.release(self._reservation_key)
        try:
            await super().stop(now=now)
        finally:
            if self._kernel_gateway_switch != "off":
                await self._delete_kernel_pod()

    def clear_state(self) -> None:
        """Forget the last plan along with the pod name."""
        super().clear_state()
        self._plan = None
        self._kg, self._kg_url, self._kg_token = None, "", ""
        self._kg_progress = None

    async def progress(self):
        """KubeSpawner's progress events with messages a user understands; in the pod mode of
        the split first those of the gateway pod, which the hub starts before the notebook pod."""
        async for event in self._kernel_pod_progress():
            yield event
        async for event in super().progress():
            raw = event.get("raw_event")
            if raw:
                event = dict(event, message=describe_event(raw))
            yield event

    # ---- kernel gateway split (the pods come from the pure kernel_gateway.py) -------------

    async def _kernel_pod_progress(self):
        """This spawn's gateway pod phase (pod mode) as the hub records it while it waits
        (:class:`.kernel_gateway.KernelPodProgress`); nothing for other spawns. JupyterHub
        applies the options (which decide the mode) before it calls start()."""
        while (phase := self._kg_progress) is None:
            if self._plan is not None:
                return  # this spawn's options are applied: no gateway pod
            await asyncio.sleep(0.5)
        sent = 0
        while True:
            phase.changed.clear()
            while sent < len(phase.events):
                yield phase.events[sent]
                sent += 1
            if phase.done:
                return
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(phase.changed.wait(), 1)

    @property
    def _kernel_gateway_switch(self) -> str:
        if self.kernel_gateway == "off" and self.kernel_gateway_enabled:
            return "optional"  # the deprecated switch
        return self.kernel_gateway

    def _launch_usage(self, plan: PodPlan) -> Resources:
        """What this spawn holds against quota: the instance type, plus the notebook (UI)
        container's limits when the server is split."""
        if self._kg is None:
            return plan.usage
        return plan.usage + notebook_usage(self._kg)

    async def poll(self):
        """KubeSpawner's poll, and in the pod mode of the split the gateway pod too (both from
        watch caches, no API call): a gateway pod that is gone, ended or keeps exiting stops the
        server (:meth:`stop` deletes both pods; JupyterHub then marks it stopped), so the notebook
        never keeps sending code and the gateway token to a dead pod's address."""
        # the hub's first calls at start-up, for each server it had: a good time to sweep
        with suppress(Exception):
            await self._sweep_orphan_gateways()
        status = await super().poll()
        if status is not None:
            return status
        notebook = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}")
        name = gateway_pod_of(notebook)
        if not name:
            return None
        try:
            pods = await self.group_pods()
        except Exception as e:  # a cache that cannot be read now: no verdict this round
            self.log.warning("Cannot check the kernel pod of %s: %s", self._log_name, e)
            return None
        reason = gateway_ended(pods.get(f"{self.namespace}/{name}"), name)
        if reason is None:
            return None
        self.log.warning("Server %s stopped: %s", self._log_name, reason)
        if self.delete_stopped_pods:
            # JupyterHub calls stop() only for servers poll() says are running: delete both
            # pods here (as KubeSpawner does for an exited notebook container)
            try:
                await self.stop(now=True)
            except Exception as e:
                self.log.warning("Could not clean up the server of %s: %r", self._log_name, e)
        return 1

    async def _sweep_orphan_gateways(self) -> None:
        """Once per hub process and namespace: adopt (owner set) or delete the gateway pods a
        hub crash left without an owner (:func:`.kernel_gateway.orphan_gateways`), before the
        first quota decision counts them. A failed sweep is retried a minute later."""
        cls = PrimeHubSpawner
        key = self._get_reflector_key("pods")
        done = cls._gateway_sweeps.get(key)
        if done is True or (done is not None and time.monotonic() < done):
            return
        lock = cls._gateway_sweep_locks.setdefault(key, asyncio.Lock())
        async with lock:
            done = cls._gateway_sweeps.get(key)
            if done is True or (done is not None and time.monotonic() < done):
                return
            try:
                for orphan in orphan_gateways(await self.group_pods()):
                    await self._settle_orphan(orphan)
            except Exception as e:
                self.log.warning("Sweep of ownerless kernel gateway pods failed: %r", e)
                cls._gateway_sweeps[key] = time.monotonic() + 60
                return
            cls._gateway_sweeps[key] = True

    async def _settle_orphan(self, orphan) -> None:
        where = f"{orphan.namespace}/{orphan.name}"
        try:
            if orphan.owner is not None:
                await asyncio.wait_for(
                    self.api.patch_namespaced_pod(
                        orphan.name,
                        orphan.namespace,
                        {"metadata": {"ownerReferences": [dict(orphan.owner)]}},
                    ),
                    self.k8s_api_request_timeout,
                )
                self.log.warning(
                    "Adopted ownerless kernel gateway pod %s (owner: pod %s)",
                    where,
                    orphan.owner["name"],
                )
                if orphan.secret:
                    with suppress(ApiException):  # gone or never made: nothing to own
                        await asyncio.wait_for(
                            self.api.patch_namespaced_secret(
                                orphan.secret,
                                orphan.namespace,
                                {"metadata": {"ownerReferences": [dict(orphan.owner)]}},
                            ),
                            self.k8s_api_request_timeout,
                        )
                return
            if orphan.secret:
                await self._delete_token_secret(orphan.secret, orphan.namespace)
            await asyncio.wait_for(
                self.api.delete_namespaced_pod(
                    orphan.name, orphan.namespace, grace_period_seconds=self.delete_grace_period
                ),
                self.k8s_api_request_timeout,
            )
            self.log.warning(
                "Deleted ownerless kernel gateway pod %s: its notebook pod does not exist", where
            )
        except ApiException as e:
            if e.status != 404:  # gone already: nothing to do
                raise

    def _kernel_gateway_settings(self, requested: bool) -> KernelGatewaySettings | None:
        """This spawn's split settings (None: not split)."""
        self._kg_url, self._kg_token = "", ""
        if not use_split(self._kernel_gateway_switch, requested):
            return None
        try:
            try:
                memory_limit = parse_memory(self.kernel_gateway_notebook_memory_limit)
            except QuantityError as e:
                raise KernelGatewayError(f"kernel_gateway_notebook_memory_limit: {e}") from None
            return KernelGatewaySettings(
                notebook_image=self.kernel_gateway_notebook_image,
                mode=self.kernel_gateway_mode,
                notebook_cpu_limit=self.kernel_gateway_notebook_cpu_limit,
                notebook_memory_limit=memory_limit,
                connect_timeout=self.kernel_gateway_timeout,
                request_timeout=self.kernel_gateway_timeout,
                command=tuple(self.kernel_gateway_command),
                working_dir=self.home_mount_path,  # the server's root: kernels start there
            )
        except KernelGatewayError as e:
            self.log.error("Kernel gateway configuration: %s", e)
            raise user_error(
                503, "The kernel gateway is misconfigured on this hub. Please contact admin."
            ) from None

    def _split_pod(self, data: dict[str, Any]) -> dict[str, Any]:
        """The rendered notebook pod (an API dict) -> the split pod (keeps its hardening)."""
        if self._kg.mode == "sidecar":
            return sidecar_pod(data, self._plan, self._kg)
        secret = token_secret_name(self.pod_name)
        return notebook_pod(data, self._plan, self._kg, self._kg_url, secret)

    def _sidecar_problem(self) -> str | None:
        if self._kg is None or self._kg.mode != "sidecar" or self.pod_reflector is None:
            return None
        pod = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}")
        now = dt.datetime.now(dt.timezone.utc)
        return gateway_problem(pod, now, self.kernel_gateway_ready_timeout)

    async def _start_kernel_pod(self) -> None:
        """Pod mode: create the gateway token's Secret and the gateway pod and wait until it
        serves; the notebook pod, made next, needs its address. The spawn page shows the wait
        (:attr:`_kg_progress`: the node kind, the scheduler's reasons, the pod's events). Fails
        the spawn (503) with the reason it cannot serve, e.g. the same unschedulable reasons and
        image pull errors as the notebook pod (:func:`.progress.fatal_reason`)."""
        phase = self._kg_progress or KernelPodProgress()
        self._kg_token = secrets.token_urlsafe(32)
        self._kg_url = ""
        try:
            template = self.api.api_client.sanitize_for_serialization(await self.get_pod_manifest())
            secret = token_secret(template, self._kg_token)
            manifest = kernel_pod(template, self._plan, self._kg, secret["metadata"]["name"])
            name = manifest["metadata"]["name"]
            key = f"{self.namespace}/{name}"
            await self._delete_kernel_pod(wait=True)  # a leftover of an earlier spawn
            phase.add(kernel_pod_start_message(self._plan))
            await self._create_token_secret(secret)
            await asyncio.wait_for(
                self.api.create_namespaced_pod(self.namespace, manifest),
                self.k8s_api_request_timeout,
            )
            self.log.info("Created kernel gateway pod %s for %s", key, self._log_name)
            if self.events_enabled:
                await self._start_watching_events()
            deadline = time.monotonic() + self.start_timeout
            while True:
                pod = (await self.group_pods()).get(key)
                reflector = self.event_reflector
                events = events_about(reflector.events if reflector else [], pod) if pod else []
                for event in events:
                    message = describe_event(event, started="Starting the kernel gateway...")
                    phase.add(f"Kernel pod: {message}", key=event["metadata"]["uid"])
                status = (pod or {}).get("status") or {}
                statuses = status.get("containerStatuses") or []
                if status.get("podIP") and statuses and all(s.get("ready") for s in statuses):
                    self._kg_url = gateway_url(status["podIP"], self._kg)
                    phase.add("The kernel pod is ready")
                    return
                now = dt.datetime.now(dt.timezone.utc)
                reason = gateway_problem(pod, now, self.kernel_gateway_ready_timeout)
                if not reason and pod and self.fail_fast_unschedulable:
                    reason = fatal_reason(events, pod, subject="The kernel pod")
                if not reason and time.monotonic() > deadline:
                    reason = f"The kernel gateway pod did not start in {self.start_timeout} s."
                if reason:
                    self.log.warning("Kernel gateway of %s failed: %s", self._log_name, reason)
                    raise user_error(503, reason)
                await asyncio.sleep(1)
        except BaseException:
            with suppress(Exception):
                await self._delete_kernel_pod()
            raise
        finally:
            phase.finish()

    async def _create_token_secret(self, secret: dict[str, Any]) -> None:
        """Create the gateway token's Secret (replacing one a crashed hub left). A Secret
        Kubernetes refuses (e.g. RBAC without `create` on secrets) is a 503 saying so."""
        name = secret["metadata"]["name"]
        for attempt in (1, 2):
            try:
                await asyncio.wait_for(
                    self.api.create_namespaced_secret(self.namespace, secret),
                    self.k8s_api_request_timeout,
                )
                return
            except ApiException as e:
                if e.status != 409 or attempt == 2:
                    self.log.error("Could not create Secret %s for %s: %s", name, self._log_name, e)
                    raise user_error(
                        503,
                        f"Could not create the kernel gateway's Secret {name}: {e.reason}. "
                        "Please contact admin.",
                    ) from None
            await self._delete_token_secret(name)

    async def _delete_token_secret(self, name: str, namespace: str = "") -> None:
        """Delete a gateway token's Secret if it exists."""
        try:
            await asyncio.wait_for(
                self.api.delete_namespaced_secret(name, namespace or self.namespace),
                self.k8s_api_request_timeout,
            )
        except ApiException as e:
            if e.status == 404:
                return
            if e.status == 403:  # a hub without the RBAC of pod mode never made one
                self.log.warning("May not delete Secret %s: %s", name, e.reason)
                return
            raise
        self.log.info("Deleted Secret %s/%s", namespace or self.namespace, name)

    async def _adopt_kernel_pod(self) -> None:
        """Make the notebook pod own the gateway pod and the token's Secret: Kubernetes deletes
        them with the pod."""
        ref = owner_reference(self.pod_name, self.pod_id)
        owned = {"metadata": {"ownerReferences": [ref]}}
        try:
            await asyncio.wait_for(
                self.api.patch_namespaced_pod(
                    kernel_pod_name(self.pod_name), self.namespace, owned
                ),
                self.k8s_api_request_timeout,
            )
            await asyncio.wait_for(
                self.api.patch_namespaced_secret(
                    token_secret_name(self.pod_name), self.namespace, owned
                ),
                self.k8s_api_request_timeout,
            )
        except Exception as e:
            # without an owner the gateway pod could outlive the server: do not start
            with suppress(Exception):
                await self.stop(now=True)
            if isinstance(e, ApiException) and e.status == 404:
                raise user_error(
                    503, "The kernel gateway pod went away during the start. Please start again."
                ) from None
            raise

    async def _delete_kernel_pod(self, wait: bool = False) -> None:
        """Delete this server's gateway pod and token Secret if there are (optionally until the
        pod is gone)."""
        await self._delete_token_secret(token_secret_name(self.pod_name))
        name = kernel_pod_name(self.pod_name)
        try:
            await asyncio.wait_for(
                self.api.delete_namespaced_pod(
                    name, self.namespace, grace_period_seconds=self.delete_grace_period
                ),
                self.k8s_api_request_timeout,
            )
        except ApiException as e:
            if e.status == 404:
                return
            raise
        self.log.info("Deleted kernel gateway pod %s/%s", self.namespace, name)
        deadline = time.monotonic() + self.start_timeout
        while wait and time.monotonic() < deadline:
            try:
                await self.api.read_namespaced_pod(name, self.namespace)
            except ApiException as e:
                if e.status == 404:
                    return
                raise
            await asyncio.sleep(1)

    # ---- the one quota ledger, for jobs too (see primehub_jobs_contract.hub_admission) ---

    async def admit_job(self, request: AdmissionRequest) -> None:
        """Reserve the quota of ``request``'s job (this spawner's user) in the hub's ledger,
        where every notebook spawn is reserved too; raises :class:`JobAdmissionRefused`.

        Membership is this hub's current one (a user removed from the group is refused), the
        instance type's resources come from the catalog, and the reservation lasts until the
        job's pod is in the cache (its ``primehub.io/job`` label) or ``job_reservation_seconds``
        pass."""
        if request.namespace != self.namespace:
            raise JobAdmissionRefused(
                400,
                f"Jobs run in namespace {request.namespace!r} but this hub's servers in "
                f"{self.namespace!r}: one quota ledger needs one namespace.",
            )
        view = await self.user_view()
        group_view = next((g for g in view.groups if g.name == request.group), None)
        if group_view is None:
            raise JobAdmissionRefused(
                403,
                f"{self.user.name} is no longer a member of group {request.group}.",
                MEMBERSHIP,
            )
        it = group_view.instance_type(request.instance_type)
        if it is None:
            raise JobAdmissionRefused(
                403,
                f"Instance type {request.instance_type} is no longer available "
                f"in group {request.group}.",
                MEMBERSHIP,
            )
        try:
            await self._reserve(
                request.key,
                group_view.group,
                Resources(it.cpu, it.memory, it.gpu),
                self.job_reservation_seconds,
                release_label=(JOB_LABEL, request.job),
            )
        except QuotaExceeded as e:
            raise JobAdmissionRefused(403, str(e), e.scope) from None

    def release_job(self, request_key: str) -> None:
        """Forget a job's reservation (its Kubernetes Job could not be created)."""
        self.ledger.release(request_key)

    # ---- hub API -----------------------------------------------------------------------

    async def groups_overview(self) -> dict[str, Any]:
        """The user's groups with instance types, images, datasets and usage vs quota."""
        view = await self.user_view()
        return groups_overview(view, await self.usages(view))
