"""The PrimeHub spawn form in a real browser: log in, choose, start, land in JupyterLab.

Runs the reference hub config with the demo catalog on the local cluster (its own namespace).
"""

from __future__ import annotations

import os

import pytest

from localk8s.hubtesting import start_hub
from localk8s.settings import REPO_ROOT
from localk8s.testing import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.cluster]
PASSWORD = "browser-password"
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def demo_hub(k8s_cluster, tmp_path_factory):
    """The demo hub (reference config + demo catalog) in a fresh namespace."""
    namespace = k8s_cluster.create_namespace("browser")
    workdir = tmp_path_factory.mktemp("demo-hub")
    env = {
        **k8s_cluster.env,
        "PRIMEHUB_NAMESPACE": namespace,
        "PRIMEHUB_STATE_DIR": str(workdir),
        "PRIMEHUB_DEMO_PASSWORD": PASSWORD,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    hub = start_hub(
        REPO_ROOT / "jupyterhub_config.py", workdir, hub_ip=k8s_cluster.bridge_ip, env=env
    )
    try:
        yield hub
    finally:
        hub.stop()
        k8s_cluster.delete_namespace(namespace)


def test_choose_group_gpu_and_image_then_land_in_jupyterlab(browser, demo_hub, screenshot):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(demo_hub.url + "/hub/login")
        page.fill("#username_input", "bob")
        page.fill("#password_input", PASSWORD)
        page.click("#login_submit")
        page.goto(demo_hub.url + "/hub/spawn")
        page.wait_for_selector("#primehub-group")

        # bob is in two groups: only the chosen group's choices are shown; the script builds
        # research's section from the page's data (with JavaScript the <noscript> selects
        # are not part of the form)
        assert page.locator('select[name="instance_type__research"]').count() == 0
        page.select_option("#primehub-group", "research")
        research = page.locator('section[data-group="research"]')
        assert research.is_visible()
        assert not page.locator('section[data-group="phusers"]').is_visible()
        assert research.locator('input[name="instance_type__research"]').evaluate_all(
            "els => els.map(e => e.value)"
        ) == ["cpu-1", "gpu-4", "cpu-small"]
        assert research.locator('input[name="instance_type__research"][value="cpu-1"]').is_checked()
        assert research.locator('input[name="image__research"][value="base"]').is_checked()
        assert "1 CPU / 2Gi / 4 GPU" in research.inner_text()
        assert "0 / 2" in research.locator("table.primehub-usage").inner_text()  # CPU quota
        assert research.locator(".primehub-group-heading").is_hidden()
        research.locator('input[name="instance_type__research"][value="gpu-4"]').check()
        page.select_option("#primehub-group", "phusers")
        assert page.locator('section[data-group="phusers"]').is_visible()
        assert not page.locator('section[data-group="research"]').is_visible()
        page.select_option("#primehub-group", "research")  # an unchosen group keeps its choice
        assert research.locator('input[value="gpu-4"]').is_checked()
        page.select_option("#primehub-group", "phusers")

        section = page.locator('section[data-group="phusers"]')
        gpu_type = section.locator('input[name="instance_type__phusers"][value="gpu-1"]')
        cpu_type = section.locator('input[name="instance_type__phusers"][value="cpu-1"]')
        gpu_image = section.locator('input[name="image__phusers"][value="cuda"]')
        assert "1 CPU / 2Gi / 1 GPU" in section.inner_text()
        assert "Universal" in section.inner_text() and "GPU" in section.inner_text()

        gpu_type.check()
        assert gpu_image.is_enabled()
        cpu_type.check()  # keyboard users get the same: the radio change event fires
        assert gpu_image.is_disabled()
        gpu_type.focus()
        page.keyboard.press("ArrowUp")  # back to cpu-1 with the keyboard
        assert cpu_type.is_checked()
        gpu_type.check()
        assert gpu_image.is_enabled()
        gpu_image.check()
        screenshot(page, "form")

        page.click('#spawn_form button[type="submit"]')
        page.wait_for_url("**/user/bob/lab**", timeout=TIMEOUT_MS)
        page.wait_for_selector(".jp-LabShell", timeout=TIMEOUT_MS)
        page.wait_for_selector(".jp-LauncherCard", timeout=TIMEOUT_MS)
        screenshot(page, "lab")
        pod = wait_for(
            lambda: demo_hub.user("bob")["servers"].get("", {}).get("ready"),
            60,
            what="bob's server ready",
        )
        assert pod
    finally:
        context.close()
        demo_hub.api("DELETE", "/users/bob/server")


def test_without_javascript_choose_another_group_and_spawn(browser, demo_hub, screenshot):
    """JavaScript off: bob picks research in the group select and its instance type and image
    in research's plain selects; the hub starts exactly that choice."""
    wait_for(lambda: not demo_hub.user("bob")["servers"], 120, what="bob's earlier server gone")
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 1000}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(demo_hub.url + "/hub/login")
        page.fill("#username_input", "bob")
        page.fill("#password_input", PASSWORD)
        page.click("#login_submit")
        page.goto(demo_hub.url + "/hub/spawn")
        page.wait_for_selector("#primehub-group")

        # phusers (selected) as full markup, research as the <noscript> selects
        phusers = page.locator('section[data-group="phusers"]')
        assert phusers.is_visible()
        assert phusers.locator('input[name="image__phusers"][value="cuda"]').is_visible()
        its = page.locator('select[name="instance_type__research"]')
        images = page.locator('select[name="image__research"]')
        assert its.is_visible() and images.is_visible()
        assert its.locator("option").evaluate_all("els => els.map(e => e.value)") == [
            "cpu-1",
            "gpu-4",
            "cpu-small",
        ]
        assert "CPU 1: 1 CPU / 2Gi / 0 GPU" in its.inner_text()
        assert "Base Notebook (Universal, global)" in images.inner_text()

        page.select_option("#primehub-group", "research")
        its.select_option("cpu-small")
        images.select_option("base")
        screenshot(page, "form")
        page.click('#spawn_form button[type="submit"]')
        page.wait_for_url("**/bob**", timeout=TIMEOUT_MS)  # spawn-pending or the server
        server = wait_for(
            lambda: (s := demo_hub.user("bob")["servers"].get("")) and s.get("ready") and s,
            TIMEOUT_MS / 1000,
            what="bob's server ready",
        )
        assert server["user_options"] == {
            "group": "research",
            "instance_type": "cpu-small",
            "image": "base",
        }
        # without the pending page's script the user reloads: the server is there
        page.goto(demo_hub.url + "/hub/spawn-pending/bob")
        assert "/user/bob/" in page.url
    finally:
        context.close()
        demo_hub.api("DELETE", "/users/bob/server")


