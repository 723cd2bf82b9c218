"""The node agent: registers a Ready Node and runs the pods bound to it as local processes.

Runs as ``python -m localk8s node`` (started by ``up``). It lists and watches its pods (re-listing
after every watch ends or fails, so it survives API server restarts), reports their status,
serves their logs, provisions volumes, and on SIGTERM stops every pod and marks it Failed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import platform
import secrets
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from localk8s import network, podspec
from localk8s.kubeapi import ApiError, KubeApi
from localk8s.logserver import LogServer, server_ssl
from localk8s.pki import Pki
from localk8s.podruntime import PodRunner, now_iso, pods_root
from localk8s.provisioner import Provisioner
from localk8s.settings import REPO_ROOT, Settings

log = logging.getLogger("localk8s.node")
NOT_READY_TAINT = "node.kubernetes.io/not-ready"


class NodeAgent:
    """One node: the Node object, its pods, the log endpoint and the provisioner."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pki = Pki(settings.state_dir / "pki")
        self.api = KubeApi(
            settings.api_server, str(self.pki.ca_cert), self.pki.token("system:node-agent")
        )
        self.runners: dict[str, PodRunner] = {}
        self.deleting: set[str] = set()
        self._dirty: dict[str, PodRunner] = {}
        self._dirty_event = asyncio.Event()
        self._stop = asyncio.Event()
        # Strong references: asyncio keeps only weak ones to running tasks.
        self._background: set[asyncio.Task] = set()
        if not settings.container_path_prefix:
            venv_bin = REPO_ROOT / ".venv" / "bin"
            settings.container_path_prefix = [
                str(venv_bin if venv_bin.is_dir() else Path(sys.executable).parent)
            ]

    # -- node ---------------------------------------------------------------------------

    def _capacity(self) -> dict[str, str]:
        cap = {
            "cpu": self.settings.node_cpu,
            "memory": self.settings.node_memory,
            "pods": self.settings.node_pods,
            "ephemeral-storage": "100Gi",
        }
        if self.settings.node_gpu not in ("", "0"):
            cap["nvidia.com/gpu"] = self.settings.node_gpu
        return cap

    def _node_status(self) -> dict[str, Any]:
        t = now_iso()

        def cond(kind: str, status: str, reason: str, msg: str) -> dict[str, str]:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": msg,
                "lastHeartbeatTime": t,
                "lastTransitionTime": t,
            }

        return {
            "capacity": self._capacity(),
            "allocatable": self._capacity(),
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.settings.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.settings.kubelet_port}},
            "nodeInfo": {
                "machineID": "localk8s",
                "systemUUID": "localk8s",
                "bootID": "localk8s",
                "kernelVersion": platform.release(),
                "osImage": "localk8s (pods as processes)",
                "containerRuntimeVersion": "localk8s://bubblewrap",
                "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
                cond(
                    "Ready", "True", "KubeletReady", "localk8s node agent is posting ready status"
                ),
            ],
        }

    async def register(self) -> None:
        """Create or update the Node, set its status Ready and remove the not-ready taint."""
        name = self.settings.node_name
        labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            **self.settings.node_labels,
        }
        path = f"/api/v1/nodes/{name}"
        try:
            await self.api.create(
                "/api/v1/nodes",
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": name, "labels": labels},
                    "spec": {
                        "podCIDR": self.settings.pod_cidr,
                        "podCIDRs": [self.settings.pod_cidr],
                    },
                },
            )
        except ApiError as exc:
            if exc.status != 409:
                raise
            await self.api.merge_patch(path, {"metadata": {"labels": labels}})
        await self.api.merge_patch(path + "/status", {"status": self._node_status()})
        await self._remove_taint()

    async def _remove_taint(self) -> None:
        path = f"/api/v1/nodes/{self.settings.node_name}"
        node = await self.api.get(path)
        taints = node.get("spec", {}).get("taints") or []
        kept = [t for t in taints if t.get("key") != NOT_READY_TAINT]
        if len(kept) != len(taints):
            await self.api.merge_patch(path, {"spec": {"taints": kept or None}})

    async def heartbeat(self) -> None:
        """Keep the Ready condition fresh; re-register if the Node object vanished."""
        while not self._stop.is_set():
            await asyncio.sleep(20)
            try:
                await self.api.merge_patch(
                    f"/api/v1/nodes/{self.settings.node_name}/status",
                    {"status": self._node_status()},
                )
                await self._remove_taint()
            except ApiError as exc:
                if exc.status == 404:
                    await self.register()
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)

    # -- pods -----------------------------------------------------------------------------

    def _allocate_ip(self) -> str:
        net = ipaddress.ip_network(self.settings.pod_cidr)
        used = {r.ip for r in self.runners.values()} | {self.settings.bridge_ip}
        for host in net.hosts():
            if str(host) not in used:
                return str(host)
        raise RuntimeError(f"pod CIDR {net} exhausted")

    async def _fetch_refs(self, pod: dict) -> tuple[podspec.Lookups, dict[str, str]]:
        """ConfigMaps/Secrets the pod uses and host paths of its PVCs (LookupError if missing)."""
        ns = pod["metadata"]["namespace"]
        cms, secrets_ = podspec.referenced_objects(pod)
        lookups = podspec.Lookups()
        for name in cms:
            try:
                obj = await self.api.get(f"/api/v1/namespaces/{ns}/configmaps/{name}")
                lookups.config_maps[name] = dict(obj.get("data") or {})
            except ApiError as exc:
                if exc.status != 404:
                    raise
        for name in secrets_:
            try:
                obj = await self.api.get(f"/api/v1/namespaces/{ns}/secrets/{name}")
                lookups.secrets[name] = podspec.decode_secret(obj)
            except ApiError as exc:
                if exc.status != 404:
                    raise
        pvcs: dict[str, str] = {}
        for vol in pod["spec"].get("volumes") or []:
            if "persistentVolumeClaim" not in vol:
                continue
            claim = vol["persistentVolumeClaim"]["claimName"]
            try:
                pvc = await self.api.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}")
            except ApiError as exc:
                raise LookupError(f'persistentvolumeclaim "{claim}" not found') from exc
            vname = pvc["spec"].get("volumeName")
            if not vname:
                raise LookupError(f'persistentvolumeclaim "{claim}" is not bound yet')
            pv = await self.api.get(f"/api/v1/persistentvolumes/{vname}")
            src = pv["spec"].get("hostPath") or pv["spec"].get("local")
            if not src:
                raise LookupError(f"volume {vname} is neither hostPath nor local")
            pvcs[claim] = src["path"]
        return lookups, pvcs

    async def event(
        self, pod: dict, kind: str, reason: str, message: str, container: str | None
    ) -> None:
        """Post an Event about ``pod`` (failures only logged: events are best effort)."""
        meta = pod["metadata"]
        t = now_iso()
        involved = {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        }
        if container:
            involved["fieldPath"] = f"spec.containers{{{container}}}"
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta['name']}.{secrets.token_hex(8)}",
                "namespace": meta["namespace"],
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "kubelet", "host": self.settings.node_name},
            "firstTimestamp": t,
            "lastTimestamp": t,
            "count": 1,
            "reportingComponent": "kubelet",
            "reportingInstance": self.settings.node_name,
        }
        try:
            await self.api.create(f"/api/v1/namespaces/{meta['namespace']}/events", body)
        except ApiError as exc:
            # A namespace being deleted refuses new events: expected, not worth a warning.
            level = logging.DEBUG if exc.status == 403 else logging.WARNING
            log.log(level, "could not post event %s for %s: %s", reason, meta["name"], exc)
        except Exception as exc:
            log.warning("could not post event %s for %s: %s", reason, meta["name"], exc)

    def _mark_dirty(self, runner: PodRunner) -> None:
        self._dirty[runner.uid] = runner
        self._dirty_event.set()

    async def status_writer(self) -> None:
        """Push pod status changes to the API server (coalesced)."""
        while True:
            await self._dirty_event.wait()
            self._dirty_event.clear()
            batch, self._dirty = self._dirty, {}
            for runner in batch.values():
                if runner.uid in self.deleting and runner.finished.is_set():
                    continue
                await self._push_status(runner.namespace, runner.name, runner.uid, runner.status())

    async def _push_status(self, ns: str, name: str, uid: str, status: dict) -> None:
        body = {"metadata": {"uid": uid}, "status": status}
        for attempt in range(5):
            try:
                await self.api.merge_patch(f"/api/v1/namespaces/{ns}/pods/{name}/status", body)
                return
            except ApiError as exc:
                if exc.status in (404, 409, 422):
                    return
                log.warning("status of %s/%s: %s", ns, name, exc)
            except Exception as exc:
                log.warning("status of %s/%s: %s", ns, name, exc)
            await asyncio.sleep(0.5 * (attempt + 1))

    async def _confirm_deletion(self, pod: dict) -> None:
        meta = pod["metadata"]
        try:
            await self.api.delete(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                {
                    "apiVersion": "v1",
                    "kind": "DeleteOptions",
                    "gracePeriodSeconds": 0,
                    "preconditions": {"uid": meta["uid"]},
                },
            )
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise

    async def _delete_pod(self, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        try:
            runner = self.runners.get(uid)
            if runner is not None:
                grace = pod["metadata"].get("deletionGracePeriodSeconds")
                if grace is None:
                    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
                await runner.stop(float(grace))
                await runner.cleanup()
                self.runners.pop(uid, None)
            await self._confirm_deletion(pod)
        finally:
            self.deleting.discard(uid)

    async def _fail_stale(self, pod: dict, reason: str, message: str) -> None:
        """A pod that ran under a previous agent: its processes are gone, so it failed."""
        meta = pod["metadata"]
        status = dict(pod.get("status") or {})
        statuses = []
        for cs in status.get("containerStatuses") or []:
            state = cs.get("state") or {}
            if "terminated" not in state:
                state = {
                    "terminated": {
                        "exitCode": 137,
                        "reason": reason,
                        "finishedAt": now_iso(),
                        "message": message,
                    }
                }
            statuses.append({**cs, "ready": False, "started": False, "state": state})
        status.update(phase="Failed", reason=reason, message=message, containerStatuses=statuses)
        status["conditions"] = [
            c if c["type"] not in ("Ready", "ContainersReady") else {**c, "status": "False"}
            for c in status.get("conditions") or []
        ]
        await self._push_status(meta["namespace"], meta["name"], meta["uid"], status)
        await self.event(pod, "Warning", reason, message, None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def reconcile(self, pod: dict) -> None:
        """Bring the node in line with one pod object (called for every list item and event)."""
        meta = pod["metadata"]
        uid = meta["uid"]
        phase = (pod.get("status") or {}).get("phase", "Pending")
        runner = self.runners.get(uid)
        if runner is not None:
            runner.pod = pod
        if meta.get("deletionTimestamp"):
            if uid not in self.deleting:
                self.deleting.add(uid)
                self._spawn(self._delete_pod(pod))
            return
        if runner is not None or phase in ("Succeeded", "Failed"):
            return
        started_before = bool((pod.get("status") or {}).get("containerStatuses")) and any(
            "waiting" not in (cs.get("state") or {}) for cs in pod["status"]["containerStatuses"]
        )
        if started_before or phase == "Running":
            self._spawn(
                self._fail_stale(
                    pod,
                    "NodeAgentRestarted",
                    "the localk8s node agent restarted; the pod's processes are gone",
                )
            )
            return
        runner = PodRunner(
            self.settings, pod, self._allocate_ip(), self._fetch_refs, self._mark_dirty, self.event
        )
        self.runners[uid] = runner
        log.info("starting pod %s/%s ip %s", meta["namespace"], meta["name"], runner.ip)
        runner.start()

    async def _forget(self, uid: str) -> None:
        runner = self.runners.pop(uid, None)
        if runner is not None:
            await runner.stop(2)
            await runner.cleanup()

    async def watch_pods(self) -> None:
        """List then watch the node's pods forever; any failure leads to a fresh list."""
        selector = f"spec.nodeName={self.settings.node_name}"
        while not self._stop.is_set():
            try:
                listing = await self.api.get("/api/v1/pods", fieldSelector=selector)
                seen = set()
                for pod in listing.get("items", []):
                    seen.add(pod["metadata"]["uid"])
                    self.reconcile(pod)
                for uid in set(self.runners) - seen:
                    await self._forget(uid)
                rv = listing["metadata"]["resourceVersion"]
                async for ev in self.api.watch(
                    "/api/v1/pods", rv, timeout_seconds=60, fieldSelector=selector
                ):
                    kind, obj = ev["type"], ev["object"]
                    if kind == "ERROR":
                        break
                    if kind == "BOOKMARK":
                        continue
                    if kind == "DELETED":
                        if obj["metadata"]["uid"] not in self.deleting:
                            await self._forget(obj["metadata"]["uid"])
                        continue
                    self.reconcile(obj)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("pod watch interrupted (%s); re-listing", exc)
                await asyncio.sleep(1)

    # -- lifecycle ------------------------------------------------------------------------

    async def _cleanup_orphans(self) -> None:
        """Namespaces and pod dirs from a previous agent run: no process of ours is in them."""
        for ns in await asyncio.to_thread(network.list_pod_netns):
            await asyncio.to_thread(network.delete_pod_netns, ns)
        root = pods_root(self.settings)
        await asyncio.to_thread(shutil.rmtree, root, True)

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT, then stop every pod."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        await asyncio.to_thread(network.setup_bridge, self.settings)
        await self._cleanup_orphans()
        logs = LogServer(self._find)
        runner = web.AppRunner(logs.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(
            runner,
            "127.0.0.1",
            self.settings.kubelet_port,
            ssl_context=server_ssl(self.pki.kubelet_cert, self.pki.kubelet_key, self.pki.ca_cert),
        )
        await site.start()
        while True:
            try:
                await self.register()
                break
            except Exception as exc:
                log.warning("node registration failed (%s); retrying", exc)
                await asyncio.sleep(1)
        prov = Provisioner(self.api, self.settings)
        await prov.ensure_storage_class()
        log.info("node %s ready", self.settings.node_name)
        tasks = [
            asyncio.create_task(c)
            for c in (self.watch_pods(), self.status_writer(), self.heartbeat(), prov.run())
        ]
        await self._stop.wait()
        log.info("shutting down: stopping %d pods", len(self.runners))
        for t in tasks:
            t.cancel()
        await self.shutdown()
        await runner.cleanup()
        await self.api.close()

    async def shutdown(self) -> None:
        """Stop all pods (grace capped at 10 s), mark running ones Failed, remove namespaces."""
        runners = list(self.runners.values())

        async def one(r: PodRunner) -> None:
            was_done = r.finished.is_set()
            grace = min(float(r.pod["spec"].get("terminationGracePeriodSeconds", 30)), 10.0)
            await r.stop(grace, reason="Killing")
            if not was_done and r.uid not in self.deleting:
                r.phase, r.reason = "Failed", "NodeShutdown"
                r.message = "the localk8s node was shut down"
                await self._push_status(r.namespace, r.name, r.uid, r.status())
            await r.cleanup()

        await asyncio.gather(*(one(r) for r in runners), return_exceptions=True)
        try:
            await self.api.merge_patch(
                f"/api/v1/nodes/{self.settings.node_name}/status",
                {
                    "status": {
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "Unknown",
                                "reason": "NodeStatusUnknown",
                                "message": "localk8s node agent stopped",
                                "lastHeartbeatTime": now_iso(),
                                "lastTransitionTime": now_iso(),
                            }
                        ]
                    }
                },
            )
        except Exception as exc:
            log.warning("could not mark the node not ready: %s", exc)

    def _find(self, namespace: str, name: str) -> PodRunner | None:
        for r in self.runners.values():
            if r.namespace == namespace and r.name == name:
                return r
        return None


def main() -> int:
    """Entry point of ``python -m localk8s node``."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    state = Path(os.environ.get("LOCALK8S_STATE") or Settings().state_dir)
    settings = Settings.load(state)
    asyncio.run(NodeAgent(settings).run())
    return 0
