"""PrimeHub > API Token…: set, test and clear the token; the page never shows it in full."""

from __future__ import annotations

import pytest
from lab_ui import run_menu_item

pytestmark = pytest.mark.browser

TOKEN = "ph0123456789abcdef0123456789abcdef"


def test_token_dialog_stores_and_clears_a_token(page, lab, screenshot) -> None:
    run_menu_item(page, "API Token")
    dialog = page.locator(".jp-PrimeHub-tokenDialog")
    current = dialog.locator(".jp-PrimeHub-tokenCurrent")
    current.filter(has_text="No token is set.").wait_for()

    field = dialog.get_by_label("New token")
    assert field.get_attribute("type") == "password"
    field.fill(TOKEN)
    dialog.get_by_role("button", name="Save token").click()
    current.filter(has_text="A token you saved is set").wait_for()
    assert TOKEN not in current.inner_text()
    assert "(…cdef)" in current.inner_text()  # only a hint of the token
    assert field.input_value() == ""
    screenshot(page, "token-dialog")
    assert TOKEN not in page.content()

    # The server keeps it: a fresh dialog (after closing this one) still reports it.
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="detached")
    status, info = lab.api("GET", "/primehub/api/token")
    assert status == 200 and info["set"] and info["source"] == "user"
    run_menu_item(page, "API Token")
    current = page.locator(".jp-PrimeHub-tokenDialog .jp-PrimeHub-tokenCurrent")
    current.filter(has_text="A token you saved is set").wait_for()

    # Test reports the backend's answer in the dialog (this lab does not run under a hub).
    dialog = page.locator(".jp-PrimeHub-tokenDialog")
    dialog.get_by_role("button", name="Test token").click()
    dialog.locator(".jp-PrimeHub-tokenResult", has_text="No remote job backend").wait_for()

    dialog.get_by_role("button", name="Clear saved token").click()
    current.filter(has_text="No token is set.").wait_for()
    status, info = lab.api("GET", "/primehub/api/token")
    assert status == 200 and not info["set"]