def test_the_script_builds_another_group_from_text_never_html(browser):
    """Catalog text with markup in it (an admin's typo or a hostile edit) shows as text when the
    script builds a group's choices from the page's JSON; nothing in it runs."""
    from primehub_spawner.catalog import Catalog
    from primehub_spawner.form import render_form

    hostile = '<img src=x onerror="window.pwned=1"></script><b>'
    entry = {"displayName": hostile, "description": hostile, "global": True}
    catalog = Catalog.from_dict(
        {
            "instanceTypes": {"small": {"cpu": 1, "memory": "1Gi", **entry}},
            "images": {"base": {"url": "x/y:1", **entry}},
            "groups": {"a": {"members": ["u"]}, "b": {"members": ["u"], "displayName": hostile}},
        }
    )
    context = browser.new_context()
    page = context.new_page()
    try:
        page.set_content(f'<form id="spawn_form">{render_form(catalog.for_user("u"), {})}</form>')
        page.select_option("#primehub-group", "b")
        section = page.locator('section[data-group="b"]')
        assert section.is_visible()
        assert section.inner_text().count(hostile) == 4  # two names, two descriptions
        assert section.get_attribute("aria-label") == f"Choices for group {hostile}"
        assert page.locator("img, b").count() == 0
        assert page.evaluate("window.pwned === undefined")
    finally:
        context.close()
