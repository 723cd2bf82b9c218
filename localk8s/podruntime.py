"""Run one pod's containers as local processes: network namespace, volumes, init containers,
restart policy, probes, deadline, graceful kill, and the status a kubelet would report."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from localk8s import network, podspec
from localk8s.kubeapi import ApiError
from localk8s.settings import REPO_ROOT, Settings

log = logging.getLogger("localk8s.node")

EventSink = Callable[[dict, str, str, str, str | None], Awaitable[None]]


def now_iso() -> str:
    """Current UTC time in Kubernetes' RFC 3339 form."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pods_root(settings: Settings) -> Path:
    """Per-pod directories (volumes, logs, home, tmp)."""
    return settings.state_dir / "pods"


def signal_group_members(pgid: int, sig: int) -> bool:
    """Send ``sig`` to every process of group ``pgid`` except its leader; False if none exist."""
    found = False
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == pgid:
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found = True
            try:
                os.kill(int(entry), sig)
            except ProcessLookupError:
                pass
    if not found:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return False
    return True


def cleanup_leftovers(settings: Settings) -> None:
    """Remove per-pod directories and namespaces left by an agent that did not clean up."""
    for ns in network.list_pod_netns():
        network.delete_pod_netns(ns)
    shutil.rmtree(pods_root(settings), ignore_errors=True)


@dataclass
class Container:
    """Runtime state of one container."""

    spec: dict[str, Any]
    init: bool = False
    proc: asyncio.subprocess.Process | None = None
    restart_count: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    waiting_reason: str = "ContainerCreating"
    ready: bool = False
    started_probe_ok: bool = True
    last_state: dict[str, Any] | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)
    sandbox: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """Container name."""
        return self.spec["name"]

    @property
    def running(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.returncode is None

    def status(self) -> dict[str, Any]:
        """containerStatuses entry."""
        cid = f"localk8s://{self.proc.pid}" if self.proc else ""
        if self.running:
            state: dict[str, Any] = {"running": {"startedAt": self.started_at}}
        elif self.exit_code is not None:
            state = {
                "terminated": {
                    "exitCode": self.exit_code,
                    "reason": self.reason or ("Completed" if self.exit_code == 0 else "Error"),
                    "startedAt": self.started_at,
                    "finishedAt": self.finished_at,
                    "containerID": cid,
                }
            }
            if self.message:
                state["terminated"]["message"] = self.message
        else:
            state = {"waiting": {"reason": self.waiting_reason}}
            if self.message:
                state["waiting"]["message"] = self.message
        out = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "ready": self.ready and self.running,
            "started": self.running and self.started_probe_ok,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": self.last_state or {},
        }
        if cid:
            out["containerID"] = cid
        return out


class VolumeMountError(podspec.PodSpecError):
    """A volume that cannot be set up (missing Secret/ConfigMap, host path): a kubelet says so
    in a ``FailedMount`` event and keeps the containers ``ContainerCreating``."""

    def __init__(self, volume: str, detail: str) -> None:
        super().__init__(f'MountVolume.SetUp failed for volume "{volume}" : {detail}')


