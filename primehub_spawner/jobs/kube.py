"""Thin Kubernetes glue of the jobs service: Jobs, pod logs, PVCs and the watch cache of group
pods (:class:`~primehub_spawner.podcache.GroupPodReflector`, the spawner's cache too).

Permissions used (namespace-scoped): jobs create/get/list/delete; pods get/list/watch;
pods/log get; persistentvolumeclaims get/create (group volumes that do not exist yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
from kubernetes_asyncio.client.rest import ApiException
from kubespawner.clients import load_config, shared_client

from ..podcache import GroupPodReflector, fresh_pods
from .manifest import JOB_COMPONENT, JOB_LABEL


def same_job(manifest: dict[str, Any], labels: dict[str, str]) -> bool:
    """PURE: whether an existing Job's labels say it is the job ``manifest`` describes."""
    ours = manifest["metadata"].get("labels") or {}
    keys = (JOB_LABEL, "primehub.io/user", "component")
    return all(ours.get(k) is not None and labels.get(k) == ours.get(k) for k in keys)


def pods_by_job(pods: dict[str, dict]) -> dict[str, list[dict]]:
    """The cached pods of each Kubernetes Job (its ``job-name`` label), newest first."""
    found: dict[str, list[dict]] = {}
    for pod in pods.values():
        name = (pod["metadata"].get("labels") or {}).get("job-name")
        if name is not None:
            found.setdefault(name, []).append(pod)
    for group in found.values():
        if len(group) > 1:
            group.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
    return found


class KubeError(Exception):
    """A Kubernetes call failed; the message is fit for a job's reason."""


# what an unreachable, slow or restarting API server raises (aiohttp's ClientError is not an
# OSError: a dropped connection is ServerDisconnectedError)
UNREACHABLE = (asyncio.TimeoutError, OSError, aiohttp.ClientError)


async def call(what: str, coro: Any, timeout: float, ok: tuple[int, ...] = ()) -> Any:
    """Await one Kubernetes call with a timeout; every failure is a KubeError naming ``what``
    (the statuses in ``ok`` are raised as the ApiException, for the caller to handle)."""
    try:
        return await asyncio.wait_for(coro, timeout)
    except ApiException as e:
        if e.status in ok:
            raise
        raise KubeError(f"{what}: {e.status} {e.reason}") from e
    except UNREACHABLE as e:
        raise KubeError(
            f"{what}: the Kubernetes API server did not answer ({e or type(e).__name__})"
        ) from e


