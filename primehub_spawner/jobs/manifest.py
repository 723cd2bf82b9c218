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

import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..launch import PodPlan
from ..pods import CONTAINER_NAME, ContainerSpec, PodSettings, render_pod

JOB_COMPONENT = "primehub-job"
JOB_LABEL = "primehub.io/job"
JOBS_FOLDER = ".primehub-jobs"
DEFAULT_EXECUTOR = ("python", "-m", "jupyterlab_primehub.jobs.execute")
# The executor writes its final state ({"state", "endedEarly"} as JSON) into the container's
# termination message, which the service reads from the pod's status when the Job ends. Passed
# through the environment, which executors that predate it ignore.
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
        return self.absolute(f"{JOBS_FOLDER}/{self.job_id}")

    @property
    def workdir(self) -> str:
        """The notebook's folder: relative paths in the notebook work as in JupyterLab."""
        return posixpath.dirname(self.absolute(self.notebook))


def executor_command(
    paths: JobPaths,
    *,
    parameters: dict[str, Any],
    kernel: str | None,
    cell_timeout: float | None,
    executor: Sequence[str] = DEFAULT_EXECUTOR,
) -> list[str]:
    """The container command: the executor CLI, logging to stdout (the pod log)."""
    cmd = [
        *executor,
        "--input",
        paths.absolute(paths.snapshot or paths.notebook),
        "--output",
        paths.absolute(paths.output),
        "--cwd",
        paths.workdir,
        "--parameters",
        json.dumps(parameters, sort_keys=True),
        "--timeout",
        f"{cell_timeout or 0:g}",
        # The Job's activeDeadlineSeconds enforces the deadline (Kubernetes reports it).
        "--deadline",
        "0",
        "--status-file",
        f"{paths.files}/status.json",
        "--artifacts",
        f"{paths.files}/artifacts",
        "--job-id",
        paths.job_id,
    ]
    if kernel:
        cmd += ["--kernel", kernel]
    return cmd


def job_manifest(
    plan: PodPlan,
    *,
    job_id: str,
    command: list[str],
    workdir: str,
    deadline_seconds: int,
    namespace: str | None = None,
    extra_env: dict[str, str] | None = None,
    input_path: str | None = None,
    settings: PodSettings | None = None,
) -> dict[str, Any]:
    """The batch/v1 Job running ``command`` in a pod built from ``plan`` (never retried), with
    the admin's pod ``settings`` (those of notebook pods; default: none but no token).

    ``input_path`` is the submitted notebook (papermill's ``input_path`` in the output notebook
    when the executor runs a snapshot of it)."""
    name = job_object_name(job_id)
    process = ContainerSpec(
        command=tuple(command),
        env=tuple({"name": k, "value": v} for k, v in (extra_env or {}).items()),
        working_dir=workdir,
        lifecycle={},  # no home symlinks: a job pod has no home volume
    )
    pod = render_pod(plan, settings or PodSettings(), process, name=name)
    labels = {**pod["metadata"]["labels"], "component": JOB_COMPONENT, JOB_LABEL: job_id}
    spec = pod["spec"]
    # a notebook is not re-run behind the user's back (whatever extra_pod_config says)
    spec["restartPolicy"] = "Never"
    container = next(c for c in spec["containers"] if c["name"] == CONTAINER_NAME)
    container["env"].append({"name": "PRIMEHUB_JOB_ID", "value": job_id})
    container["env"].append({"name": "PRIMEHUB_JOB_TERMINATION_LOG", "value": TERMINATION_LOG})
    if input_path:
        container["env"].append({"name": "PRIMEHUB_JOB_INPUT_PATH", "value": input_path})
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
                "metadata": {"labels": labels, "annotations": pod["metadata"]["annotations"]},
                "spec": spec,
            },
        },
    }
