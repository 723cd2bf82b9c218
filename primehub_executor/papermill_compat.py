"""PURE: papermill's semantics the executor reproduces (no I/O, no kernel).

- **Early exit.** Papermill runs cells until one raises; it then checks the cell's error outputs
  (``papermill.execute.raise_for_execution_errors``): an error output with ``ename`` SystemExit
  and ``evalue`` ``""`` or ``"0"`` is not an error, so ``sys.exit()``, ``sys.exit(0)``,
  ``sys.exit(None)``, ``raise SystemExit`` and ``raise SystemExit(0)`` end the run *successfully*
  with the remaining cells not run. Any other code or message (``sys.exit(1)``,
  ``sys.exit("boom")``, even ``sys.exit(False)``, whose evalue is ``"False"``) fails it. IPython
  does not let SystemExit end the kernel: it shows ``An exception has occurred, use %tb to see
  the full traceback.`` plus ``SystemExit: <value>`` as an error output and answers the execute
  request with status ``error``, ename ``SystemExit``, so nbclient raises CellExecutionError.
  A cell that failed without any error output (an unknown ``%magic``: IPython *prints* the
  UsageError on stderr) is a failure, as in papermill.
- **Notebook metadata.** ``metadata.papermill`` of the output notebook, with papermill's fields:
  ``parameters`` (the values passed), ``default_parameters`` and ``environment_variables``
  (papermill always writes ``{}``), ``input_path``, ``output_path``, ``start_time`` and
  ``end_time`` (``datetime.now(timezone.utc).isoformat()``, e.g.
  ``2026-01-02T03:04:05.123456+00:00``), ``duration`` (float seconds), ``exception`` (``None``
  until a cell raises, then ``True``: also for a clean early exit, as papermill) and ``version``.
- **Cell metadata.** ``cell.metadata.papermill`` of every cell: ``status`` (pending, running,
  completed, failed), ``start_time``, ``end_time``, ``duration`` and ``exception``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

# The papermill release whose output format (notebook and cell metadata, error markers) this
# module reproduces: written as ``metadata.papermill.version`` so tools that read papermill
# outputs see a version they know. The executor's own version is in ``metadata.primehub_job``.
PAPERMILL_VERSION = "2.7.0"

ERROR_MARKER_TAG = "papermill-error-cell-tag"  # papermill removes such cells before a re-run
CLEAN_EXIT_VALUES = ("", "0")

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"


def now() -> datetime:
    """Current time in UTC (aware), as papermill's ``NotebookExecutionManager.now``."""
    return datetime.now(timezone.utc)


def timestamp(value: datetime) -> str:
    """Papermill's timestamp format: ``iso()`` of an aware UTC datetime."""
    return value.astimezone(timezone.utc).isoformat()


def is_clean_exit(ename: str | None, evalue: str | None) -> bool:
    """True for SystemExit with no code or code 0: papermill does not count it as an error."""
    return ename == "SystemExit" and (evalue or "") in CLEAN_EXIT_VALUES


def clean_exit(outputs: Iterable[Mapping[str, Any]]) -> dict[str, str] | None:
    """Whether the outputs of the cell that stopped the run make it an early exit.

    Papermill's rule for that cell: every error output is a clean SystemExit (and there is at
    least one). Returns ``{"ename", "evalue"}`` of the SystemExit, or None when the cell failed.
    """
    found: dict[str, str] | None = None
    for output in outputs:
        if output.get("output_type") != "error":
            continue
        ename, evalue = output.get("ename"), output.get("evalue")
        if not is_clean_exit(ename, evalue):
            return None
        found = {"ename": str(ename), "evalue": str(evalue or "")}
    return found


def notebook_metadata(
    *,
    parameters: Mapping[str, Any],
    input_path: str,
    output_path: str,
    start: datetime,
    end: datetime | None = None,
    exception: bool | None = None,
) -> dict[str, Any]:
    """The notebook-level ``metadata.papermill`` block, as papermill writes it."""
    return {
        "default_parameters": {},
        "duration": (end - start).total_seconds() if end is not None else None,
        "end_time": timestamp(end) if end is not None else None,
        "environment_variables": {},
        "exception": True if exception else None,
        "input_path": input_path,
        "output_path": output_path,
        "parameters": dict(parameters),
        "start_time": timestamp(start),
        "version": PAPERMILL_VERSION,
    }


def pending_cell() -> dict[str, Any]:
    """A cell's ``metadata.papermill`` before the run reaches it."""
    return {
        "duration": None,
        "end_time": None,
        "exception": None,
        "start_time": None,
        "status": PENDING,
    }


def cell_started(record: dict[str, Any], at: datetime) -> None:
    """papermill's ``cell_start``: running, no exception yet."""
    record.update(start_time=timestamp(at), status=RUNNING, exception=False)


def cell_failed(record: dict[str, Any]) -> None:
    """papermill's ``cell_exception`` (also for a clean SystemExit: papermill marks it so)."""
    record.update(status=FAILED, exception=True)


def cell_completed(record: dict[str, Any], at: datetime) -> None:
    """papermill's ``cell_complete``: end time and duration; completed unless it failed."""
    record["end_time"] = timestamp(at)
    if record.get("start_time"):
        start = datetime.fromisoformat(record["start_time"])
        record["duration"] = (at - start).total_seconds()
    if record.get("status") != FAILED:
        record["status"] = COMPLETED
