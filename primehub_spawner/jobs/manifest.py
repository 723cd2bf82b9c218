"""PURE: a job's Kubernetes Job manifest from the same PodPlan a notebook of that choice gets.

The pod has the notebook's resources, GPU, env, volumes, datasets, node selector and
tolerations (``launch.plan_launch``), the admin's pod settings of notebook pods (security
contexts, uid/gid/fsGroup, service account, node selector, tolerations, ``extra_pod_config``:
:class:`..pods.PodSettings`, rendered by the same :func:`..pods.render_pod`), the labels
``primehub.io/user``, ``primehub.io/group``, ``component=primehub-job`` and
``primehub.io/job=<id>``, no Kubernetes credentials unless the admin's settings give notebook
pods some, and runs the jobs engine's executor in the notebook's folder. Files of the job
(status, artifacts) live in the group volume under ``<group volume>/.primehub-jobs/<id>/`` so
the user sees them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from primehub_jobs_contract.executor import (
    EXECUTOR_COMMAND,
    SPEC_ANNOTATION,
    ExecutorSpec,
    executor_command,
    pod_spec_path,
    pod_spec_volume,
)
from primehub_jobs_contract.layout import JobFiles, volume_job_folder

from ..launch import JOB_LABEL, PodPlan
from ..pods import CONTAINER_NAME, ContainerSpec, PodSettings, render_pod

JOB_COMPONENT = "primehub-job"
# The executor writes its final state ({"state", "endedEarly"} as JSON) into the container's
# termination message, which the service reads from the pod's status when the Job ends.
TERMINATION_LOG = "/dev/termination-log"


def job_object_name(job_id: str) -> str:
    """Name of the Kubernetes Job (and prefix of its pod)."""
    return f"primehub-job-{job_id}"


@dataclass(frozen=True)
class JobPaths:
    """Container paths of one job, all inside the group volume at ``volume``."""

    volume: str  # e.g. /project/team
    notebook: str  # relative to the volume
    output: str  # relative to the volume
    job_id: str
    snapshot: str | None = None  # relative to the volume; None: run the notebook itself

    def absolute(self, relative: str) -> str:
        """``relative`` inside the volume, as an absolute container path."""
        return posixpath.join(self.volume, relative)

    @property
    def files(self) -> str:
        """The job's folder (status file, artifacts)."""
        return self.absolute(volume_job_folder(self.job_id))

    @property
    def workdir(self) -> str:
        """The notebook's folder: relative paths in the notebook work as in JupyterLab."""
        return posixpath.dirname(self.absolute(self.notebook))


def executor_spec(
    paths: JobPaths,
    *,
    parameters: dict[str, Any],
    kernel: str | None,
    cell_timeout: float | None,
    snapshot_sha256: str | None = None,
) -> ExecutorSpec:
    """What the job pod's executor runs, as container paths; it logs to stdout (the pod log).
    The Job's ``activeDeadlineSeconds`` enforces the deadline (Kubernetes reports it)."""
    files = JobFiles(PurePosixPath(paths.files))  # type: ignore[arg-type]
    return ExecutorSpec(
        input=paths.absolute(paths.snapshot or paths.notebook),
        output=paths.absolute(paths.output),
        cwd=paths.workdir,
        kernel=kernel,
        parameters=dict(parameters),
        timeout=cell_timeout,
        status_file=str(files.status),
        artifacts=str(files.artifacts),
        job_id=paths.job_id,
        input_path=paths.absolute(paths.notebook),
        termination_log=TERMINATION_LOG,
        confine=paths.volume,
        input_sha256=snapshot_sha256 if paths.snapshot else None,
    )


def job_manifest(
    plan: PodPlan,
    *,
    job_id: str,
    spec: ExecutorSpec,
    deadline_seconds: int,
    executor: Sequence[str] = EXECUTOR_COMMAND,
    namespace: str | None = None,
    extra_env: dict[str, str] | None = None,
    settings: PodSettings | None = None,
) -> dict[str, Any]:
    """The batch/v1 Job running the executor over ``spec`` in a pod built from ``plan`` (never
    retried), with the admin's pod ``settings`` (those of notebook pods; default: none but no
    token). The spec travels in the pod's annotation and reaches the executor as a file through a
    downward-API volume: nothing it is told is read from the shared group volume."""
    name = job_object_name(job_id)
    spec_volume, spec_mount = pod_spec_volume()
    process = ContainerSpec(
        command=tuple(executor_command(pod_spec_path(), tuple(executor))),
        env=tuple({"name": k, "value": v} for k, v in (extra_env or {}).items()),
        working_dir=spec.cwd,
        lifecycle={},  # no home symlinks: a job pod has no home volume
    )
    # git datasets: cloned before the executor starts, no sync sidecar (the pod must end)
    pod = render_pod(plan, settings or PodSettings(), process, name=name, git_sync=False)
    labels = {**pod["metadata"]["labels"], "component": JOB_COMPONENT, JOB_LABEL: job_id}
    spec_ = pod["spec"]
    # a notebook is not re-run behind the user's back (whatever extra_pod_config says)
    spec_["restartPolicy"] = "Never"
    container = next(c for c in spec_["containers"] if c["name"] == CONTAINER_NAME)
    container["env"].append({"name": "PRIMEHUB_JOB_ID", "value": job_id})
    spec_["volumes"] = [*spec_.get("volumes", []), spec_volume]
    container["volumeMounts"] = [*container.get("volumeMounts", []), spec_mount]
    container["terminationMessagePath"] = TERMINATION_LOG
    container["terminationMessagePolicy"] = "File"
    metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": int(deadline_seconds),
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        **pod["metadata"]["annotations"],
                        SPEC_ANNOTATION: spec.to_json(),
                    },
                },
                "spec": spec_,
            },
        },
    }
