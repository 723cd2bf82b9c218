"""Thin Kubernetes glue of the jobs service: Jobs, pod logs, PVCs and the watch cache of group
pods (:class:`~primehub_spawner.podcache.GroupPodReflector`, the spawner's cache too).

Permissions used (namespace-scoped): jobs create/get/list/delete; pods get/list/watch;
pods/log get; persistentvolumeclaims get/create (group volumes that do not exist yet).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubernetes_asyncio.client.rest import ApiException
from kubespawner.clients import load_config, shared_client

from ..podcache import GroupPodReflector
from .manifest import JOB_COMPONENT, JOB_LABEL


def same_job(manifest: dict[str, Any], labels: dict[str, str]) -> bool:
    """PURE: whether an existing Job's labels say it is the job ``manifest`` describes."""
    ours = manifest["metadata"].get("labels") or {}
    keys = (JOB_LABEL, "primehub.io/user", "component")
    return all(ours.get(k) is not None and labels.get(k) == ours.get(k) for k in keys)


class KubeError(Exception):
    """A Kubernetes call failed; the message is fit for a job's reason."""


class Kube:
    """The namespace the jobs run in."""

    def __init__(self, namespace: str, log: logging.Logger, request_timeout: float = 30) -> None:
        self.namespace = namespace
        self.log = log
        self.timeout = request_timeout
        self.reflector: GroupPodReflector | None = None

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

    @property
    def pods(self) -> dict[str, dict]:
        """``namespace/name`` -> pod, every pod with a ``primehub.io/group`` label."""
        return self.reflector.pods if self.reflector is not None else {}

    def job_pods(self, job_name: str) -> list[dict]:
        """Pods of the Kubernetes Job ``job_name`` (from the cache), newest first."""
        found = [
            p
            for p in self.pods.values()
            if (p["metadata"].get("labels") or {}).get("job-name") == job_name
        ]
        return sorted(
            found, key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True
        )

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, self.timeout)
        except ApiException as e:
            raise KubeError(f"{what}: {e.status} {e.reason}") from e
        except (asyncio.TimeoutError, OSError) as e:
            raise KubeError(f"{what}: {e or type(e).__name__}") from e

    async def create_job(self, manifest: dict[str, Any]) -> None:
        """Create the Job. One of the same name that exists already is adopted only when it is
        this job's own (a retry after a crash): same job and user labels; else KubeError."""
        try:
            await asyncio.wait_for(
                self.batch.create_namespaced_job(self.namespace, manifest), self.timeout
            )
        except ApiException as e:
            if e.status != 409:
                raise KubeError(
                    f"Could not create the Kubernetes Job: {e.status} {e.reason}"
                ) from e
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
            await asyncio.wait_for(
                self.batch.delete_namespaced_job(
                    name, self.namespace, propagation_policy="Background"
                ),
                self.timeout,
            )
        except ApiException as e:
            if e.status != 404:
                raise KubeError(f"Could not delete Job {name}: {e.status} {e.reason}") from e

    async def delete_pod(self, name: str) -> None:
        """Delete a pod now (Background propagation of a Job deletion can lag)."""
        try:
            await asyncio.wait_for(
                self.core.delete_namespaced_pod(name, self.namespace), self.timeout
            )
        except ApiException as e:
            if e.status != 404:
                raise KubeError(f"Could not delete pod {name}: {e.status} {e.reason}") from e

    async def pod_log(self, pod: str, limit_bytes: int | None = None) -> str:
        """The pod's container log so far (empty when the pod has no log yet)."""
        kwargs: dict[str, Any] = {"container": "notebook"}
        if limit_bytes:
            kwargs["limit_bytes"] = limit_bytes
        try:
            return await asyncio.wait_for(
                self.core.read_namespaced_pod_log(pod, self.namespace, **kwargs), self.timeout
            )
        except ApiException as e:
            if e.status in (400, 404):  # not started yet, or gone
                return ""
            raise KubeError(f"Could not read the log of {pod}: {e.status} {e.reason}") from e

    async def ensure_pvcs(self, pvcs: tuple[dict, ...]) -> None:
        """Create the claims the pod needs that do not exist yet (as the spawner does)."""
        for pvc in pvcs:
            try:
                await asyncio.wait_for(
                    self.core.create_namespaced_persistent_volume_claim(self.namespace, pvc),
                    self.timeout,
                )
            except ApiException as e:
                if e.status == 409:
                    continue
                if e.status == 403:
                    try:
                        await self.core.read_namespaced_persistent_volume_claim(
                            pvc["metadata"]["name"], self.namespace
                        )
                        continue
                    except ApiException:
                        pass
                name = pvc["metadata"]["name"]
                raise KubeError(f"Could not create volume {name}: {e.status} {e.reason}") from e
