"""What a user does in JupyterLab, as Playwright steps shared by the browser tests."""

from __future__ import annotations

from pathlib import Path

# Jobs start a real kernel on a loaded 2-core machine: wait generously (polling, not sleeping).
JOB_TIMEOUT_MS = 240_000

MENU = "#jp-mainmenu-primehub"
SUBMIT_DIALOG = ".jp-PrimeHub-submitDialog"


def open_primehub_menu(page) -> None:
    """Click "PrimeHub" in the menu bar and wait for the menu."""
    page.locator(".lm-MenuBar-itemLabel", has_text="PrimeHub").click()
    page.locator(MENU).wait_for()


def run_menu_item(page, label: str) -> None:
    """PrimeHub > <label>."""
    open_primehub_menu(page)
    page.locator(f"{MENU} .lm-Menu-itemLabel", has_text=label).click()


def open_notebook(page, lab, name: str) -> None:
    """Open a notebook of the lab's root in a tab and wait until its cells are shown."""
    page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}")
    page.wait_for_selector(".jp-LauncherCard, .jp-NotebookPanel")
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel", has_text=Path(name).name)
    tab.first.wait_for()
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for()
    # Settled: the kernel is up (nothing will steal the focus or re-render the tab any more).
    page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for()


def submit_dialog(page):
    """The open submit dialog."""
    dialog = page.locator(SUBMIT_DIALOG)
    dialog.wait_for()
    return dialog


def parameter_input(dialog, name: str):
    """The input of parameter `name` in the submit dialog."""
    return dialog.locator(
        f'.jp-PrimeHub-parameter[data-parameter="{name}"] input, '
        f'.jp-PrimeHub-parameter[data-parameter="{name}"] textarea'
    )


def press_submit(dialog) -> None:
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()


def show_jobs_panel(page):
    """PrimeHub > Jobs; returns the panel."""
    run_menu_item(page, "Jobs")
    panel = page.locator("#primehub-jobs-panel")
    panel.wait_for()
    return panel


def job_row(page, name: str, status: str | None = None):
    """The jobs-panel row of the job called `name` (optionally in `status`)."""
    selector = ".jp-PrimeHub-job"
    if status:
        selector += f'[data-status="{status}"]'
    return page.locator(selector).filter(has=page.locator(".jp-PrimeHub-jobName", has_text=name))


def wait_for_job(page, lab, name: str, status: str):
    """Wait until the job shows `status`; on timeout, say what it showed instead."""
    row = job_row(page, name, status)
    try:
        row.first.wait_for(timeout=JOB_TIMEOUT_MS)
    except Exception as err:
        shown = job_row(page, name).all_inner_texts()
        _, jobs = lab.api("GET", "/primehub/api/jobs")
        raise AssertionError(
            f"job {name!r} did not reach {status!r}; panel shows {shown}; API says {jobs}"
        ) from err
    return row.first
