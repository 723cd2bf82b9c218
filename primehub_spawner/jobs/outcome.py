"""PURE: what a job's Kubernetes Job and pod say about it (no I/O, no clock).

``final_outcome`` decides how a started job ended (state, reason, exit code and, for a success,
where the notebook ended early) from its Job's status, its pod's container status and the
executor's termination message; ``pending_reason`` says why its pod is not running yet (the
scheduler's and kubelet's verdicts read as the spawner reads them, :mod:`..progress`), and
``preparing_expired`` when it has waited too long. The admission round (:mod:`.admission`)
applies them to the stored job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from primehub_jobs_contract.states import State

from ..progress import image_failure, unschedulable_message
from ..quantities import Resources

DELETED_OUTSIDE = "The Kubernetes Job was deleted outside PrimeHub before it finished."


@dataclass(frozen=True)
class Outcome:
    """How a started job ended."""

    state: State
    reason: str | None
    exit_code: int | None
    ended_early: dict[str, Any] | None = None


def final_outcome(k8s_job: dict | None, pod: dict | None, deadline: int) -> Outcome | None:
    """The job's end from its Kubernetes Job (None: deleted before it ended) and newest pod;
    None while it has not ended."""
    if k8s_job is None:
        return Outcome(State.FAILED, DELETED_OUTSIDE, None)
    ended = job_outcome(k8s_job, pod, deadline)
    if ended is None:
        return None
    state, reason, code = ended
    return Outcome(state, reason, code, ended_early(pod) if state == State.SUCCEEDED else None)


def job_outcome(
    k8s_job: dict, pod: dict | None, deadline: int
) -> tuple[State, str | None, int | None] | None:
    """The final state of a Kubernetes Job (None while it has not ended)."""
    status = k8s_job.get("status") or {}
    conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    code, term_reason = _exit(pod)
    if "Complete" in conditions or (status.get("succeeded") or 0) > 0:
        return State.SUCCEEDED, None, code
    failed = conditions.get("Failed")
    if failed is None:
        # A failed pod alone is not the end yet: the controller's condition says why (a pod
        # killed for the deadline must not read as a cancel).
        return None
    if failed.get("reason") == "DeadlineExceeded":
        return (
            State.FAILED,
            f"Deadline exceeded: the job ran longer than {deadline} seconds "
            "(activeDeadlineSeconds); the partial output notebook was saved.",
            code,
        )
    if code == 1:
        why = "The notebook raised an error; see the log and the output notebook."
        return State.FAILED, why, code
    pod_status = (pod or {}).get("status") or {}
    if pod_status.get("reason") == "Evicted":
        why = pod_status.get("message") or "the node ran short of resources"
        return State.FAILED, f"The job's pod was evicted: {why}", code
    if code == 143:
        # A user's cancel is recorded by the service itself before it deletes the Job: a pod
        # stopped otherwise (a node drain, preemption) failed, it was not cancelled.
        return (
            State.FAILED,
            "The job's pod was stopped by Kubernetes (SIGTERM: a node drain or preemption); "
            "the partial output notebook was saved.",
            code,
        )
    if term_reason == "OOMKilled" or code == 137:
        return State.FAILED, f"The job's pod was killed ({term_reason or 'exit code 137'}).", code
    detail = f"exit code {code}" if code is not None else failed.get("message") or "no pod"
    return State.FAILED, f"The job's pod failed ({detail}).", code


def ended_early(pod: dict | None) -> dict[str, Any] | None:
    """Where a succeeded job's notebook ended early (``sys.exit(0)``, papermill's rule),
    from the executor's termination message (``{"state", "endedEarly"}``): ``{"cellIndex",
    "ename", "evalue"}``, or None (ran to the end, or no message: an older executor or a runtime
    without termination messages)."""
    for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        message = ((cs.get("state") or {}).get("terminated") or {}).get("message")
        if not message:
            continue
        try:
            data = json.loads(message)
        except ValueError:
            return None
        ended = data.get("endedEarly") if isinstance(data, dict) else None
        if not isinstance(ended, dict) or data.get("state") != "succeeded":
            return None
        index = ended.get("cellIndex")
        return {
            "cellIndex": index if isinstance(index, int) and not isinstance(index, bool) else None,
            "ename": str(ended.get("ename") or "SystemExit")[:100],
            "evalue": str(ended.get("evalue") or "")[:200],
        }
    return None


def _exit(pod: dict | None) -> tuple[int | None, str | None]:
    if pod is None:
        return None, None
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated")
        if term:
            return term.get("exitCode"), term.get("reason")
    return None, None


def pending_reason(pod: dict, request: Resources | None = None) -> str:
    """Why a job's pod is not running yet, in the scheduler's or node's words; ``request``
    (the instance type's CPU, memory and GPUs) says what the node it waits for must have."""
    message = unschedulable_message(pod)
    if message is not None:
        return f"{waiting_for_node(message, request)}: {message}"
    failure = image_failure(pod)
    if failure is not None:
        reason, detail = failure
        return f"Image pull failed ({reason}): {detail}".rstrip(": ")
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"Waiting for a node: {cond.get('message') or cond.get('reason')}"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return f"Starting: {waiting.get('reason')}" + (
                f" ({waiting['message']})" if waiting.get("message") else ""
            )
    return "Starting the job's pod"


def waiting_for_node(message: str, request: Resources | None) -> str:
    """ "Waiting for a node with 4 GPUs" (or CPUs, or memory) when the scheduler's ``message``
    says no node has enough of it, else "Waiting for a node"."""
    if request is not None:
        short = [r.rstrip(".") for r in re.findall(r"Insufficient ([\w./-]+)", message)]
        if request.gpu and any(r.endswith("/gpu") for r in short):
            return f"Waiting for a node with {request.gpu:g} GPU{'' if request.gpu == 1 else 's'}"
        if "cpu" in short:
            return f"Waiting for a node with {request.cpu:g} CPU{'' if request.cpu == 1 else 's'}"
        if "memory" in short:
            memory = Resources(memory=request.memory).to_json()["memory"]
            return f"Waiting for a node with {memory} of memory"
    return "Waiting for a node"


def preparing_expired(since: datetime | None, now: datetime, timeout: float | None) -> bool:
    """Whether a job preparing since ``since`` has waited longer than ``timeout`` seconds for
    its pod to start (``0`` or None: no limit)."""
    return bool(timeout) and since is not None and (now - since).total_seconds() > timeout


def timed_out_reason(timeout: float, waiting: str | None) -> str:
    """The reason of a job failed by its preparing timeout, with why it was still waiting."""
    count, unit = (timeout / 60, "minute") if timeout % 60 == 0 else (timeout, "second")
    limit = f"{count:g} {unit}" + "s" * (count != 1)
    why = waiting or "its pod did not start"
    return f"The job did not start within {limit} (preparing timeout): {why}"
