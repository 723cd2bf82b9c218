"""How a backend starts the executor: one spec file, one command line, built here only.

The local backend writes the spec into the job's folder and runs
``python -m primehub_executor <folder>/spec.json``. A Kubernetes job pod carries the spec in its
annotation ``primehub.io/job-spec``, which a downward-API volume shows to the executor as
``/etc/primehub-job/spec.json``: the spec is part of the pod object, not a file in the shared
group volume.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

EXECUTOR_MODULE = "primehub_executor"
EXECUTOR_COMMAND = ("python", "-m", EXECUTOR_MODULE)
SPEC_ANNOTATION = "primehub.io/job-spec"
SPEC_VOLUME = "primehub-job-spec"
SPEC_MOUNT = "/etc/primehub-job"
SPEC_FILE_NAME = "spec.json"
MAX_SPEC_BYTES = 128 * 1024  # an annotation holds at most 256 KiB with the pod's others


class SpecError(ValueError):
    """The spec file is missing a field or has one of the wrong type (executor exit code 2)."""


@dataclass
class ExecutorSpec:
    """Everything the executor needs, as paths of the machine or container it runs in."""

    input: str  # the notebook to run (a snapshot)
    output: str  # where the output notebook goes
    cwd: str | None = None  # the kernel's working folder (default: the input's folder)
    kernel: str | None = None  # kernel name (default: the notebook's kernelspec)
    parameters: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None  # per cell, seconds
    deadline: float | None = None  # whole job, seconds (a job pod: activeDeadlineSeconds)
    status_file: str | None = None
    log_file: str | None = None  # None: stdout (a pod's log)
    job_id: str = ""
    artifacts: str | None = None
    max_artifact_files: int | None = None  # None: the executor's defaults
    max_artifact_bytes: int | None = None
    input_path: str | None = None  # the submitted notebook, papermill's input_path
    termination_log: str | None = None  # a container's terminationMessagePath
    # a trusted folder (a group volume's root, the server's root) below which the output and
    # status files are written without following any symbolic link (others may plant them)
    confine: str | None = None
    # the digest of what the submitter submitted: the executor runs ``input`` only if its bytes,
    # read once, have this digest (a snapshot in a shared folder may be edited by others)
    input_sha256: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ExecutorSpec:
        """Parse and type-check a spec; unknown keys are ignored (a newer writer)."""
        try:
            data = json.loads(text)
        except ValueError as e:
            raise SpecError(f"the spec is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise SpecError("the spec must be a JSON object")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data or data[f.name] is None:
                continue
            value = data[f.name]
            kind = _KINDS[f.name]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise SpecError(f"'{f.name}' must be a {kind.__name__}, got {value!r}")
            values[f.name] = value
        for required in ("input", "output"):
            if required not in values:
                raise SpecError(f"'{required}' is required")
        return cls(**values)

    def write(self, path: Path | str) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def read(cls, path: Path | str) -> ExecutorSpec:
        raw = Path(path).read_bytes()
        if len(raw) > MAX_SPEC_BYTES:
            raise SpecError(f"the spec is larger than {MAX_SPEC_BYTES} bytes")
        return cls.from_json(raw)


_KINDS: dict[str, type] = {
    "input": str,
    "output": str,
    "cwd": str,
    "kernel": str,
    "parameters": dict,
    "timeout": float,
    "deadline": float,
    "status_file": str,
    "log_file": str,
    "job_id": str,
    "artifacts": str,
    "max_artifact_files": int,
    "max_artifact_bytes": int,
    "input_path": str,
    "termination_log": str,
    "confine": str,
    "input_sha256": str,
}


def executor_command(
    spec_path: str, executor: tuple[str, ...] | list[str] = EXECUTOR_COMMAND
) -> list[str]:
    """The command line that runs one job: ``<executor...> <spec file>``."""
    return [*executor, str(spec_path)]


def pod_spec_path() -> str:
    """Where a job pod's executor finds its spec (the downward-API volume)."""
    return f"{SPEC_MOUNT}/{SPEC_FILE_NAME}"


def pod_spec_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    """The downward-API volume and its read-only mount that show the spec annotation as a file."""
    volume = {
        "name": SPEC_VOLUME,
        "downwardAPI": {
            "items": [
                {
                    "path": SPEC_FILE_NAME,
                    "fieldRef": {"fieldPath": f"metadata.annotations['{SPEC_ANNOTATION}']"},
                }
            ]
        },
    }
    mount = {"name": SPEC_VOLUME, "mountPath": SPEC_MOUNT, "readOnly": True}
    return volume, mount


def parse_cli_value(raw: str) -> Any:
    """Type a ``-p name=value`` value the way papermill's ``-p`` does (and every command line
    of the project that takes ``-p``): True/False/None, whole and finite decimal numbers,
    anything else a string."""
    if raw in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[raw]
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return raw
    return number if math.isfinite(number) else raw
