"""Spawn progress in words a user understands, and the failures not worth waiting for.

Pure functions over Kubernetes Event and Pod objects (dicts as the watch cache holds them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# Scheduler messages that no amount of waiting fixes on a cluster without an autoscaler:
# not enough of a resource on any node, no node matching the selector, untolerated taints.
_UNSCHEDULABLE = re.compile(
    r"Insufficient [\w./-]+|didn't match (Pod's )?node (affinity|selector)|"
    r"node\(s\) had (untolerated )?taint|didn't tolerate",
)
# Volume mount and attach failures (kubelet / attach-detach controller events) that no
# retry fixes: a missing Secret, ConfigMap, claim or host directory, or a ReadWriteOnce
# volume already attached to another node. Other mount errors (slow storage) are retried
# by the kubelet and wait for the start timeout.
VOLUME_FAILURES = ("FailedMount", "FailedAttachVolume")
_VOLUME_PERMANENT = re.compile(
    r"not found|Multi-Attach error|hostPath type check failed|does not exist|"
    r"is already (exclusively )?(attached|used)",
)
IMAGE_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")


def describe_event(
    event: Mapping[str, Any], started: str = "Starting the notebook server..."
) -> str:
    """A Kubernetes event about the server's pod, said plainly (``started``: what a started
    container means, e.g. the kernel gateway's in a pod of its own)."""
    reason = event.get("reason") or ""
    message = event.get("message") or ""
    if reason == "FailedScheduling":
        if re.search(r"Insufficient [\w.-]+/gpu", message):
            return f"Waiting for a GPU node... ({message})"
        if "Insufficient" in message:
            return f"Waiting for a node with enough CPU or memory... ({message})"
        if "PersistentVolumeClaim" in message:
            return "Waiting for storage to be ready..."
        return f"Waiting for a suitable node... ({message})"
    if reason == "Scheduled":
        node = re.search(r"to (\S+)$", message)
        return f"Assigned to node {node.group(1)}" if node else "Assigned to a node"
    if reason == "Pulling":
        return f"Pulling image... ({message})"
    if reason == "Pulled":
        return "Image ready"
    if reason == "Created":
        return "Container created"
    if reason == "Started":
        return started
    if reason in ("Failed", "BackOff") and any(f in message for f in IMAGE_FAILURES + ("pull",)):
        return f"Cannot pull the image: {message}"
    if reason in VOLUME_FAILURES:
        return f"Waiting for a volume to be mounted... ({message})"
    if reason in ("ProvisioningSucceeded", "SuccessfulAttachVolume"):
        return "Storage ready"
    return message or reason


def unschedulable_message(pod: Mapping[str, Any]) -> str | None:
    """The scheduler's verdict on a pod it could not place (its ``PodScheduled`` condition is
    ``False`` with reason ``Unschedulable``, e.g. ``0/1 nodes are available: 1 Insufficient
    nvidia.com/gpu.``), else None. Used by spawns and by the jobs service."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return cond.get("message") or cond.get("reason")
    return None


def image_failure(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(reason, detail)`` of a container that cannot get its image (``ErrImagePull``,
    ``ImagePullBackOff``, ``InvalidImageName``, ...), else None."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in IMAGE_FAILURES:
            return waiting["reason"], waiting.get("message") or status.get("image") or ""
    return None


def events_about(
    events: Iterable[Mapping[str, Any]], pod: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The events about this very pod (by uid: an earlier pod of the same name may have failed)."""
    uid = (pod.get("metadata") or {}).get("uid")
    return [e for e in events if uid and (e.get("involvedObject") or {}).get("uid") == uid]


def fatal_reason(
    events: Iterable[Mapping[str, Any]],
    pod: Mapping[str, Any] | None,
    subject: str = "The server",
) -> str | None:
    """Why this spawn cannot succeed by waiting (``None`` while it still may); ``subject`` names
    the pod in the message (the kernel pod of the kernel-gateway split has its own).

    Unschedulable pods (e.g. ``Insufficient nvidia.com/gpu``, no node matching the
    selector), image pull errors and volume mount or attach
    failures no retry fixes (``FailedMount`` / ``FailedAttachVolume`` for a missing Secret,
    ConfigMap, claim or host directory, or a ``Multi-Attach error``) fail the spawn at once
    instead of after the start timeout. A pod waiting for its volumes to bind, and a mount
    the kubelet is still retrying for another reason, are not fatal.
    """
    if pod is not None:
        # The scheduler writes its verdict on the pod itself (faster than the Event).
        message = unschedulable_message(pod)
        if message and _UNSCHEDULABLE.search(message):
            return f"{subject} cannot be scheduled: {message}"
        failure = image_failure(pod)
        if failure is not None:
            return f"Cannot pull image ({failure[0]}): {failure[1]}".rstrip(": ")
    events = list(events)
    # A kubelet reports a failed pull twice: 'Failed to pull image "<image>": <why>' and then
    # just 'Error: ErrImagePull'. The first says what the user must change.
    pulls = [
        e.get("message") or ""
        for e in events
        if e.get("reason") == "Failed" and (e.get("message") or "").startswith("Failed to pull")
    ]
    for event in events:
        message = event.get("message") or ""
        if event.get("reason") == "FailedScheduling" and _UNSCHEDULABLE.search(message):
            return f"{subject} cannot be scheduled: {message}"
        code = next((f for f in IMAGE_FAILURES if f in message), None)
        if event.get("reason") in ("Failed", "BackOff") and code:
            return f"Cannot pull image ({code}): {pulls[-1] if pulls else message}"
        if event.get("reason") in VOLUME_FAILURES and _VOLUME_PERMANENT.search(message):
            return f"A volume of the server cannot be mounted ({event['reason']}): {message}"
    return None
