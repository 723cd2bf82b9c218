"""Jobs panel actions: artifacts, re-run with edited parameters, notification, filter, delete;
and submitting a notebook with unsaved edits."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from lab_ui import (
    JOB_TIMEOUT_MS,
    job_row,
    open_notebook,
    parameter_input,
    press_submit,
    run_menu_item,
    show_jobs_panel,
    submit_dialog,
    wait_for_job,
)

pytestmark = pytest.mark.browser

DOUBLER = [
    ("code", "n = 2", ["parameters"]),
    (
        "code",
        "import os, pathlib\n"
        'pathlib.Path(os.environ["PRIMEHUB_JOB_ARTIFACTS"], "result.txt").write_text(str(n * 2))\n'
        'print("doubled", n * 2)',
        [],
    ),
]


def test_rerun_artifacts_filter_and_delete(page, lab, tmp_path, screenshot) -> None:
    lab.write_notebook("doubler.ipynb", DOUBLER)
    # Set-up through the REST API: a finished job to act on.
    status, source = lab.api(
        "POST",
        "/primehub/api/jobs",
        {"path": "doubler.ipynb", "name": "doubler-source", "parameters": {"n": 5}},
    )
    assert status == 201, source
    show_jobs_panel(page)
    row = wait_for_job(page, lab, "doubler-source", "succeeded")

    # Download artifacts: the zip holds what the job wrote.
    with page.expect_download() as download_info:
        row.locator(".jp-PrimeHub-action-artifacts").click()
    saved = tmp_path / "artifacts.zip"
    download_info.value.save_as(saved)
    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
        names = {name.rsplit("/", 1)[-1]: name for name in archive.namelist()}
        assert archive.read(names["result.txt"]).decode() == "10"

    # Re-run with the job's own parameters shown, one edited.
    row.locator(".jp-PrimeHub-action-rerun").click()
    dialog = submit_dialog(page)
    assert dialog.locator(".jp-PrimeHub-jobNameInput").input_value() == "doubler-source"
    n = parameter_input(dialog, "n")
    assert n.input_value() == "5"
    dialog.locator(".jp-PrimeHub-jobNameInput").fill("doubler-rerun")
    n.fill("7")
    press_submit(dialog)
    dialog.wait_for(state="detached")
    rerun = wait_for_job(page, lab, "doubler-rerun", "succeeded")
    assert rerun.locator(".jp-PrimeHub-jobParams").inner_text() == "n=7"

    # The job submitted here is announced when it ends, with a way to its output.
    toast = page.locator(".Toastify__toast", has_text='Job "doubler-rerun" succeeded.')
    toast.wait_for()
    screenshot(page, "notification")
    toast.get_by_role("button", name="Open output").click()
    output = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output", has_text="doubled")
    output.first.wait_for(timeout=JOB_TIMEOUT_MS)
    assert "doubled 14" in output.first.inner_text()

    # Filter by status.
    status_filter = page.get_by_label("Filter jobs by status")
    status_filter.select_option("failed")
    assert job_row(page, "doubler-rerun").count() == 0
    status_filter.select_option("succeeded")
    job_row(page, "doubler-rerun").first.wait_for()
    status_filter.select_option("")

    # Delete asks first, then the job is gone from the panel and the API.
    job_row(page, "doubler-source").locator(".jp-PrimeHub-action-delete").click()
    confirm = page.locator(".jp-Dialog", has_text="Delete job")
    confirm.get_by_role("button", name="Delete").click()
    job_row(page, "doubler-source").wait_for(state="detached")
    status, _ = lab.api("GET", f"/primehub/api/jobs/{source['id']}")
    assert status == 404


def test_unsaved_edits_are_saved_and_submitted(page, lab) -> None:
    path = lab.write_notebook("edited.ipynb", DOUBLER)
    open_notebook(page, lab, "edited.ipynb")
    editor = page.locator(".jp-NotebookPanel:visible .jp-Cell").first.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("n = 21")
    page.keyboard.press("Escape")

    run_menu_item(page, "Submit Notebook as Job")
    dialog = submit_dialog(page)
    assert dialog.get_by_text("unsaved changes").is_visible()
    assert parameter_input(dialog, "n").input_value() == "21"
    dialog.locator(".jp-PrimeHub-jobNameInput").fill("edited-run")
    press_submit(dialog)
    dialog.wait_for(state="detached")

    saved = json.loads(path.read_text())
    assert "".join(saved["cells"][0]["source"]) == "n = 21"
    show_jobs_panel(page)
    row = wait_for_job(page, lab, "edited-run", "succeeded")
    row.locator(".jp-PrimeHub-action-output").click()
    output = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output", has_text="doubled")
    output.first.wait_for(timeout=JOB_TIMEOUT_MS)
    assert "doubled 42" in output.first.inner_text()
