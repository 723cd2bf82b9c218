"""The PrimeHub main menu in a real JupyterLab."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_primehub_menu_is_in_the_menu_bar(page, screenshot) -> None:
    menu = page.locator(".lm-MenuBar-itemLabel", has_text="PrimeHub")
    menu.wait_for()
    screenshot(page, "menubar")
    assert menu.is_visible()
