"""Files of one job inside the jobs dir (outside the user's served tree)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class JobFiles:
    """Paths of a job's private files."""

    root: Path

    @property
    def snapshot(self) -> Path:
        return self.root / "input.ipynb"

    @property
    def spec(self) -> Path:
        return self.root / "spec.json"

    @property
    def status(self) -> Path:
        return self.root / "status.json"

    @property
    def log(self) -> Path:
        return self.root / "job.log"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"


@dataclass
class ExecSpec:
    """What the executor needs, fixed at submit time (file system paths, not API paths)."""

    output: str
    cwd: str
    kernel: str
    parameters: dict[str, Any]
    timeout: float | None
    deadline: float | None
    input_path: str | None = None  # the submitted notebook (papermill's input_path)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, path: Path) -> ExecSpec:
        return cls(**json.loads(path.read_text()))
