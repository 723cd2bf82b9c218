"""Papermill's rules, pure: which SystemExit ends a run successfully, and the metadata blocks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from primehub_executor import papermill_compat as pm
from primehub_executor.run import termination_message


def _error(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": []}


def _stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


@pytest.mark.parametrize(
    "ename, evalue, clean",
    [
        ("SystemExit", "0", True),  # sys.exit(0), raise SystemExit(0)
        ("SystemExit", "", True),  # sys.exit(), sys.exit(None), raise SystemExit
        ("SystemExit", None, True),
        ("SystemExit", "1", False),
        ("SystemExit", "boom", False),  # sys.exit("boom")
        ("SystemExit", "False", False),  # papermill compares the text: False is not 0
        ("SystemExit", "00", False),
        ("ValueError", "0", False),
        ("UsageError", "", False),
    ],
)
def test_clean_exit_is_systemexit_without_code_or_zero(ename, evalue, clean):
    assert pm.is_clean_exit(ename, evalue) is clean


def test_the_stopping_cells_error_outputs_decide_like_papermill():
    # what IPython leaves in a cell that ran print('a'); sys.exit(0)
    outputs = [_stream("a\n"), _error("SystemExit", "0"), _stream("UserWarning", "stderr")]
    assert pm.clean_exit(outputs) == {"ename": "SystemExit", "evalue": "0"}
    assert pm.clean_exit([_error("SystemExit", "")]) == {"ename": "SystemExit", "evalue": ""}
    assert pm.clean_exit([_error("SystemExit", "1")]) is None
    # any other error output in the cell makes it a failure
    assert pm.clean_exit([_error("SystemExit", "0"), _error("ValueError", "x")]) is None
    # a cell that failed without an error output (an unknown %magic prints a UsageError on
    # stderr): a failure, as in papermill
    assert pm.clean_exit([_stream("UsageError: Line magic function `%foo` not found.\n")]) is None
    assert pm.clean_exit([]) is None


def test_notebook_metadata_has_papermills_fields_and_formats():
    start = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    running = pm.notebook_metadata(
        parameters={"alpha": 2}, input_path="in.ipynb", output_path="out.ipynb", start=start
    )
    assert running == {
        "default_parameters": {},
        "duration": None,
        "end_time": None,
        "environment_variables": {},
        "exception": None,
        "input_path": "in.ipynb",
        "output_path": "out.ipynb",
        "parameters": {"alpha": 2},
        "start_time": "2026-01-02T03:04:05.123456+00:00",
        "version": pm.PAPERMILL_VERSION,
    }
    done = pm.notebook_metadata(
        parameters={},
        input_path="in.ipynb",
        output_path="out.ipynb",
        start=start,
        end=start + timedelta(seconds=2.5),
        exception=True,
    )
    assert done["end_time"] == "2026-01-02T03:04:07.623456+00:00"
    assert done["duration"] == 2.5 and isinstance(done["duration"], float)
    assert done["exception"] is True
    # papermill leaves null (not false) when no cell raised
    assert (
        pm.notebook_metadata(
            parameters={}, input_path="a", output_path="b", start=start, end=start, exception=False
        )["exception"]
        is None
    )


def test_cell_records_follow_papermills_lifecycle():
    start = datetime(2026, 1, 2, tzinfo=timezone.utc)
    record = pm.pending_cell()
    assert record == {
        "duration": None,
        "end_time": None,
        "exception": None,
        "start_time": None,
        "status": "pending",
    }
    pm.cell_started(record, start)
    assert (record["status"], record["exception"]) == ("running", False)
    pm.cell_completed(record, start + timedelta(seconds=1.25))
    assert record["status"] == "completed" and record["duration"] == 1.25
    failed = pm.pending_cell()
    pm.cell_started(failed, start)
    pm.cell_failed(failed)
    pm.cell_completed(failed, start + timedelta(seconds=1))
    assert (failed["status"], failed["exception"]) == ("failed", True)
    assert failed["end_time"] == "2026-01-02T00:00:01+00:00"


def test_termination_message_is_small_json_for_the_hub():
    ended = {"cellIndex": 1, "ename": "SystemExit", "evalue": "0"}
    message = termination_message({"state": "succeeded", "endedEarly": ended, "pid": 9})
    assert json.loads(message) == {"state": "succeeded", "endedEarly": ended}
    assert json.loads(termination_message({"state": "failed"})) == {
        "state": "failed",
        "endedEarly": None,
    }
    long = {"cellIndex": 1, "ename": "SystemExit", "evalue": "x" * 10000}
    assert len(termination_message({"state": "succeeded", "endedEarly": long})) < 4096
