"""The PrimeHub main menu in a real JupyterLab."""

from __future__ import annotations

import pytest
from lab_ui import MENU, open_notebook, open_primehub_menu

pytestmark = pytest.mark.browser


def test_primehub_menu_has_token_submit_and_jobs(page, screenshot) -> None:
    open_primehub_menu(page)
    labels = [t for t in page.locator(f"{MENU} .lm-Menu-itemLabel").all_inner_texts() if t]
    screenshot(page, "menu")
    assert labels == ["API Token…", "Submit Notebook as Job…", "Jobs"]


def test_commands_are_in_the_palette(page, lab) -> None:
    # "Submit Notebook as Job" acts on the current notebook: the palette lists it with one open.
    lab.write_notebook("palette.ipynb", [("code", "1 + 1", [])])
    open_notebook(page, lab, "palette.ipynb")
    # Focus the notebook (command mode) so the shortcut reaches JupyterLab.
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Shift+c")
    palette = page.locator(".lm-CommandPalette-input")
    palette.wait_for()
    palette.fill("PrimeHub")
    items = page.locator(".lm-CommandPalette-item:visible .lm-CommandPalette-itemLabel")
    items.first.wait_for()
    labels = set(items.all_inner_texts())
    assert {"API Token…", "Submit Notebook as Job…", "Jobs"} <= labels
