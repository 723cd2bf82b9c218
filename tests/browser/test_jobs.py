"""Submit Notebook as Job, the Jobs panel and the output, as a user does it in JupyterLab."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS
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


def test_submit_with_edited_parameter_and_open_the_output(page, lab, screenshot) -> None:
    lab.write_notebook(
        "train.ipynb",
        [
            ("markdown", "# Training", []),
            (
                "code",
                'alpha = 0.1  # learning rate\nlabel = "baseline"\nepochs = 3',
                ["parameters"],
            ),
            ("code", "score = alpha * epochs * 10", []),
            ("code", 'print(f"score={score:.1f} label={label}")', []),
        ],
    )
    open_notebook(page, lab, "train.ipynb")
    run_menu_item(page, "Submit Notebook as Job")
    dialog = submit_dialog(page)

    name = dialog.locator(".jp-PrimeHub-jobNameInput")
    assert name.input_value() == "train"
    alpha = parameter_input(dialog, "alpha")
    assert alpha.input_value() == "0.1"
    assert parameter_input(dialog, "label").input_value() == "baseline"

    # Invalid input is refused in the dialog, which stays open and says what to change.
    name.fill("")
    alpha.fill("fast")
    press_submit(dialog)
    assert dialog.get_by_text("The job name cannot be empty.").is_visible()
    assert dialog.get_by_text("alpha must be a number, e.g. 0.1").is_visible()

    name.fill("train-alpha")
    alpha.fill("0.5")
    parameter_input(dialog, "label").fill("tuned run")
    screenshot(page, "submit-dialog")
    press_submit(dialog)
    dialog.wait_for(state="detached")

    panel = show_jobs_panel(page)
    row = wait_for_job(page, lab, "train-alpha", "succeeded")
    assert row.locator(".jp-PrimeHub-progress").inner_text() == "4 / 4 cells"
    assert "alpha=0.5" in row.locator(".jp-PrimeHub-jobParams").inner_text()
    assert row.locator(".jp-PrimeHub-duration").inner_text()
    screenshot(page, "jobs-panel")
    panel.screenshot(path=str(ARTIFACTS / "jobs-panel-only.png"))

    row.locator(".jp-PrimeHub-action-output").click()
    output = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output", has_text="score=")
    output.first.wait_for(timeout=JOB_TIMEOUT_MS)
    assert "score=15.0 label=tuned run" in output.first.inner_text()


def test_failing_notebook_shows_the_failing_cell(page, lab) -> None:
    lab.write_notebook(
        "broken.ipynb",
        [
            ("code", "x = 1", []),
            ("code", "y = x / 0", []),
            ("code", "print('never')", []),
        ],
    )
    page.goto(f"{lab.url}/lab/tree/broken.ipynb?token={lab.token}")
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for()
    # File browser context menu on the notebook: "Submit as Job…".
    page.locator('.jp-DirListing-item[title*="broken.ipynb"]').first.click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text="Submit as Job").click()
    dialog = submit_dialog(page)
    dialog.locator(".jp-PrimeHub-jobNameInput").fill("broken-run")
    press_submit(dialog)
    dialog.wait_for(state="detached")

    show_jobs_panel(page)
    row = wait_for_job(page, lab, "broken-run", "failed")
    error = row.locator(".jp-PrimeHub-jobError").inner_text()
    assert "Cell 2" in error
    assert "ZeroDivisionError" in error


def test_cancel_a_long_job_after_watching_its_log(page, lab, screenshot) -> None:
    lab.write_notebook(
        "slow.ipynb",
        [
            ("code", "import time", []),
            ("code", 'print("going to sleep", flush=True)\ntime.sleep(600)', []),
        ],
    )
    open_notebook(page, lab, "slow.ipynb")
    # The notebook toolbar button submits this notebook.
    page.locator(".jp-NotebookPanel:visible .jp-PrimeHub-toolbarSubmit").first.click()
    dialog = submit_dialog(page)
    dialog.locator(".jp-PrimeHub-jobNameInput").fill("slow-run")
    press_submit(dialog)
    dialog.wait_for(state="detached")

    show_jobs_panel(page)
    row = wait_for_job(page, lab, "slow-run", "running")
    # Progress while it runs: the first cell is done, the second is sleeping.
    row.locator(".jp-PrimeHub-progress", has_text="1 / 2 cells").wait_for()
    # The log is readable while the job runs.
    row.locator(".jp-PrimeHub-action-log").click()
    log = page.locator(".jp-PrimeHub-logView:visible")
    log.locator(".jp-PrimeHub-log", has_text="going to sleep").wait_for(timeout=JOB_TIMEOUT_MS)
    assert "updates live" in log.locator(".jp-PrimeHub-logStatus").inner_text()
    screenshot(page, "log-view")

    row.locator(".jp-PrimeHub-action-cancel").click()
    wait_for_job(page, lab, "slow-run", "cancelled")
    assert job_row(page, "slow-run", "running").count() == 0
    log.locator(".jp-PrimeHub-logStatus", has_text="cancelled").wait_for()


def test_submit_dialog_works_from_the_keyboard(page, lab) -> None:
    lab.write_notebook("keys.ipynb", [("code", "k = 1", ["parameters"]), ("code", "k", [])])
    open_notebook(page, lab, "keys.ipynb")
    run_menu_item(page, "Submit Notebook as Job")
    dialog = submit_dialog(page)
    name = dialog.locator(".jp-PrimeHub-jobNameInput")
    # Focus starts in the job name; Tab reaches the parameter; Enter submits.
    page.wait_for_function("document.activeElement?.classList.contains('jp-PrimeHub-jobNameInput')")
    page.keyboard.press("Control+a")
    page.keyboard.type("keyboard-run")
    assert name.input_value() == "keyboard-run"
    page.keyboard.press("Tab")
    k = parameter_input(dialog, "k")
    assert k.evaluate("el => el === document.activeElement")
    page.keyboard.press("Control+a")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    dialog.wait_for(state="detached")
    show_jobs_panel(page)
    row = wait_for_job(page, lab, "keyboard-run", "succeeded")
    assert row.locator(".jp-PrimeHub-jobParams").inner_text() == "k=2"


def test_server_refusal_is_shown_in_the_dialog(page, lab) -> None:
    # A notebook made for a kernel this server does not have: the server refuses the job.
    lab.write_notebook("elsewhere.ipynb", [("code", "1", [])], kernel="no-such-kernel")
    page.locator('.jp-DirListing-item[title*="elsewhere.ipynb"]').first.click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text="Submit as Job").click()
    dialog = submit_dialog(page)
    press_submit(dialog)
    error = dialog.locator(".jp-PrimeHub-formError")
    error.filter(has_text="Unknown kernel 'no-such-kernel'").wait_for()
    assert error.inner_text().startswith("The job was not submitted:")
    # Still open and usable: pick an installed kernel and submit again.
    dialog.locator("summary", has_text="Advanced").click()
    dialog.get_by_label("Kernel").select_option("python3")
    dialog.locator(".jp-PrimeHub-jobNameInput").fill("elsewhere-fixed")
    press_submit(dialog)
    dialog.wait_for(state="detached")
    show_jobs_panel(page)
    wait_for_job(page, lab, "elsewhere-fixed", "succeeded")