class PodRunner:
    """Runs one pod; the agent owns one per pod UID bound to the node."""

    def __init__(
        self,
        settings: Settings,
        pod: dict[str, Any],
        ip: str,
        fetch: Callable[[dict], Awaitable[tuple[podspec.Lookups, dict[str, str]]]],
        on_change: Callable[[PodRunner], None],
        event: EventSink,
    ) -> None:
        self.settings = settings
        self.pod = pod
        self.ip = ip
        self.uid: str = pod["metadata"]["uid"]
        self.namespace: str = pod["metadata"]["namespace"]
        self.name: str = pod["metadata"]["name"]
        self.dir = pods_root(settings) / self.uid
        self.netns: str | None = None
        # hostNetwork pods share the host's network (pod IP = node IP), like on a real node.
        self.host_network = bool(pod["spec"].get("hostNetwork"))
        if self.host_network:
            self.ip = "127.0.0.1"
        self.net_ready = False
        self._fetch = fetch
        self._on_change = on_change
        self._event = event
        spec = pod["spec"]
        self.restart_policy: str = spec.get("restartPolicy", "Always")
        self.inits = [Container(c, init=True) for c in spec.get("initContainers") or []]
        self.containers = [Container(c) for c in spec.get("containers") or []]
        self.phase = "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.start_time = now_iso()
        self.initialized = not self.inits
        self.stopping = False
        self.finished = asyncio.Event()
        self._main: asyncio.Task | None = None
        self._volume_paths: dict[str, str] = {}
        self._lookups = podspec.Lookups()
        self._deadline_task: asyncio.Task | None = None
        # Condition type -> (status, lastTransitionTime): times change only on transitions.
        self._transitions: dict[str, tuple[str, str]] = {}

    # -- public ---------------------------------------------------------------------------

    def start(self) -> None:
        """Begin running the pod in the background."""
        self._main = asyncio.create_task(self._run(), name=f"pod {self.namespace}/{self.name}")

    def log_path(self, container: str, previous: bool = False) -> Path:
        """File holding a container's stdout/stderr."""
        return self.dir / "logs" / (f"{container}.previous.log" if previous else f"{container}.log")

    def container(self, name: str) -> Container | None:
        """Container (or init container) by name."""
        return next((c for c in self.inits + self.containers if c.name == name), None)

    def status(self) -> dict[str, Any]:
        """The pod status a kubelet would report."""
        ready = (
            self.phase == "Running"
            and bool(self.containers)
            and all(c.ready and c.running for c in self.containers)
        )
        t = now_iso()

        def cond(kind: str, ok: bool, reason: str | None = None) -> dict[str, Any]:
            value = "True" if ok else "False"
            previous = self._transitions.get(kind)
            if previous is None or previous[0] != value:
                self._transitions[kind] = (value, t)
            c = {
                "type": kind,
                "status": value,
                "lastProbeTime": None,
                "lastTransitionTime": self._transitions[kind][1],
            }
            if reason and not ok:
                c["reason"] = reason
            return c

        status: dict[str, Any] = {
            "phase": self.phase,
            "hostIP": "127.0.0.1",
            "podIP": self.ip if self.net_ready else None,
            "podIPs": [{"ip": self.ip}] if self.net_ready else None,
            "startTime": self.start_time,
            "conditions": [
                cond("Initialized", self.initialized, "ContainersNotInitialized"),
                cond("Ready", ready, "ContainersNotReady"),
                cond("ContainersReady", ready, "ContainersNotReady"),
                cond("PodScheduled", True),
            ],
            "containerStatuses": [c.status() for c in self.containers],
            "reason": self.reason,
            "message": self.message,
        }
        if self.inits:
            status["initContainerStatuses"] = [c.status() for c in self.inits]
        return status

    async def stop(self, grace: float, reason: str = "Killing") -> None:
        """Kill every container (SIGTERM, SIGKILL after ``grace`` s) and wait for the pod task."""
        self.stopping = True
        running = [c for c in self.inits + self.containers if c.running]
        for c in running:
            await self._event(self.pod, "Normal", reason, f"Stopping container {c.name}", c.name)
        await asyncio.gather(*(self._kill(c, grace) for c in running))
        if self._main is not None:
            self._main.cancel()
            # The pod task ends by cancellation here; its own errors were already reported.
            await asyncio.gather(self._main, return_exceptions=True)
        for c in self.inits + self.containers:
            for t in c.tasks:
                t.cancel()
        if self._deadline_task is not None and self._deadline_task is not asyncio.current_task():
            self._deadline_task.cancel()

    async def cleanup(self) -> None:
        """Remove the pod's namespace and directory (after the pod is gone)."""
        if self.netns:
            await asyncio.to_thread(network.delete_pod_netns, self.netns)
            self.netns = None
        await asyncio.to_thread(shutil.rmtree, self.dir, True)

    # -- running --------------------------------------------------------------------------

    def _changed(self) -> None:
        self._on_change(self)

    async def _run(self) -> None:
        try:
            await self._setup_with_retry()
            if self.stopping:
                return
            deadline = self.pod["spec"].get("activeDeadlineSeconds")
            if deadline:
                self._deadline_task = asyncio.create_task(self._deadline(float(deadline)))
            for c in self.inits:
                ok = await self._run_to_completion(c)
                if not ok:
                    self.phase = "Failed"
                    self.reason = None
                    self._changed()
                    return
            self.initialized = True
            await asyncio.gather(*(self._supervise(c) for c in self.containers))
            codes = [c.exit_code for c in self.containers]
            if not self.stopping:
                self.phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"
                self._changed()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not leave the pod "Running" forever
            log.exception("pod %s/%s failed in the agent", self.namespace, self.name)
            self.phase = "Failed"
            self.reason = "NodeAgentError"
            self.message = str(exc)
            self._changed()
        finally:
            self.finished.set()

    async def _setup_with_retry(self) -> None:
        """Prepare network and volumes; config errors keep the pod Pending and are retried."""
        last = None
        while not self.stopping:
            try:
                await self._setup()
                return
            except (
                podspec.PodSpecError,
                LookupError,
                ApiError,
                aiohttp.ClientError,
                network.NetworkError,
            ) as exc:
                # All retried: a missing object may appear, the API server may come back.
                msg = str(exc)
                mount = isinstance(exc, VolumeMountError)
                for c in self.inits + self.containers:
                    c.waiting_reason = (
                        "ContainerCreating" if mount else "CreateContainerConfigError"
                    )
                    c.message = msg
                self._changed()
                if msg != last:
                    reason, text = ("FailedMount", msg) if mount else ("Failed", f"Error: {msg}")
                    await self._event(self.pod, "Warning", reason, text, None)
                    last = msg
                await asyncio.sleep(3)

    async def _setup(self) -> None:
        self._lookups, pvc_paths = await self._fetch(self.pod)
        # Env and commands are checked before anything starts: a missing configMap/secret key
        # keeps the pod Pending (CreateContainerConfigError) until it appears, as with kubelet.
        for c in self.inits + self.containers:
            podspec.command_line(c.spec, self._container_env(c))
        await asyncio.to_thread(self._prepare_dirs_and_volumes, pvc_paths)
        if not self.net_ready and not self.host_network:
            self.netns = await asyncio.to_thread(
                network.create_pod_netns, self.settings, self.uid, self.ip
            )
        self.net_ready = True
        for c in self.inits + self.containers:
            c.message = None
            c.waiting_reason = (
                "PodInitializing" if c in self.containers and self.inits else "ContainerCreating"
            )
        self._changed()

    def _prepare_dirs_and_volumes(self, pvc_paths: dict[str, str]) -> None:
        for sub in ("logs", "home", "tmp", "volumes"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir / "tmp", 0o1777)
        paths: dict[str, str] = {}
        for vol in self.pod["spec"].get("volumes") or []:
            try:
                self._prepare_volume(vol, pvc_paths, paths)
            except podspec.PodSpecError as exc:
                raise VolumeMountError(vol["name"], str(exc)) from exc
        self._volume_paths = paths

    def _prepare_volume(
        self, vol: dict[str, Any], pvc_paths: dict[str, str], paths: dict[str, str]
    ) -> None:
        name = vol["name"]
        vdir = self.dir / "volumes" / name
        if "emptyDir" in vol:
            vdir.mkdir(exist_ok=True)
            paths[name] = str(vdir)
        elif "hostPath" in vol:
            hp = vol["hostPath"]
            path = Path(hp["path"])
            kind = hp.get("type", "")
            if kind == "DirectoryOrCreate":
                path.mkdir(parents=True, exist_ok=True)
            elif kind == "FileOrCreate" and not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            elif kind and kind not in ("DirectoryOrCreate", "FileOrCreate") and not path.exists():
                raise podspec.PodSpecError(f"hostPath {path} (type {kind}) does not exist")
            paths[name] = str(path)
        elif "persistentVolumeClaim" in vol:
            claim = vol["persistentVolumeClaim"]["claimName"]
            if claim not in pvc_paths:
                raise podspec.PodSpecError(f'persistentvolumeclaim "{claim}" is not bound')
            Path(pvc_paths[claim]).mkdir(parents=True, exist_ok=True)
            paths[name] = pvc_paths[claim]
        elif any(k in vol for k in ("configMap", "secret", "downwardAPI", "projected")):
            self._write_files(vol, vdir)
            paths[name] = str(vdir)
        else:
            kinds = sorted(k for k in vol if k != "name")
            raise podspec.PodSpecError(f"volume {name}: unsupported volume type {kinds}")

    def _write_files(self, vol: dict[str, Any], vdir: Path) -> None:
        """Materialise configMap/secret/downwardAPI/projected volumes as files."""
        if vdir.exists():
            shutil.rmtree(vdir)
        vdir.mkdir(parents=True)
        sources: list[tuple[str, dict[str, Any]]] = []
        for kind in ("configMap", "secret", "downwardAPI"):
            if kind in vol:
                sources.append((kind, vol[kind]))
        for src in (vol.get("projected") or {}).get("sources") or []:
            for kind in ("configMap", "secret", "downwardAPI"):
                if kind in src:
                    sources.append((kind, src[kind]))
        default_mode = (vol.get("projected") or {}).get("defaultMode")
        for kind, src in sources:
            mode = src.get("defaultMode", default_mode) or 0o644
            files: dict[str, str] = {}
            if kind == "downwardAPI":
                for item in src.get("items") or []:
                    if "fieldRef" in item:
                        files[item["path"]] = podspec.field_ref(
                            self.pod,
                            item["fieldRef"]["fieldPath"],
                            self.ip,
                            self.settings.node_name,
                        )
            else:
                name = src.get("name") or src.get("secretName")
                store = self._lookups.config_maps if kind == "configMap" else self._lookups.secrets
                data = store.get(name)
                if data is None:
                    if src.get("optional"):
                        continue
                    raise podspec.PodSpecError(f'{kind.lower()} "{name}" not found')
                items = src.get("items")
                if items:
                    for item in items:
                        if item["key"] not in data:
                            raise podspec.PodSpecError(
                                f'{kind} "{name}" has no key {item["key"]!r}'
                            )
                        files[item["path"]] = data[item["key"]]
                else:
                    files = dict(data)
            for rel, content in files.items():
                if rel.startswith("/") or ".." in rel.split("/"):
                    raise podspec.PodSpecError(f"volume file path {rel!r} must stay inside")
                target = vdir / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
                os.chmod(target, mode)

    def _container_env(self, c: Container) -> dict[str, str]:
        env = podspec.container_env(
            self.pod,
            c.spec,
            self._lookups,
            self.ip,
            self.settings.node_name,
            {"cpu": self.settings.node_cpu, "memory": self.settings.node_memory},
        )
        return podspec.process_env(
            env, self.settings.container_path_prefix, str(self.dir / "home"), self.name
        )

    async def _launch(self, c: Container) -> None:
        """Start the container's process (in the pod's namespace, volumes via bubblewrap)."""
        env = self._container_env(c)
        argv = podspec.command_line(c.spec, env)
        mounts = podspec.volume_mounts(c.spec, self._volume_paths)
        # No image WORKDIR exists: without workingDir a container starts in its HOME.
        workdir = c.spec.get("workingDir") or env["HOME"]
        if "/" not in argv[0] and not await asyncio.to_thread(
            shutil.which, argv[0], path=env["PATH"]
        ):
            # Same wording as container runtimes, so the hub's error shows the familiar cause.
            raise podspec.PodSpecError(
                f'exec: "{argv[0]}": executable file not found in $PATH ({env["PATH"]})'
            )
        sandbox = await asyncio.to_thread(
            podspec.sandbox_args,
            mounts,
            podspec.RealFs(),
            tmp_dir=str(self.dir / "tmp"),
            hostname=self.name[:63],
            workdir=workdir,
            host_paths=[str(REPO_ROOT), *self.settings.container_path_prefix],
        )
        logfile = self.log_path(c.name)
        fd = await asyncio.to_thread(self._open_log, logfile, c.restart_count > 0)
        await self._event(
            self.pod,
            "Normal",
            "Pulled",
            f'Container image "{c.spec.get("image", "")}" already present on machine',
            c.name,
        )
        c.sandbox = sandbox
        try:
            c.proc = await asyncio.create_subprocess_exec(
                *self._in_pod_network(),
                "bwrap",
                *sandbox,
                "--",
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(fd)
        c.started_at = now_iso()
        c.exit_code = None
        c.finished_at = None
        c.reason = None
        c.message = None
        c.ready = False
        log.info(
            "pod %s/%s container %s started (pid %s): %s",
            self.namespace,
            self.name,
            c.name,
            c.proc.pid,
            " ".join(argv),
        )
        await self._event(self.pod, "Normal", "Created", f"Created container {c.name}", c.name)
        await self._event(self.pod, "Normal", "Started", f"Started container {c.name}", c.name)
        if not c.init:
            self.phase = "Running"
            c.tasks = [asyncio.create_task(self._probes(c))]
        self._changed()

    def _open_log(self, logfile: Path, restarted: bool) -> int:
        """Open the container's log for appending (the last run's log becomes the previous)."""
        if restarted and logfile.exists():
            os.replace(logfile, logfile.with_name(logfile.stem + ".previous.log"))
        return os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _in_pod_network(self) -> list[str]:
        """Command prefix that enters the pod's network namespace (none for hostNetwork)."""
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    async def _wait_exit(self, c: Container) -> int:
        assert c.proc is not None
        code = await c.proc.wait()
        # A negative return code is a signal: report it like a container runtime (128 + n).
        code = 128 - code if code < 0 else code
        c.exit_code = code
        c.finished_at = now_iso()
        c.ready = False
        for t in c.tasks:
            t.cancel()
        c.tasks = []
        if c.reason is None:
            c.reason = "Completed" if code == 0 else "Error"
        log.info("pod %s/%s container %s exited with %s", self.namespace, self.name, c.name, code)
        self._changed()
        return code

    def _should_restart(self, code: int) -> bool:
        if self.stopping:
            return False
        return self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and code != 0)

    async def _restart_pause(self, c: Container) -> None:
        c.last_state = {"terminated": c.status()["state"]["terminated"]}
        c.restart_count += 1
        c.waiting_reason = "CrashLoopBackOff"
        c.proc = None
        self._changed()
        delay = min(10.0, 0.5 * 2 ** min(c.restart_count, 5))
        await self._event(
            self.pod, "Warning", "BackOff", f"Back-off restarting container {c.name}", c.name
        )
        await asyncio.sleep(delay)

    async def _start_or_fail(self, c: Container) -> bool:
        try:
            await self._launch(c)
            return True
        except (podspec.PodSpecError, OSError) as exc:
            c.exit_code = 128
            c.reason = "StartError"
            c.message = str(exc)
            c.finished_at = c.started_at = now_iso()
            await self._event(self.pod, "Warning", "Failed", f"Error: {exc}", c.name)
            self._changed()
            return False

    async def _run_to_completion(self, c: Container) -> bool:
        """Run an init container until it succeeds (restarting unless restartPolicy Never)."""
        while not self.stopping:
            code = await self._wait_exit(c) if await self._start_or_fail(c) else 128
            if code == 0:
                return True
            if self.restart_policy == "Never" or self.stopping:
                return False
            await self._restart_pause(c)
        return False

    async def _supervise(self, c: Container) -> None:
        while not self.stopping:
            code = await self._wait_exit(c) if await self._start_or_fail(c) else 128
            if not self._should_restart(code):
                return
            await self._restart_pause(c)

    async def _kill(self, c: Container, grace: float) -> None:
        proc = c.proc
        if proc is None or proc.returncode is not None:
            return
        # SIGTERM goes to the container's processes but not to bubblewrap's outer monitor, so
        # the exit status reported is the command's own (a clean exit on SIGTERM stays 0).
        if not await asyncio.to_thread(signal_group_members, proc.pid, signal.SIGTERM):
            return
        try:
            await asyncio.wait_for(proc.wait(), timeout=max(grace, 0.1))
        except asyncio.TimeoutError:
            await self._event(
                self.pod,
                "Normal",
                "Killing",
                f"Container {c.name} ignored SIGTERM; killing",
                c.name,
            )
        # Anything left in the group (e.g. a process that ignored SIGTERM) is killed.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()

    async def _deadline(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds - (time.time() - self._started_epoch())))
        if self.finished.is_set() or self.stopping:
            return
        await self._event(
            self.pod,
            "Normal",
            "DeadlineExceeded",
            f"Pod was active on the node longer than the specified deadline ({seconds:g}s)",
            None,
        )
        self.stopping = True
        await asyncio.gather(*(self._kill(c, 10) for c in self.inits + self.containers))
        self.phase = "Failed"
        self.reason = "DeadlineExceeded"
        self.message = "Pod was active on the node longer than the specified deadline"
        self._changed()

    def _started_epoch(self) -> float:
        return (
            datetime.datetime.strptime(self.start_time, "%Y-%m-%dT%H:%M:%SZ")
            .replace(tzinfo=datetime.timezone.utc)
            .timestamp()
        )

    # -- probes ---------------------------------------------------------------------------

    async def _probes(self, c: Container) -> None:
        spec = c.spec
        startup, readiness, liveness = (
            spec.get("startupProbe"),
            spec.get("readinessProbe"),
            spec.get("livenessProbe"),
        )
        if startup:
            c.started_probe_ok = False
            if not await self._startup_probe(c, startup):
                await self._event(self.pod, "Warning", "Unhealthy", "Startup probe failed", c.name)
                c.reason = "Error"
                await self._kill(c, self._grace())
                return
            c.started_probe_ok = True
        if not readiness:
            c.ready = True
            self._changed()
        tasks = []
        if readiness:
            tasks.append(self._readiness(c, readiness))
        if liveness:
            tasks.append(self._liveness(c, liveness))
        await asyncio.gather(*tasks)

    async def _startup_probe(self, c: Container, probe: dict) -> bool:
        """True once the startup probe succeeds; False after failureThreshold failures."""
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        threshold = int(probe.get("failureThreshold") or 3)
        period = float(probe.get("periodSeconds") or 10)
        failures = 0
        while c.running:
            if await self._probe_once(c, probe):
                return True
            failures += 1
            if failures >= threshold:
                return False
            await asyncio.sleep(period)
        return False

    async def _readiness(self, c: Container, probe: dict) -> None:
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        period = float(probe.get("periodSeconds") or 10)
        success_needed = int(probe.get("successThreshold") or 1)
        threshold = int(probe.get("failureThreshold") or 3)
        ok_run = fail_run = 0
        while c.running:
            ok = await self._probe_once(c, probe)
            ok_run, fail_run = (ok_run + 1, 0) if ok else (0, fail_run + 1)
            new = c.ready
            if ok and ok_run >= success_needed:
                new = True
            elif not ok and fail_run >= threshold:
                new = False
            if new != c.ready:
                c.ready = new
                self._changed()
            # Until first ready, probe quickly so start-up is not delayed by a long period.
            await asyncio.sleep(period if c.ready else min(period, 0.5))

    async def _liveness(self, c: Container, probe: dict) -> None:
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        period = float(probe.get("periodSeconds") or 10)
        threshold = int(probe.get("failureThreshold") or 3)
        fails = 0
        while c.running:
            fails = 0 if await self._probe_once(c, probe) else fails + 1
            if fails >= threshold:
                await self._event(self.pod, "Warning", "Unhealthy", "Liveness probe failed", c.name)
                c.reason = "Error"
                await self._kill(c, self._grace())
                return
            await asyncio.sleep(period)

    def _grace(self) -> float:
        return float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))

    def _port(self, c: Container, port: int | str) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in c.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise podspec.PodSpecError(f"container {c.name}: no port named {port!r}")

    async def _probe_once(self, c: Container, probe: dict) -> bool:
        timeout = float(probe.get("timeoutSeconds") or 1)
        try:
            if "tcpSocket" in probe:
                port = self._port(c, probe["tcpSocket"]["port"])
                host = probe["tcpSocket"].get("host") or self.ip
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
                writer.close()
                return True
            if "httpGet" in probe:
                hg = probe["httpGet"]
                port = self._port(c, hg["port"])
                scheme = hg.get("scheme", "HTTP").lower()
                url = f"{scheme}://{hg.get('host') or self.ip}:{port}{hg.get('path', '/')}"
                headers = {h["name"]: h["value"] for h in hg.get("httpHeaders") or []}
                async with (
                    aiohttp.ClientSession() as s,
                    s.get(
                        url,
                        headers=headers,
                        ssl=False,
                        allow_redirects=False,
                        timeout=aiohttp.ClientTimeout(total=timeout),
                    ) as resp,
                ):
                    return 200 <= resp.status < 400
            if "exec" in probe:
                cmd = probe["exec"]["command"]
                env = self._container_env(c)
                proc = await asyncio.create_subprocess_exec(
                    *self._in_pod_network(),
                    "bwrap",
                    *c.sandbox,
                    "--",
                    *cmd,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
                try:
                    return await asyncio.wait_for(proc.wait(), timeout) == 0
                except asyncio.TimeoutError:
                    proc.kill()
                    return False
        except (OSError, asyncio.TimeoutError, aiohttp.ClientError, podspec.PodSpecError):
            return False
        return False