class Kube:
    """The namespace the jobs run in."""

    def __init__(self, namespace: str, log: logging.Logger, request_timeout: float = 30) -> None:
        self.namespace = namespace
        self.log = log
        self.timeout = request_timeout
        self.reflector: GroupPodReflector | None = None
        self._by_job: dict[str, list[dict]] | None = None  # see one_view()

    async def start(self) -> None:
        """Load credentials (in-cluster or KUBECONFIG) and fill the pod cache."""
        await asyncio.to_thread(load_config)
        self.batch = shared_client("BatchV1Api")
        self.core = shared_client("CoreV1Api")
        self.reflector = GroupPodReflector(namespace=self.namespace, log=self.log)
        await self.reflector.start()

    async def stop(self) -> None:
        """Stop watching pods."""
        if self.reflector is not None:
            await self.reflector.stop()

    async def fresh_pods(self) -> dict[str, dict]:
        """The pod cache for a quota decision; a watch that gave up is restarted, and
        :class:`~..podcache.StaleCache` is raised while the cache cannot be trusted."""

        async def restart() -> GroupPodReflector:
            old, self.reflector = self.reflector, None
            if old is not None:
                await old.stop()
            reflector = GroupPodReflector(namespace=self.namespace, log=self.log)
            await reflector.start()
            self.reflector = reflector
            return reflector

        return await fresh_pods(self.reflector, restart)

    @property
    def pods(self) -> dict[str, dict]:
        """``namespace/name`` -> pod, every pod with a ``primehub.io/group`` label."""
        return self.reflector.pods if self.reflector is not None else {}

    def job_pods(self, job_name: str) -> list[dict]:
        """Pods of the Kubernetes Job ``job_name`` (from the cache), newest first."""
        if self._by_job is not None:
            return self._by_job.get(job_name, [])
        return pods_by_job(self.pods).get(job_name, [])

    @contextlib.contextmanager
    def one_view(self) -> Iterator[None]:
        """Within the block ``job_pods`` answers from one index of the pod cache made at its
        start: a scheduling round asks for the pods of every started job, and one pass over
        the cache is enough for all of them."""
        self._by_job = pods_by_job(self.pods)
        try:
            yield
        finally:
            self._by_job = None

    async def _call(self, what: str, coro: Any, ok: tuple[int, ...] = ()) -> Any:
        return await call(what, coro, self.timeout, ok)

    async def create_job(self, manifest: dict[str, Any]) -> None:
        """Create the Job. One of the same name that exists already is adopted only when it is
        this job's own (a retry after a crash): same job and user labels; else KubeError."""
        try:
            await self._call(
                "Could not create the Kubernetes Job",
                self.batch.create_namespaced_job(self.namespace, manifest),
                ok=(409,),
            )
        except ApiException as e:
            name = manifest["metadata"]["name"]
            existing = await self._call(
                f"Read Job {name}", self.batch.read_namespaced_job(name, self.namespace)
            )
            if not same_job(manifest, existing.metadata.labels or {}):
                raise KubeError(
                    f"A Kubernetes Job named {name} exists and is not this job's; "
                    "it was left alone."
                ) from e

    async def list_jobs(self) -> dict[str, dict]:
        """Our Jobs by name (one list per scheduling round, not one call per job)."""
        result = await self._call(
            "List Jobs",
            self.batch.list_namespaced_job(
                self.namespace, label_selector=f"component={JOB_COMPONENT}"
            ),
        )
        api = self.batch.api_client
        return {j.metadata.name: api.sanitize_for_serialization(j) for j in result.items or []}

    async def delete_job(self, name: str) -> None:
        """Delete a Job and its pods (SIGTERM: the executor saves its partial output)."""
        try:
            await self._call(
                f"Could not delete Job {name}",
                self.batch.delete_namespaced_job(
                    name, self.namespace, propagation_policy="Background"
                ),
                ok=(404,),
            )
        except ApiException:
            pass  # gone already

    async def delete_pod(self, name: str) -> None:
        """Delete a pod now (Background propagation of a Job deletion can lag)."""
        try:
            await self._call(
                f"Could not delete pod {name}",
                self.core.delete_namespaced_pod(name, self.namespace),
                ok=(404,),
            )
        except ApiException:
            pass  # gone already

    async def pod_log(
        self,
        pod: str,
        limit_bytes: int | None = None,
        since_time: str | None = None,
        timestamps: bool = False,
    ) -> str:
        """The pod's container log so far (empty when the pod has no log yet); from the second
        ``since_time`` (RFC 3339) on, each line prefixed by its timestamp if ``timestamps``."""
        kwargs: dict[str, Any] = {"container": "notebook"}
        if limit_bytes:
            kwargs["limit_bytes"] = limit_bytes
        if since_time:
            kwargs["since_time"] = since_time
        if timestamps:
            kwargs["timestamps"] = True
        try:
            text = await self._call(
                f"Could not read the log of {pod}",
                self.core.read_namespaced_pod_log(pod, self.namespace, **kwargs),
                ok=(400, 404),
            )
        except ApiException:
            return ""  # not started yet, or gone
        return text or ""  # an empty log comes back as None

    async def ensure_pvcs(self, pvcs: tuple[dict, ...]) -> None:
        """Create the claims the pod needs that do not exist yet (as the spawner does)."""
        for pvc in pvcs:
            name = pvc["metadata"]["name"]
            what = f"Could not create volume {name}"
            try:
                await self._call(
                    what,
                    self.core.create_namespaced_persistent_volume_claim(self.namespace, pvc),
                    ok=(403, 409),
                )
            except ApiException as e:
                if e.status == 403:  # may not create claims: fine if it exists already
                    await self._call(
                        f"{what} ({e.status} {e.reason}) nor read it",
                        self.core.read_namespaced_persistent_volume_claim(name, self.namespace),
                    )

    async def claim_host_path(self, claim: str) -> str | None:
        """Where the volume bound to ``claim`` lies on its node, for ``hostPath`` and
        ``local`` volumes (single-node clusters, where this service runs on the node); None
        when the claim does not exist or is not bound, KubeError for another kind of volume.
        Needs get on persistentvolumeclaims and (cluster-wide) persistentvolumes."""
        try:
            pvc = await self._call(
                f"Read volume claim {claim}",
                self.core.read_namespaced_persistent_volume_claim(claim, self.namespace),
                ok=(404,),
            )
        except ApiException:
            return None
        volume = pvc.spec.volume_name if pvc.spec is not None else None
        if not volume:
            return None
        pv = await self._call(f"Read volume {volume}", self.core.read_persistent_volume(volume))
        source = pv.spec.host_path or pv.spec.local
        if source is None or not source.path:
            raise KubeError(
                f"Volume {volume} of claim {claim} is neither hostPath nor local: give the "
                "service the group volumes as a folder (JobsApp.group_volumes)"
            )
        return source.path
