"""Local volume provisioner: binds pending PVCs to hostPath PVs under ``<state>/volumes``.

Provisioned PVs use reclaim policy Retain and an annotation of ours; when their claim is deleted
(phase Released) the provisioner deletes the PV and its directory, like a ``Delete`` policy.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from localk8s.kubeapi import ApiError, KubeApi
from localk8s.settings import Settings

log = logging.getLogger("localk8s.provisioner")

PROVISIONER = "localk8s.io/hostpath"
STORAGE_CLASS = "local"
_ANNOTATION = "pv.kubernetes.io/provisioned-by"


def storage_class() -> dict[str, Any]:
    """The default StorageClass served by this provisioner."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def wants_volume(pvc: dict[str, Any]) -> bool:
    """True for a pending, unbound claim of our class (or of no class) without a selector."""
    spec = pvc.get("spec", {})
    return (
        pvc.get("status", {}).get("phase", "Pending") == "Pending"
        and not spec.get("volumeName")
        and not spec.get("selector")
        and not spec.get("dataSource")
        and spec.get("storageClassName") in (None, "", STORAGE_CLASS)
        and "deletionTimestamp" not in pvc["metadata"]
    )


def pv_for_claim(pvc: dict[str, Any], root: Path) -> dict[str, Any]:
    """A hostPath PV pre-bound (claimRef) to ``pvc``."""
    meta = pvc["metadata"]
    spec = pvc["spec"]
    safe = re.sub(r"[^a-z0-9-]", "-", f"{meta['namespace']}-{meta['name']}")[:60]
    path = root / f"{safe}-{meta['uid'][:8]}"
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "annotations": {_ANNOTATION: PROVISIONER}},
        "spec": {
            "capacity": {
                "storage": ((spec.get("resources") or {}).get("requests") or {}).get(
                    "storage", "1Gi"
                )
            },
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": spec.get("storageClassName") or "",
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
        },
    }


def _make_volume_dir(path: Path) -> None:
    """The volume's directory, writable by the pods' users (like rancher's local-path provisioner:
    hostPath volumes ignore ``fsGroup``, and containers run as a non-root user such as 1000)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)


class Provisioner:
    """Polls claims and volumes; creates and deletes PVs as needed."""

    def __init__(self, api: KubeApi, settings: Settings) -> None:
        self.api = api
        self.root = settings.state_dir / "volumes"

    async def ensure_storage_class(self) -> None:
        """Register the default StorageClass ``local`` once."""
        try:
            await self.api.create("/apis/storage.k8s.io/v1/storageclasses", storage_class())
        except ApiError as exc:
            if exc.status != 409:
                raise

    async def sync_once(self) -> str:
        """One pass: provision pending claims, delete released volumes of ours.

        Returns the claims list's resourceVersion (where to start watching).
        """
        claims = await self.api.get("/api/v1/persistentvolumeclaims")
        for pvc in claims.get("items", []):
            if wants_volume(pvc):
                pv = pv_for_claim(pvc, self.root)
                await asyncio.to_thread(_make_volume_dir, Path(pv["spec"]["hostPath"]["path"]))
                try:
                    await self.api.create("/api/v1/persistentvolumes", pv)
                    log.info(
                        "provisioned %s for claim %s/%s",
                        pv["metadata"]["name"],
                        pvc["metadata"]["namespace"],
                        pvc["metadata"]["name"],
                    )
                except ApiError as exc:
                    if exc.status != 409:
                        raise
        volumes = await self.api.get("/api/v1/persistentvolumes")
        for pv in volumes.get("items", []):
            ours = (pv["metadata"].get("annotations") or {}).get(_ANNOTATION) == PROVISIONER
            if ours and pv.get("status", {}).get("phase") in ("Released", "Failed"):
                path = Path(pv["spec"]["hostPath"]["path"])
                if path.is_relative_to(self.root):
                    await asyncio.to_thread(shutil.rmtree, path, True)
                try:
                    await self.api.delete(f"/api/v1/persistentvolumes/{pv['metadata']['name']}")
                    log.info("deleted released volume %s", pv["metadata"]["name"])
                except ApiError as exc:
                    if exc.status != 404:
                        raise
        return claims["metadata"]["resourceVersion"]

    async def run(self, resync: int = 10) -> None:
        """Sync on every claim event and at least every ``resync`` seconds, forever."""
        while True:
            try:
                rv = await self.sync_once()
                async for _event in self.api.watch(
                    "/api/v1/persistentvolumeclaims", rv, timeout_seconds=resync
                ):
                    await self.sync_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("provisioner pass failed: %s", exc)
                await asyncio.sleep(1)
